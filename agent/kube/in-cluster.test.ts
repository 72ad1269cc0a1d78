// In-cluster access as a pod has it: the service account's files, the Service's address, HTTPS
// to the (embedded) API server with its CA, and the token read again once a minute old.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { serve } from '../../test/kit/kube.ts';
import { selfSignedCertificate, tlsSkipReason } from '../../test/helpers/tls.ts';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import { loadClusterAccess } from './cluster-access.ts';
import { inClusterAccess, TOKEN_REREAD_MS } from './in-cluster.ts';
import { getJson } from './kube-http.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

t.test('the address comes from the Service environment, always over HTTPS', async (t) => {
  const dir = await makeTempDir(t, 'in-cluster');
  await writeFile(join(dir, 'token'), 'tok\n');
  await writeFile(join(dir, 'ca.crt'), 'not checked here');
  const cases: readonly [name: string, host: string, port: string, server: string][] = [
    ['an IPv4 address', '10.96.0.1', '443', 'https://10.96.0.1:443'],
    ['an IPv6 address is bracketed', 'fd00::1', '443', 'https://[fd00::1]:443'],
    ['a name', 'kubernetes.default.svc', '6443', 'https://kubernetes.default.svc:6443'],
    // client-node picks plain HTTP for 80/8080/8001; client-go and the API server do not.
    ['port 8080 stays HTTPS', '10.96.0.1', '8080', 'https://10.96.0.1:8080'],
  ];
  for (const [name, host, port, server] of cases) {
    const access = inClusterAccess(
      { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port },
      dir,
    );
    t.same(access.ok && access.value.getCurrentCluster(), { server }, name);
  }
});

t.test('what is missing is named, and nothing half-made is returned', async (t) => {
  const dir = await makeTempDir(t, 'in-cluster');
  await writeFile(join(dir, 'token'), 'tok');
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const cases: readonly [name: string, env: NodeJS.ProcessEnv, dir: string, error: RegExp][] = [
    [
      'no port',
      { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
      dir,
      /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.*--kubeconfig/,
    ],
    ['no host', { KUBERNETES_SERVICE_PORT: '443' }, dir, /KUBERNETES_SERVICE_HOST/],
    ['no ca.crt', env, dir, /credentials in .*\(token, ca\.crt\) failed: .*ca\.crt/],
    ['no directory', env, join(dir, 'absent'), /credentials in .*absent.*token/],
  ];
  for (const [name, caseEnv, caseDir, error] of cases) {
    const access = inClusterAccess(caseEnv, caseDir);
    t.equal(access.ok, false, name);
    if (!access.ok) t.match(access.error, error, name);
  }
});

const skipTls = await tlsSkipReason();

t.test(
  'requests reach an HTTPS API server as the service account',
  { skip: skipTls },
  async (t) => {
    const dir = await makeTempDir(t, 'in-cluster');
    const pair = await selfSignedCertificate(dir, 'apiserver');
    const [cert, key] = await Promise.all([
      readFile(pair.cert, 'utf8'),
      readFile(pair.key, 'utf8'),
    ]);
    const server = await serve(t, {
      tls: { cert, key },
      tokens: {
        'first-token': { username: 'system:serviceaccount:pullwatch:first' },
        'second-token': { username: 'system:serviceaccount:pullwatch:second' },
      },
    });
    const sa = join(dir, 'serviceaccount');
    await makeServiceAccountDir(sa, 'first-token\n', cert);
    let now = 1_000_000;
    const access = inClusterAccess(
      { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(server.port) },
      sa,
      { now: () => now },
    );
    if (!access.ok) throw new Error(access.error);
    const get = () => getJson(access.value, '/api/v1/namespaces/default', {}, { timeoutMs: 5000 });
    const lastUser = () => server.requestLog.at(-1)?.user;

    t.match(await get(), { ok: true, value: { metadata: { name: 'default' } } });
    t.equal(lastUser(), 'system:serviceaccount:pullwatch:first', 'the token is sent');

    await writeFile(join(sa, 'token'), 'second-token');
    now += TOKEN_REREAD_MS - 1;
    await get();
    t.equal(lastUser(), 'system:serviceaccount:pullwatch:first', 'not read again within a minute');
    now += 1;
    await get();
    t.equal(lastUser(), 'system:serviceaccount:pullwatch:second', 'a rotated token is used');

    await rm(join(sa, 'token'));
    now += TOKEN_REREAD_MS;
    t.match(await get(), { ok: true }, 'a token file gone for a moment keeps the last token');
    t.equal(lastUser(), 'system:serviceaccount:pullwatch:second');

    // The same server through a kubeconfig (client-node's path), which carries its CA.
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, server.kubeconfigYaml({ token: 'first-token' }));
    const fromFile = await loadClusterAccess({ kubeconfig });
    t.match(
      await getJson(fromFile, '/api/v1/namespaces/default', {}, { timeoutMs: 5000 }),
      { ok: true },
      'a kubeconfig of the HTTPS server verifies it with its CA',
    );
    t.equal(lastUser(), 'system:serviceaccount:pullwatch:first');

    const other = await selfSignedCertificate(dir, 'other-ca');
    await makeServiceAccountDir(sa, 'second-token', await readFile(other.cert, 'utf8'));
    now += TOKEN_REREAD_MS;
    t.match(
      await get(),
      { ok: false, error: { kind: 'network' } },
      'a server the CA does not vouch for is refused',
    );
  },
);

t.test('loadClusterAccess: --kubeconfig wins, else in-cluster, with a clear error', async (t) => {
  const dir = await makeTempDir(t, 'in-cluster');
  const server = await serve(t);
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, server.kubeconfigYaml());
  const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  const fromFile = await loadClusterAccess({ kubeconfig, env: inPod });
  t.equal(fromFile.getCurrentCluster()?.server, server.url, 'a kubeconfig file beats the pod');
  await t.rejects(
    loadClusterAccess({ env: inPod, serviceAccountDir: join(dir, 'none') }),
    /credentials in .*none/,
    'in a pod without the service account files',
  );
  await makeServiceAccountDir(join(dir, 'sa'), 'tok', 'ca');
  const inCluster = await loadClusterAccess({ env: inPod, serviceAccountDir: join(dir, 'sa') });
  t.equal(inCluster.getCurrentCluster()?.server, 'https://10.96.0.1:443');
});

// The point of in-cluster access of our own: `pullwatch run` in a pod never loads client-node.
t.test('the agent command loads no client-node module', async (t) => {
  const probe = [
    "import { registerHooks } from 'node:module';",
    'const packages = new Set();',
    'registerHooks({ resolve(specifier, context, next) {',
    '  const resolved = next(specifier, context);',
    '  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(resolved.url);',
    '  if (m) packages.add(m[1]);',
    '  return resolved;',
    '} });',
    "await import('./agent/cli/run-command.ts');",
    "await import('./agent/main.ts');",
    'console.log(JSON.stringify([...packages]));',
  ].join('\n');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', probe],
    { cwd: REPO },
  );
  const packages = JSON.parse(stdout) as string[];
  t.ok(packages.includes('@grpc/grpc-js'), 'the probe sees packages load');
  t.notOk(packages.includes('@kubernetes/client-node'), 'client-node is not among them');
});

async function makeServiceAccountDir(dir: string, token: string, ca: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'token'), token);
  await writeFile(join(dir, 'ca.crt'), ca);
}

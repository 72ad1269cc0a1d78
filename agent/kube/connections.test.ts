// Requests to the API server share a few keep-alive connections, and sharing them changes
// nothing about credentials: each request still carries the kubeconfig's current token and is
// checked against its CA.
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { listenOnLoopback } from '../../test/helpers/loopback-server.ts';
import { selfSignedCertificate, tlsSkipReason } from '../../test/helpers/tls.ts';
import { ApiServerConnections } from './connections.ts';
import { getJson } from './kube-http.ts';
import { eventually, kubeConfigFor, serve, sleep, type Teardown } from '../../test/kit/kube.ts';

function pool(t: Teardown, options: ConstructorParameters<typeof ApiServerConnections>[0] = {}) {
  const connections = new ApiServerConnections(options);
  t.teardown(() => {
    connections.close();
  });
  return connections;
}

const request = (connections: ApiServerConnections | undefined) => ({
  signal: new AbortController().signal,
  timeoutMs: 5000,
  connections,
});

t.test('connections per number of GETs, one after another and 40 at once', async (t) => {
  const cases = [
    { name: 'without a pool, every GET is a connection', pooled: false, parallel: false, most: 20 },
    { name: 'pooled, one after another: one connection', pooled: true, parallel: false, most: 1 },
    { name: 'pooled, 40 at once: at most maxSockets (4)', pooled: true, parallel: true, most: 4 },
  ];
  for (const c of cases) {
    const server = await serve(t);
    const kubeConfig = kubeConfigFor(server);
    const connections = c.pooled ? pool(t, { maxSockets: 4 }) : undefined;
    const get = () => getJson(kubeConfig, '/api/v1/namespaces/default', {}, request(connections));
    const answers = [];
    if (c.parallel) answers.push(...(await Promise.all(Array.from({ length: 40 }, get))));
    else for (let i = 0; i < 20; i++) answers.push(await get());
    t.ok(
      answers.every((a) => a.ok),
      `${c.name}: every GET answered`,
    );
    const opened = server.connectionCount();
    t.ok(opened <= c.most && (c.pooled || opened === c.most), `${c.name} (${opened})`);
  }
});

t.test('idle connections are closed after the idle timeout', async (t) => {
  const server = await serve(t);
  const kubeConfig = kubeConfigFor(server);
  const connections = pool(t, { idleTimeoutMs: 200 });
  const answers = await Promise.all(
    Array.from({ length: 6 }, () =>
      getJson(kubeConfig, '/api/v1/namespaces', {}, request(connections)),
    ),
  );
  t.ok(answers.every((a) => a.ok));
  t.ok(connections.openSockets() > 0, 'kept open for the next request');
  await eventually(() => connections.openSockets() === 0, 'the idle sockets to close', 2000);
});

t.test('a rotated bearer token is sent on the same connection', async (t) => {
  const server = await serve(t);
  server.auth.setToken('token-one', { username: 'agent', groups: ['system:masters'] });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(server.kubeconfig({ token: 'token-one' }));
  const connections = pool(t);
  const get = () => getJson(kubeConfig, '/api/v1/namespaces', {}, request(connections));
  t.ok((await get()).ok, 'the first token works');

  // What a projected service account token's rotation looks like from here.
  server.auth.setToken('token-two', { username: 'agent', groups: ['system:masters'] });
  server.auth.removeToken('token-one');
  const user = kubeConfig.getCurrentUser();
  if (user === null) throw new Error('no user');
  (user as { token?: string }).token = 'token-two';
  t.ok((await get()).ok, 'the new token is used');
  t.equal(server.connectionCount(), 1, 'over the connection already open');
  t.same(
    server.requestLog.map((r) => r.user),
    ['agent', 'agent'],
  );
});

/** A server that answers the first request on each connection and resets the connection on the next. */
async function oneRequestPerConnection(
  t: Teardown,
): Promise<{ url: string; accepted: () => number }> {
  let accepted = 0;
  const served = new WeakSet<object>();
  const server: Server = createHttpServer((req, res) => {
    if (served.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ kind: 'Namespace', metadata: { name: 'default' } }));
  });
  server.on('connection', () => {
    accepted++;
  });
  const port = await listenOnLoopback(t, server);
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
  };
}

t.test('a GET on a kept connection the server dropped is sent again, once', async (t) => {
  const { url, accepted } = await oneRequestPerConnection(t);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'token' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const connections = pool(t);
  const get = () => getJson(kubeConfig, '/api/v1/namespaces/default', {}, request(connections));
  t.ok((await get()).ok);
  t.ok((await get()).ok, 'answered on a new connection');
  t.equal(accepted(), 2);
});

const skipTls = await tlsSkipReason();

async function certificateBytes(dir: string, name: string): Promise<{ cert: Buffer; key: Buffer }> {
  const files = await selfSignedCertificate(dir, name);
  return { cert: await readFile(files.cert), key: await readFile(files.key) };
}

t.test(
  'TLS: pooled requests are verified against the kubeconfig CA',
  { skip: skipTls },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pullwatch-kube-tls-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const served = await certificateBytes(dir, 'apiserver');
    const stranger = await certificateBytes(dir, 'stranger');
    let accepted = 0;
    const tokens: (string | undefined)[] = [];
    const server = createHttpsServer({ cert: served.cert, key: served.key }, (req, res) => {
      tokens.push(req.headers.authorization);
      res.setHeader('Content-Type', 'application/json');
      res.end('{"kind":"NamespaceList","items":[]}');
    });
    server.on('secureConnection', () => {
      accepted++;
    });
    const url = `https://127.0.0.1:${await listenOnLoopback(t, server)}`;
    const configWith = (ca: Buffer): KubeConfig => {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions({
        clusters: [{ name: 'c', server: url, caData: ca.toString('base64'), skipTLSVerify: false }],
        users: [{ name: 'u', token: 'the-token' }],
        contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
        currentContext: 'c',
      });
      return kubeConfig;
    };
    const connections = pool(t);

    const trusted = configWith(served.cert);
    for (let i = 0; i < 5; i++) {
      const answer = await getJson(trusted, '/api/v1/namespaces', {}, request(connections));
      t.ok(answer.ok, `GET ${i + 1} over TLS`);
    }
    t.equal(accepted, 1, 'five GETs, one TLS handshake');
    t.same(tokens, Array(5).fill('Bearer the-token'));

    // The same pool, a kubeconfig that trusts another CA: no request is sent.
    const refused = await getJson(
      configWith(stranger.cert),
      '/api/v1/namespaces',
      {},
      request(connections),
    );
    t.match(refused, { ok: false, error: { kind: 'network' } });
    t.equal(tokens.length, 5, 'the token never reached a server the CA does not vouch for');
    await sleep(0);
  },
);

// `pullwatch scan --once` on a node: exit codes and outputs, against the embedded runtime and
// API server (the same gRPC and HTTP the agent uses on a real node).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { captureIo as capture } from '../helpers/capture-io.ts';
import { main } from '../../agent/cli.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import type { ImageId } from '../../agent/image/digest.ts';
import { recordPathForImageId } from '../../agent/provenance/kubelet-record-format.ts';
import { kubeletCredentialHash } from '../../agent/credentials/pull-secret.ts';

const REGISTRY = 'registry.example.com';
const IMAGE = `${REGISTRY}/team-a/app:v1`;
const IMAGE_ID = `sha256:${'ab'.repeat(32)}`;
const DIGEST = `${REGISTRY}/team-a/app@sha256:${'cd'.repeat(32)}`;

function pod(namespace: string, name: string, secrets: string[]) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: {
      nodeName: 'node-1',
      imagePullSecrets: secrets.map((n) => ({ name: n })),
      containers: [{ name: 'app', image: IMAGE }],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          image: IMAGE,
          imageID: DIGEST,
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: new Date().toISOString() } },
        },
      ],
    },
  };
}

t.test('scan --once: exit 0 when clean, 3 when a finding reaches --fail-on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-scan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [] });
  t.teardown(() => runtime.stop());
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  await writeFile(join(dir, 'kubeconfig'), api.kubeconfigYaml());
  const flags = [
    '--once',
    '--secrets-from',
    'direct',
    '--node-name',
    'node-1',
    '--cri-endpoint',
    runtime.target,
    '--kubeconfig',
    join(dir, 'kubeconfig'),
    '--state-dir',
    join(dir, 'state'),
    '--kubelet-root',
    join(dir, 'kubelet'),
    '--registry-probe',
    'off',
    '--timeout',
    '10s',
  ];

  const clean = capture();
  t.equal(await main(['scan', ...flags, '--fail-on', 'low'], clean), 0, 'an empty node is clean');
  t.equal(clean.out(), 'No findings.\n');

  // tenant-a pulled the image with its secret (the kubelet's record says so); tenant-b runs it.
  for (const ns of ['tenant-a', 'tenant-b'])
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const auths = { auths: { [REGISTRY]: { username: 'a', password: 'scan-test-password' } } };
  api.store.create('secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace: 'tenant-a', name: 'regcred' },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(auths)).toString('base64') },
  });
  api.store.create('pods', pod('tenant-a', 'a-pod', ['regcred']));
  api.store.create('pods', pod('tenant-b', 'b-pod', []));
  runtime.setContents({
    images: [
      { id: IMAGE_ID, repoTags: [IMAGE], repoDigests: [DIGEST], sizeBytes: 1000n, pinned: false },
    ],
  });
  // The kubelet's KEP-2535 record of the pull: with the registry not asked (--registry-probe
  // off), it is what makes tenant-a the owner; a running pod's credential alone would make a
  // possible owner only.
  const recordPath = recordPathForImageId(join(dir, 'kubelet'), IMAGE_ID as ImageId);
  await mkdir(dirname(recordPath), { recursive: true });
  await writeFile(
    recordPath,
    JSON.stringify({
      kind: 'ImagePulledRecord',
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      lastUpdatedTime: new Date().toISOString(),
      imageRef: IMAGE_ID,
      credentialMapping: {
        [`${REGISTRY}/team-a/app`]: {
          kubernetesSecrets: [
            {
              uid: 'uid-regcred',
              namespace: 'tenant-a',
              name: 'regcred',
              credentialHash: kubeletCredentialHash('a', 'scan-test-password'),
            },
          ],
        },
      },
    }),
  );

  const table = capture();
  t.equal(
    await main(['scan', ...flags, '--fail-on', 'high'], table),
    3,
    'exit 3: a finding reached high',
  );
  t.match(table.out(), /unauthorized-cached-image-use\s+tenant-b\/b-pod\/app/);
  t.notMatch(table.out() + table.err(), /scan-test-password/);

  const json = capture();
  t.equal(await main(['scan', ...flags, '-o', 'json', '--fail-on', 'high'], json), 3);
  const parsed = JSON.parse(json.out()) as {
    node: string;
    items: { rule: string; severity: string; namespace: string | null }[];
  };
  t.equal(parsed.node, 'node-1');
  t.ok(
    parsed.items.some(
      (f) => f.rule === 'unauthorized-cached-image-use' && f.namespace === 'tenant-b',
    ),
  );

  const lenient = capture();
  t.equal(
    await main(['scan', ...flags], lenient),
    0,
    'without --fail-on, findings alone do not fail',
  );
});

t.test('scan without --once, or with a bad --fail-on, is a usage error', async (t) => {
  const a = capture();
  t.equal(await main(['scan', '--node-name', 'n'], a), 2);
  t.match(a.err(), /--once is required/);
  const b = capture();
  t.equal(await main(['scan', '--once', '--fail-on', 'urgent', '--node-name', 'n'], b), 2);
  t.match(b.err(), /--fail-on must be one of low, medium, high, critical/);
});

t.test('scan gives up with exit 1 and names the source when the runtime is absent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-scan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  await writeFile(join(dir, 'kubeconfig'), api.kubeconfigYaml());
  const io = capture();
  const code = await main(
    [
      'scan',
      '--once',
      '--secrets-from',
      'direct',
      '--node-name',
      'node-1',
      '--cri-endpoint',
      join(dir, 'none.sock'),
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      '--state-dir',
      join(dir, 'state'),
      '--timeout',
      '2s',
    ],
    io,
  );
  t.equal(code, 1);
  t.match(io.err(), /waiting for the first image listing from the container runtime/);
});

// The node's view of the API server, end to end against the embedded API server with the
// real client-node: pods of this node only, namespaces, pull secrets read by name and
// kubelet events, through faults, with few requests.
import t from 'tap';
import { Buffer } from 'node:buffer';
import { kubeletEventKey, secretKey } from '../model/snapshot.ts';
import type { EmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { createFingerprintKey } from '../credentials/pull-secret.ts';
import { startKubeSource, type KubeSource, type KubeSourceOptions } from './kube-source.ts';
import {
  createPod,
  deletePod,
  eventually,
  kubeConfigFor,
  podObject,
  serve,
  serverPods,
  sleep,
  type Teardown,
} from '../../test/kit/kube.ts';

const NODE = 'node-1';
const PASSWORD = 'Tenant-A-S3cret';
const keyResult = createFingerprintKey(Buffer.alloc(32, 9));
if (!keyResult.ok) throw new Error(keyResult.error);
const FINGERPRINT_KEY = keyResult.value;

function start(
  t: Teardown,
  server: EmbeddedApiServer,
  extra: Partial<KubeSourceOptions> = {},
): { source: KubeSource; changes: () => number } {
  let changes = 0;
  const source = startKubeSource({
    kubeConfig: kubeConfigFor(server),
    nodeName: NODE,
    fingerprintKey: FINGERPRINT_KEY,
    onChange: () => {
      changes++;
    },
    listWatch: { backoff: { initialMs: 50, maxMs: 400 }, random: () => 0.5 },
    ...extra,
  });
  t.teardown(() => source.stop());
  return { source, changes: () => changes };
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

function createPullSecret(server: EmbeddedApiServer, name: string, password = PASSWORD): void {
  const created = server.store.create('secrets', {
    metadata: { name, namespace: 'tenant-a' },
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': base64(
        JSON.stringify({ auths: { 'registry.example': { username: 'team-a', password } } }),
      ),
    },
  });
  if (!created.ok) throw new Error(created.error.message);
}

function podNames(source: KubeSource): string[] {
  return source
    .pods()
    .map((p) => `${p.namespace}/${p.name}`)
    .sort();
}

const secretReads = (server: EmbeddedApiServer, name: string) =>
  server.requestLog.filter((r) => r.path === `/api/v1/namespaces/tenant-a/secrets/${name}`).length;

t.test(
  'pods of this node as PodViews, unreadable pods reported, namespaces with labels',
  async (t) => {
    const server = await serve(t);
    server.store.modify('namespaces', { name: 'tenant-a' }, (ns) => {
      ns.metadata.labels = { tenant: 'a', 'kubernetes.io/metadata.name': 'tenant-a' };
      return ns;
    });
    createPod(server, { name: 'web', node: NODE, pullSecrets: [] });
    createPod(server, { name: 'other-node', node: 'node-2' });
    const broken = server.store.create('pods', {
      metadata: { name: 'broken', namespace: 'tenant-a' },
      spec: { nodeName: NODE, containers: [] },
    });
    t.ok(broken.ok);
    const { source, changes } = start(t, server);
    await eventually(
      () => source.status().pods.synced && source.status().namespaces.synced,
      'sync',
    );

    t.same(podNames(source), ['tenant-a/web']);
    t.match(source.pods()[0], {
      namespace: 'tenant-a',
      name: 'web',
      containers: [
        {
          kind: 'regular',
          name: 'main',
          pullPolicy: 'IfNotPresent',
          state: { kind: 'not-started' },
        },
      ],
      finished: false,
    });
    const problems = [...source.podProblems().values()];
    t.same(problems, ['pod tenant-a/broken has no containers']);
    t.same(source.namespaces().get('tenant-a'), {
      tenant: 'a',
      'kubernetes.io/metadata.name': 'tenant-a',
    });
    t.ok(source.namespaces().has('kube-system'));
    await eventually(() => changes() > 0, 'onChange');

    createPod(server, { name: 'late', node: NODE });
    await eventually(() => source.pods().length === 2, 'the new pod', 1000);
    deletePod(server, 'web');
    await eventually(() => podNames(source).join() === 'tenant-a/late', 'the delete', 1000);
  },
);

t.test('pull secrets are read by name only, with their states', async (t) => {
  const server = await serve(t);
  createPullSecret(server, 'regcred');
  server.store.create('secrets', {
    metadata: { name: 'opaque', namespace: 'tenant-a' },
    type: 'Opaque',
    data: { password: base64(PASSWORD) },
  });
  server.faults.failNext('/api/v1/namespaces/tenant-a/secrets/locked', 403, { times: 100 });
  // An unrelated secret in the cluster that no pod on this node references.
  createPullSecret(server, 'unrelated');
  createPod(server, {
    name: 'app',
    node: NODE,
    pullSecrets: ['regcred', 'opaque', 'gone', 'locked'],
  });
  createPod(server, { name: 'elsewhere', node: 'node-2', pullSecrets: ['unrelated'] });

  const { source } = start(t, server);
  await eventually(() => source.secrets().size === 4, 'four secret views');
  const views = source.secrets();
  const regcred = views.get(secretKey('tenant-a', 'regcred'));
  t.equal(regcred?.state, 'ok');
  if (regcred?.state === 'ok') {
    t.equal(regcred.credentials.length, 1);
    t.match(regcred.credentials[0], {
      fingerprint: /^[0-9a-f]{64}$/,
      credentialHash: /^[0-9a-f]{64}$/,
    });
  }
  t.match(views.get(secretKey('tenant-a', 'opaque')), {
    state: 'malformed',
    problem: /secret tenant-a\/opaque has type "Opaque"/,
  });
  t.match(views.get(secretKey('tenant-a', 'gone')), {
    state: 'missing',
    problem: 'pull secret tenant-a/gone does not exist',
  });
  t.match(views.get(secretKey('tenant-a', 'locked')), {
    state: 'unreadable',
    problem: /tenant-a\/locked is forbidden/,
  });
  t.notOk(
    views.has(secretKey('tenant-a', 'unrelated')),
    'a secret only another node uses is not read',
  );
  const text = JSON.stringify([...views]);
  t.notMatch(text, PASSWORD, 'no password in any view');
  t.notMatch(text, base64(PASSWORD), 'nor its base64');

  const secretRequests = server.requestLog.filter((r) => r.path.includes('secrets'));
  t.ok(secretRequests.length >= 4);
  for (const r of secretRequests) {
    t.ok(
      r.method === 'GET' &&
        !r.watch &&
        /^\/api\/v1\/namespaces\/tenant-a\/secrets\/[^/]+$/.test(r.path),
      `${r.method} ${r.path} reads one secret by name`,
    );
  }
  t.equal(secretReads(server, 'unrelated'), 0);
});

t.test(
  'secrets: re-read when a referencing pod appears and after the TTL; dropped when unreferenced',
  async (t) => {
    const server = await serve(t);
    createPullSecret(server, 'regcred');
    createPod(server, { name: 'first', node: NODE, pullSecrets: ['regcred'] });
    const { source } = start(t, server, { secretTtlMs: 60_000, secretMinRefetchMs: 0 });
    await eventually(() => source.secrets().size === 1, 'the secret');
    t.equal(secretReads(server, 'regcred'), 1, 'read once');
    const before = source.secrets().get(secretKey('tenant-a', 'regcred'));

    // The tenant rotates its password; a new pod referencing the secret makes us look again.
    server.store.modify('secrets', { name: 'regcred', namespace: 'tenant-a' }, (secret) => {
      secret['data'] = {
        '.dockerconfigjson': base64(
          JSON.stringify({
            auths: { 'registry.example': { username: 'team-a', password: 'rotated' } },
          }),
        ),
      };
      return secret;
    });
    createPod(server, { name: 'second', node: NODE, pullSecrets: ['regcred'] });
    await eventually(() => secretReads(server, 'regcred') === 2, 'the re-read', 2000);
    await eventually(
      () =>
        JSON.stringify(source.secrets().get(secretKey('tenant-a', 'regcred'))) !==
        JSON.stringify(before),
      'the rotated credential',
      1000,
    );

    deletePod(server, 'first');
    await sleep(200);
    t.equal(source.secrets().size, 1, 'still referenced by the second pod');
    deletePod(server, 'second');
    await eventually(
      () => source.secrets().size === 0,
      'the unreferenced secret to be dropped',
      1000,
    );
  },
);

t.test('secrets: the TTL brings a re-read without any pod change', async (t) => {
  const server = await serve(t);
  createPullSecret(server, 'regcred');
  createPod(server, { name: 'first', node: NODE, pullSecrets: ['regcred'] });
  const { source } = start(t, server, { secretTtlMs: 400 });
  await eventually(() => source.secrets().size === 1, 'the secret');
  server.store.delete('secrets', { name: 'regcred', namespace: 'tenant-a' });
  await eventually(
    () => source.secrets().get(secretKey('tenant-a', 'regcred'))?.state === 'missing',
    'the deleted secret to be noticed',
    3000,
  );
  const reads = secretReads(server, 'regcred');
  t.ok(reads >= 2 && reads <= 4, `${reads} reads in about one TTL`);
});

interface ContainerStatus {
  readonly name: string;
  readonly state: Record<string, unknown>;
}

function setStatus(
  server: EmbeddedApiServer,
  name: string,
  statuses: readonly ContainerStatus[],
): void {
  const updated = server.store.modify('pods', { name, namespace: 'tenant-a' }, (pod) => {
    pod['status'] = { phase: 'Running', containerStatuses: statuses };
    return pod;
  });
  if (!updated.ok) throw new Error(updated.error.message);
}

let eventCount = 0;
function pulledEvent(
  server: EmbeddedApiServer,
  pod: { name: string; uid: string },
  container: string,
  message: string,
  host = NODE,
): void {
  const created = server.store.create('events', {
    metadata: { name: `${pod.name}.${++eventCount}`, namespace: 'tenant-a' },
    involvedObject: {
      kind: 'Pod',
      namespace: 'tenant-a',
      name: pod.name,
      uid: pod.uid,
      apiVersion: 'v1',
      fieldPath: `spec.containers{${container}}`,
    },
    reason: 'Pulled',
    message,
    source: { component: 'kubelet', host },
    firstTimestamp: new Date().toISOString(),
    type: 'Normal',
  });
  if (!created.ok) throw new Error(created.error.message);
}

const eventQueries = (server: EmbeddedApiServer) =>
  server.requestLog.filter((r) => r.path === '/api/v1/namespaces/tenant-a/events');

t.test(
  'kubelet events: one targeted query per pod start, classified, this node only',
  async (t) => {
    const server = await serve(t);
    const created = server.store.create('pods', {
      metadata: { name: 'web', namespace: 'tenant-a' },
      spec: {
        nodeName: NODE,
        containers: [
          { name: 'main', image: 'registry.example/app:1.0', imagePullPolicy: 'IfNotPresent' },
          { name: 'side', image: 'registry.example/side:2', imagePullPolicy: 'IfNotPresent' },
          { name: 'fresh', image: 'registry.example/fresh:3', imagePullPolicy: 'Always' },
        ],
      },
    });
    if (!created.ok) throw new Error(created.error.message);
    const pod = { name: 'web', uid: created.value.metadata.uid ?? '' };
    const alwaysOnly = createPod(server, { name: 'always-only', node: NODE, pullPolicy: 'Always' });

    const { source } = start(t, server);
    await eventually(() => source.pods().length === 2, 'the pods');
    await sleep(200);
    t.equal(eventQueries(server).length, 0, 'no query before a container starts');

    // What the kubelet on another node said about this pod's earlier life does not count.
    pulledEvent(
      server,
      pod,
      'main',
      'Successfully pulled image "registry.example/app:1.0" in 1s (1s including waiting). Image size: 10 bytes.',
      'node-2',
    );
    pulledEvent(
      server,
      pod,
      'main',
      'Container image "registry.example/app:1.0" already present on machine',
    );
    pulledEvent(
      server,
      pod,
      'side',
      'Successfully pulled image "registry.example/side:2" in 1s (1s including waiting). Image size: 10 bytes.',
    );
    pulledEvent(
      server,
      pod,
      'fresh',
      'Successfully pulled image "registry.example/fresh:3" in 1s (1s including waiting). Image size: 10 bytes.',
    );
    const running = { running: { startedAt: new Date().toISOString() } };
    setStatus(server, 'web', [
      { name: 'main', state: running },
      { name: 'side', state: running },
      { name: 'fresh', state: running },
    ]);
    setStatus(server, 'always-only', [{ name: 'main', state: running }]);

    await eventually(() => source.kubeletEvents().size >= 2, 'the answers');
    t.same(
      new Map([...source.kubeletEvents()].sort()),
      new Map([
        [kubeletEventKey(pod.uid, 'fresh'), 'pulled'],
        [kubeletEventKey(pod.uid, 'main'), 'already-present'],
        [kubeletEventKey(pod.uid, 'side'), 'pulled'],
      ]),
    );
    const queries = eventQueries(server);
    t.equal(queries.length, 1, 'one query');
    t.equal(queries[0]?.query['fieldSelector'], `involvedObject.uid=${pod.uid},reason=Pulled`);
    t.notOk(
      server.requestLog.some(
        (r) => r.path === '/api/v1/events' || (r.watch && r.path.includes('events')),
      ),
      'no cluster-wide event list or watch',
    );
    t.notOk(
      eventQueries(server).some((q) => q.query['fieldSelector']?.includes(alwaysOnly)),
      'a pod whose containers all pull Always is not asked about',
    );

    // Later changes to an answered pod ask nothing more.
    server.store.modify('pods', { name: 'web', namespace: 'tenant-a' }, (p) => {
      p.metadata.labels = { touched: 'yes' };
      return p;
    });
    await sleep(300);
    t.equal(eventQueries(server).length, 1, 'still one query');

    deletePod(server, 'web');
    await eventually(() => source.kubeletEvents().size === 0, 'answers of a deleted pod to go');
  },
);

t.test(
  'kubelet events: a lagging event is picked up by a retry; the verified message',
  async (t) => {
    const server = await serve(t);
    const uid = createPod(server, { name: 'slow', node: NODE, pullPolicy: 'IfNotPresent' });
    const { source } = start(t, server, { eventRetryDelaysMs: [300, 300] });
    await eventually(() => source.pods().length === 1, 'the pod');
    setStatus(server, 'slow', [
      { name: 'main', state: { running: { startedAt: new Date().toISOString() } } },
    ]);
    await eventually(() => eventQueries(server).length === 1, 'the first query');
    pulledEvent(
      server,
      { name: 'slow', uid },
      'main',
      'Container image "registry.example/app:1.0" already present on machine and can be accessed by the pod',
    );
    await eventually(() => source.kubeletEvents().size === 1, 'the retried answer', 2000);
    t.equal(source.kubeletEvents().get(kubeletEventKey(uid, 'main')), 'already-present-verified');
    t.equal(eventQueries(server).length, 2);
  },
);

t.test(
  'kubelet events: containers that never got an answer are not asked about forever',
  async (t) => {
    const server = await serve(t);
    createPod(server, { name: 'old', node: NODE, pullPolicy: 'IfNotPresent' });
    const { source } = start(t, server, { eventRetryDelaysMs: [100, 100] });
    await eventually(() => source.pods().length === 1, 'the pod');
    setStatus(server, 'old', [
      { name: 'main', state: { running: { startedAt: new Date().toISOString() } } },
    ]);
    await sleep(1000);
    t.equal(eventQueries(server).length, 3, 'the query and its two retries, then nothing');
  },
);

t.test(
  'kubelet events: containers that started before the event TTL are not asked about',
  async (t) => {
    const server = await serve(t);
    createPod(server, { name: 'long-running', node: NODE, pullPolicy: 'IfNotPresent' });
    createPod(server, { name: 'fresh', node: NODE, pullPolicy: 'IfNotPresent' });
    const { source } = start(t, server, { eventTtlMs: 60 * 60_000, eventRetryDelaysMs: [] });
    await eventually(() => source.pods().length === 2, 'the pods');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000).toISOString();
    setStatus(server, 'long-running', [
      { name: 'main', state: { running: { startedAt: twoHoursAgo } } },
    ]);
    setStatus(server, 'fresh', [
      { name: 'main', state: { running: { startedAt: new Date().toISOString() } } },
    ]);
    await eventually(() => eventQueries(server).length === 1, 'the query for the fresh pod');
    await sleep(300);
    const asked = eventQueries(server).map((r) => r.query['fieldSelector']);
    t.equal(asked.length, 1, 'one query: the API server holds no event of a start 2 h ago');
    const fresh = source.pods().find((p) => p.name === 'fresh');
    t.same(asked, [`involvedObject.uid=${fresh?.uid},reason=Pulled`]);
  },
);

t.test('status heartbeats of a pod change nothing: no change is signalled for them', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'web', node: NODE, pullPolicy: 'IfNotPresent' });
  const { source, changes } = start(t, server);
  await eventually(() => source.pods().length === 1, 'the pod');
  await sleep(100);
  const before = changes();
  const view = source.pods()[0];
  for (let i = 0; i < 50; i += 1) {
    server.store.modify('pods', { name: 'web', namespace: 'tenant-a' }, (pod) => ({
      ...pod,
      status: {
        ...(pod['status'] as object),
        conditions: [{ type: 'Ready', status: 'True', lastProbeTime: `2026-01-01T00:00:${i}Z` }],
      },
    }));
  }
  createPod(server, { name: 'next', node: NODE });
  await eventually(() => source.pods().length === 2, 'the pod created after the heartbeats');
  await sleep(100);
  t.equal(changes() - before, 1, 'one change, for the new pod; none for the 50 heartbeats');
  t.equal(
    source.pods().find((p) => p.name === 'web'),
    view,
    'the heartbeats kept the same view of the pod',
  );
});

t.test('steady state: no requests while nothing changes (bookmarks every second)', async (t) => {
  const server = await serve(t, { bookmarkIntervalMs: 1000 });
  createPullSecret(server, 'regcred');
  const uid = createPod(server, {
    name: 'web',
    node: NODE,
    pullPolicy: 'IfNotPresent',
    pullSecrets: ['regcred'],
  });
  pulledEvent(
    server,
    { name: 'web', uid },
    'main',
    'Container image "registry.example/app:1.0" already present on machine',
  );
  setStatus(server, 'web', [
    { name: 'main', state: { running: { startedAt: new Date().toISOString() } } },
  ]);
  const { source } = start(t, server);
  await eventually(
    () =>
      source.secrets().size === 1 &&
      source.kubeletEvents().size === 1 &&
      server.openWatchCount() === 2,
    'everything read',
  );
  server.clearRequestLog();
  await sleep(5000);
  t.same(
    server.requestLog.map((r) => `${r.method} ${r.path}`),
    [],
    'not a single request in 5 s: two open watches carry everything',
  );
  t.match(source.status(), {
    pods: { up: true, synced: true },
    namespaces: { up: true, synced: true },
  });
});

t.test(
  'after a relist the pod set equals the server’s and new pods’ secrets are read',
  async (t) => {
    const server = await serve(t);
    createPullSecret(server, 'regcred');
    createPod(server, { name: 'a', node: NODE });
    createPod(server, { name: 'b', node: NODE });
    const { source } = start(t, server);
    await eventually(() => server.openWatchCount() === 2, 'the watches');

    server.faults.dropWatches();
    deletePod(server, 'a');
    createPod(server, { name: 'c', node: NODE, pullSecrets: ['regcred'] });
    server.faults.expireHistory();
    await eventually(
      () => JSON.stringify(podNames(source)) === JSON.stringify(serverPods(server, NODE)),
      'the server’s pods',
    );
    await eventually(
      () => source.secrets().get(secretKey('tenant-a', 'regcred'))?.state === 'ok',
      'the secret',
    );
    t.equal(source.status().pods.relists, 1);
  },
);

t.test('the API server down at start: the source comes up when it does', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  await server.faults.setDown(true);
  const { source } = start(t, server);
  await sleep(600);
  t.match(source.status(), {
    pods: { synced: false, up: false },
    namespaces: { synced: false, up: false },
  });
  await server.faults.setDown(false);
  await eventually(() => source.pods().length === 1, 'the pods', 3000);
});

t.test('pod churn: secret reads and event queries share a few kept connections', async (t) => {
  const server = await serve(t);
  const running = { running: { startedAt: new Date().toISOString() } };
  const startPod = (name: string, secret: string): void => {
    const created = server.store.create('pods', {
      ...podObject({ name, node: NODE, pullPolicy: 'IfNotPresent', pullSecrets: [secret] }),
      status: { phase: 'Running', containerStatuses: [{ name: 'main', state: running }] },
    });
    if (!created.ok) throw new Error(created.error.message);
  };
  for (let i = 0; i < 30; i++) {
    createPullSecret(server, `regcred-${i}`);
    startPod(`web-${i}`, `regcred-${i}`);
  }
  const { source } = start(t, server, { secretMinRefetchMs: 0 });
  await eventually(() => source.secrets().size === 30, 'thirty secrets', 10_000);
  await eventually(() => eventQueries(server).length >= 30, 'thirty event queries', 10_000);

  // Pods come and go, each naming a secret and with a started container.
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 20; i++) startPod(`churn-${round}-${i}`, `regcred-${i}`);
    await sleep(30);
    for (let i = 0; i < 20; i++) deletePod(server, `churn-${round}-${i}`);
  }
  await eventually(() => source.pods().length === 30, 'the churn to pass');
  await sleep(300);
  const requests = server.requestLog.filter((r) => !r.watch).length;
  t.ok(requests >= 60, `${requests} requests`);
  t.ok(
    server.connectionCount() <= 16,
    `${requests} requests and 2 watches over ${server.connectionCount()} connections (at most 16)`,
  );
});

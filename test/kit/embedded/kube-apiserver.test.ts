// The embedded API server driven through the real @kubernetes/client-node, the
// client pullwatch itself uses: if client-node's list/watch machinery works against
// it the way it works against a cluster, tests built on it mean something.

/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
   client-node's models (V1Pod...) are data-only classes and its serializer takes plain
   objects, as client-node's own examples write them. */

import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { CoreV1Event, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { eventually, rejection, serve, statusOf } from './client-test-helpers.ts';
import type { EmbeddedApiServer } from './kube-apiserver.ts';

function clientsFor(server: EmbeddedApiServer, token?: string) {
  const kc = new KubeConfig();
  kc.loadFromOptions(server.kubeconfig(token === undefined ? {} : { token }));
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

function pod(name: string, nodeName: string, extra: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { name, namespace: 'tenant-a', labels: { app: name } },
    spec: { nodeName, containers: [{ name: 'main', image: 'registry.example/app:1.0' }] },
    ...extra,
  };
}

interface SeenEvent {
  readonly type: string;
  readonly object: KubernetesObject & { code?: number; reason?: string };
}

/** A raw client-node Watch that records what it receives. */
async function watchEvents(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | boolean | number>,
) {
  const events: SeenEvent[] = [];
  const waiters: (() => void)[] = [];
  let resolveDone: (e: unknown) => void = () => undefined;
  const done = new Promise<unknown>((resolve) => {
    resolveDone = resolve;
  });
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type: string, object: SeenEvent['object']) => {
      events.push({ type, object });
      for (const wake of waiters.splice(0)) wake();
    },
    (e: unknown) => {
      resolveDone(e ?? null);
    },
  );
  const until = async (ready: () => boolean, what: string, ms = 5000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Promise.race([
        new Promise<void>((resolve) => waiters.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, 50)),
      ]);
    }
  };
  return {
    events,
    done,
    stop: () => {
      controller.abort();
    },
    untilCount: (n: number) => until(() => events.length >= n, `${n} watch events`),
  };
}

const summary = (e: SeenEvent): string => `${e.type} ${e.object.metadata?.name ?? ''}`;

t.test('pods can be created, read, listed and deleted through CoreV1Api', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  const created = await core.createNamespacedPod({
    namespace: 'tenant-a',
    body: pod('web', 'node-1'),
  });
  t.match(created.metadata?.uid, /^[0-9a-f-]{36}$/, 'the server assigns a uid');
  t.ok(created.metadata?.creationTimestamp instanceof Date, 'and a creationTimestamp');
  t.match(created.metadata?.resourceVersion, /^\d+$/, 'and a resourceVersion');
  t.equal(created.status?.phase, 'Pending', 'a new pod is Pending');
  t.equal(
    created.spec?.containers[0]?.imagePullPolicy,
    'IfNotPresent',
    'a tagged image defaults to IfNotPresent',
  );

  const again = statusOf(
    await rejection(
      core.createNamespacedPod({ namespace: 'tenant-a', body: pod('web', 'node-1') }),
    ),
  );
  t.match(again, { code: 409, reason: 'AlreadyExists', message: 'pods "web" already exists' });

  const read = await core.readNamespacedPod({ namespace: 'tenant-a', name: 'web' });
  t.equal(read.metadata?.uid, created.metadata?.uid);
  const list = await core.listNamespacedPod({ namespace: 'tenant-a' });
  t.same(
    list.items.map((p) => p.metadata?.name),
    ['web'],
  );
  t.equal(
    list.metadata?.resourceVersion,
    created.metadata?.resourceVersion,
    'a list carries the latest resourceVersion',
  );

  const deleted = await core.deleteNamespacedPod({ namespace: 'tenant-a', name: 'web' });
  t.equal(deleted.metadata?.name, 'web', 'DELETE of a pod answers with the pod');
  const gone = statusOf(
    await rejection(core.readNamespacedPod({ namespace: 'tenant-a', name: 'web' })),
  );
  t.match(gone, { code: 404, reason: 'NotFound', message: 'pods "web" not found' });
});

t.test('a replace with a stale resourceVersion is a 409 Conflict', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  const first = await core.createNamespacedPod({
    namespace: 'tenant-a',
    body: pod('web', 'node-1'),
  });
  const labelled = {
    ...first,
    metadata: { ...first.metadata, labels: { app: 'web', tier: 'front' } },
  };
  const second = await core.replaceNamespacedPod({
    namespace: 'tenant-a',
    name: 'web',
    body: labelled,
  });
  t.not(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
  const stale = statusOf(
    await rejection(
      core.replaceNamespacedPod({ namespace: 'tenant-a', name: 'web', body: labelled }),
    ),
  );
  t.match(stale, { code: 409, reason: 'Conflict', message: /the object has been modified/ });
  const unchanged = await core.replaceNamespacedPod({
    namespace: 'tenant-a',
    name: 'web',
    body: second,
  });
  t.equal(
    unchanged.metadata?.resourceVersion,
    second.metadata?.resourceVersion,
    'a replace that changes nothing does not bump the resourceVersion',
  );
});

t.test('a fieldSelector on spec.nodeName lists only that node’s pods', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  for (const [name, node] of [
    ['a1', 'node-1'],
    ['b1', 'node-2'],
    ['a2', 'node-1'],
  ] as const) {
    server.store.create('pods', pod(name, node));
  }
  const onNode1 = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-1' });
  t.same(
    onNode1.items.map((p) => p.metadata?.name),
    ['a1', 'a2'],
  );
  const elsewhere = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName!=node-1' });
  t.same(
    elsewhere.items.map((p) => p.metadata?.name),
    ['b1'],
  );
  const both = await core.listNamespacedPod({
    namespace: 'tenant-a',
    fieldSelector: 'spec.nodeName=node-1,metadata.name=a2',
  });
  t.same(
    both.items.map((p) => p.metadata?.name),
    ['a2'],
    'comma means AND',
  );
  const labelled = await core.listPodForAllNamespaces({ labelSelector: 'app in (a1,b1),app!=b1' });
  t.same(
    labelled.items.map((p) => p.metadata?.name),
    ['a1'],
  );

  const refused = statusOf(
    await rejection(core.listPodForAllNamespaces({ fieldSelector: 'spec.containers=x' })),
  );
  t.match(refused, {
    code: 400,
    reason: 'BadRequest',
    message: 'field label not supported: spec.containers',
  });
});

t.test(
  'a watch from a list’s resourceVersion receives ADDED, MODIFIED, DELETED in order',
  async (t) => {
    const server = await serve(t);
    const { kc, core } = clientsFor(server);
    server.store.create('pods', pod('before', 'node-1'));
    const list = await core.listNamespacedPod({ namespace: 'tenant-a' });
    const rv = list.metadata?.resourceVersion ?? '';
    const watch = await watchEvents(kc, '/api/v1/namespaces/tenant-a/pods', {
      resourceVersion: rv,
    });
    t.teardown(watch.stop);

    const created = await core.createNamespacedPod({
      namespace: 'tenant-a',
      body: pod('web', 'node-1'),
    });
    server.store.modify('pods', { namespace: 'tenant-a', name: 'web' }, (p) => ({
      ...p,
      status: { phase: 'Running' },
    }));
    await core.deleteNamespacedPod({ namespace: 'tenant-a', name: 'web' });
    await watch.untilCount(3);
    t.same(
      watch.events.map(summary),
      ['ADDED web', 'MODIFIED web', 'DELETED web'],
      'nothing from before the list',
    );
    const rvs = watch.events.map((e) => Number(e.object.metadata?.resourceVersion));
    t.ok(
      rvs.every((v, i) => i === 0 || v > (rvs[i - 1] ?? 0)),
      'resourceVersions increase',
    );
    t.ok(rvs.every((v) => v > Number(rv)));
    t.equal(watch.events[0]?.object.metadata?.uid, created.metadata?.uid);
    t.equal(watch.events[0]?.object.kind, 'Pod', 'watch objects carry their kind');
  },
);

t.test('a watch without resourceVersion first gets the current state as ADDED', async (t) => {
  const server = await serve(t);
  const { kc } = clientsFor(server);
  server.store.create('pods', pod('one', 'node-1'));
  server.store.create('pods', pod('two', 'node-2'));
  const watch = await watchEvents(kc, '/api/v1/pods', { fieldSelector: 'spec.nodeName=node-2' });
  t.teardown(watch.stop);
  await watch.untilCount(1);
  server.store.create('pods', pod('three', 'node-2'));
  await watch.untilCount(2);
  t.same(watch.events.map(summary), ['ADDED two', 'ADDED three']);
});

t.test(
  'a pod moved off a node is DELETED for that node’s watch and ADDED for the new one',
  async (t) => {
    const server = await serve(t);
    const { kc } = clientsFor(server);
    server.store.create('pods', pod('mover', 'node-1'));
    const rv = server.store.resourceVersion();
    const oldNode = await watchEvents(kc, '/api/v1/pods', {
      resourceVersion: rv,
      fieldSelector: 'spec.nodeName=node-1',
    });
    const newNode = await watchEvents(kc, '/api/v1/pods', {
      resourceVersion: rv,
      fieldSelector: 'spec.nodeName=node-2',
    });
    t.teardown(oldNode.stop);
    t.teardown(newNode.stop);
    const moved = server.store.modify('pods', { namespace: 'tenant-a', name: 'mover' }, (p) => ({
      ...p,
      spec: { ...(p['spec'] as object), nodeName: 'node-2' },
    }));
    t.ok(moved.ok);
    await oldNode.untilCount(1);
    await newNode.untilCount(1);
    t.same(oldNode.events.map(summary), ['DELETED mover']);
    t.same(newNode.events.map(summary), ['ADDED mover']);
    const deleted = oldNode.events[0]?.object as V1Pod;
    t.equal(
      deleted.spec?.nodeName,
      'node-1',
      'the DELETED event shows the last state the watcher could see',
    );
    t.equal(
      deleted.metadata?.resourceVersion,
      moved.ok ? moved.value.metadata.resourceVersion : '',
      'at the resourceVersion of the move',
    );
  },
);

t.test(
  'a watch from an expired resourceVersion gets a 410 ERROR event, then the stream ends',
  async (t) => {
    const server = await serve(t, { historySize: 2 });
    const { kc } = clientsFor(server);
    const rv = server.store.resourceVersion();
    for (const name of ['p1', 'p2', 'p3']) server.store.create('pods', pod(name, 'node-1'));
    const watch = await watchEvents(kc, '/api/v1/pods', { resourceVersion: rv });
    await watch.untilCount(1);
    t.equal(await watch.done, null, 'the server closes the stream after the error');
    t.same(
      watch.events.map((e) => e.type),
      ['ERROR'],
    );
    t.match(watch.events[0]?.object, {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      code: 410,
      reason: 'Expired',
      message: /^too old resource version: \d+ \(\d+\)$/,
    });

    const { core } = clientsFor(server);
    const exact = statusOf(
      await rejection(
        core.listPodForAllNamespaces({ resourceVersion: rv, resourceVersionMatch: 'Exact' }),
      ),
    );
    t.match(exact, { code: 410, reason: 'Expired' }, 'an exact list that old is a 410 too');
  },
);

t.test('an exact list shows the past; limit and continue page a consistent snapshot', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  for (const name of ['p1', 'p2', 'p3']) server.store.create('pods', pod(name, 'node-1'));
  const rv = server.store.resourceVersion();
  server.store.delete('pods', { namespace: 'tenant-a', name: 'p2' });
  server.store.create('pods', pod('p4', 'node-1'));
  const past = await core.listPodForAllNamespaces({
    resourceVersion: rv,
    resourceVersionMatch: 'Exact',
  });
  t.same(
    past.items.map((p) => p.metadata?.name),
    ['p1', 'p2', 'p3'],
  );
  t.equal(past.metadata?.resourceVersion, rv);

  const first = await core.listNamespacedPod({ namespace: 'tenant-a', limit: 2 });
  t.same(
    first.items.map((p) => p.metadata?.name),
    ['p1', 'p3'],
  );
  t.equal(first.metadata?.remainingItemCount, 1);
  server.store.create('pods', pod('p5', 'node-1'));
  const second = await core.listNamespacedPod({
    namespace: 'tenant-a',
    limit: 2,
    _continue: first.metadata?._continue ?? '',
  });
  t.same(
    second.items.map((p) => p.metadata?.name),
    ['p4'],
    'pages come from the first page’s snapshot',
  );
  t.equal(second.metadata?._continue, undefined);
  t.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
});

t.test('client-node’s ListWatch relists by itself after a 410', async (t) => {
  const server = await serve(t);
  const { kc, core } = clientsFor(server);
  server.store.create('pods', pod('p1', 'node-1'));
  const fieldSelector = 'spec.nodeName=node-1';
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kc),
    () => core.listPodForAllNamespaces({ fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  t.teardown(() => informer.stop());
  await informer.start();
  await eventually(() => server.openWatchCount() === 1, 'the informer to watch');
  const lists = () => server.requestLog.filter((r) => r.path === '/api/v1/pods' && !r.watch).length;
  t.equal(lists(), 1);

  server.faults.expireHistory();
  // Pods written while the informer is away are only seen through the relist.
  server.store.create('pods', pod('p2', 'node-1'));
  server.store.create('pods', pod('p3', 'node-2'));
  server.faults.expireHistory();
  t.equal(server.faults.dropWatches({ graceful: true }), 1);
  await eventually(() => lists() === 2, 'a relist');
  await eventually(() => informer.list().length === 2, 'the relisted pods');
  t.same(
    informer
      .list()
      .map((p) => p.metadata?.name)
      .sort(),
    ['p1', 'p2'],
  );
  t.same(errors, [], 'a 410 is not reported as an error');
  const watches = server.requestLog.filter((r) => r.watch).map((r) => r.status);
  t.same(watches.slice(0, 2), [200, 200], 'the expired watch is answered 200 with an ERROR event');

  await eventually(() => server.openWatchCount() === 1, 'the informer to watch again', 8000);
  server.store.create('pods', pod('p4', 'node-1'));
  await eventually(() => informer.get('p4', 'tenant-a') !== undefined, 'the informer to see p4');
});

t.test('a reset watch connection stops client-node’s ListWatch with an error', async (t) => {
  // client-node only reconnects after a clean end, a timeout or a 410: anything else
  // is emitted as `error` and the ListWatch stays stopped, so pullwatch must supervise it.
  const server = await serve(t);
  const { kc, core } = clientsFor(server);
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kc),
    () => core.listPodForAllNamespaces({}),
    false,
  );
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  t.teardown(() => informer.stop());
  await informer.start();
  await eventually(() => server.openWatchCount() === 1, 'the informer to watch');
  server.faults.dropWatches();
  await eventually(() => errors.length === 1, 'the error');
  t.match(String(errors[0]), /terminated/);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.equal(server.openWatchCount(), 0, 'no new watch');
});

t.test('makeInformer keeps a cache of a namespace’s pods', async (t) => {
  const server = await serve(t);
  const { kc, core } = clientsFor(server);
  const informer = makeInformer<V1Pod>(kc, '/api/v1/namespaces/tenant-a/pods', () =>
    core.listNamespacedPod({ namespace: 'tenant-a' }),
  );
  const added: string[] = [];
  const deleted: string[] = [];
  informer.on('add', (p) => added.push(p.metadata?.name ?? ''));
  informer.on('delete', (p) => deleted.push(p.metadata?.name ?? ''));
  t.teardown(() => informer.stop());
  await informer.start();
  await eventually(() => server.openWatchCount() === 1, 'the informer to watch');
  server.store.create('pods', pod('web', 'node-1'));
  server.store.create('pods', {
    ...pod('other', 'node-1'),
    metadata: { name: 'other', namespace: 'tenant-b' },
  });
  server.store.delete('pods', { namespace: 'tenant-a', name: 'web' });
  await eventually(() => deleted.length === 1, 'the delete');
  t.same(added, ['web']);
  t.same(deleted, ['web']);
});

t.test(
  'bookmarks arrive on watches that allow them, carrying only a resourceVersion',
  async (t) => {
    const server = await serve(t, { bookmarkIntervalMs: 50 });
    const { kc } = clientsFor(server);
    const rv = server.store.resourceVersion();
    const watch = await watchEvents(kc, '/api/v1/pods', {
      resourceVersion: rv,
      allowWatchBookmarks: true,
    });
    t.teardown(watch.stop);
    const plain = await watchEvents(kc, '/api/v1/pods', { resourceVersion: rv });
    t.teardown(plain.stop);
    server.store.create('secrets', { metadata: { name: 's', namespace: 'tenant-a' } });
    await eventually(() => watch.events.length >= 2, 'two bookmarks');
    const bookmark = watch.events.at(-1);
    t.equal(bookmark?.type, 'BOOKMARK');
    t.same(bookmark?.object, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { resourceVersion: server.store.resourceVersion() },
    });
    t.same(plain.events, [], 'no bookmarks unless asked for');
  },
);

t.test('a watch-list request streams the state, then an initial-events-end bookmark', async (t) => {
  const server = await serve(t, { bookmarkIntervalMs: 60_000 });
  const { kc } = clientsFor(server);
  server.store.create('pods', pod('one', 'node-1'));
  const watch = await watchEvents(kc, '/api/v1/pods', {
    sendInitialEvents: true,
    allowWatchBookmarks: true,
    resourceVersionMatch: 'NotOlderThan',
  });
  t.teardown(watch.stop);
  await watch.untilCount(2);
  t.same(watch.events.map(summary), ['ADDED one', 'BOOKMARK ']);
  t.same(watch.events[1]?.object.metadata, {
    resourceVersion: server.store.resourceVersion(),
    annotations: { 'k8s.io/initial-events-end': 'true' },
  });
  const refused = await watchEvents(kc, '/api/v1/pods', { sendInitialEvents: true });
  t.match(await refused.done, { statusCode: 422 }, 'it needs allowWatchBookmarks and NotOlderThan');
});

t.test('timeoutSeconds ends a watch cleanly', async (t) => {
  const server = await serve(t);
  const { kc } = clientsFor(server);
  const started = Date.now();
  const watch = await watchEvents(kc, '/api/v1/pods', { timeoutSeconds: 1 });
  t.equal(await watch.done, null);
  t.ok(Date.now() - started >= 900);
});

t.test('dropWatches ends every open watch and the client sees it end', async (t) => {
  const server = await serve(t);
  const { kc } = clientsFor(server);
  const reset = await watchEvents(kc, '/api/v1/pods', {});
  const other = await watchEvents(kc, '/api/v1/namespaces/tenant-a/events', {});
  await eventually(() => server.openWatchCount() === 2, 'two watches');
  t.equal(server.faults.dropWatches(), 2);
  t.ok(await reset.done, 'a reset connection reaches done() as an error');
  t.ok(await other.done);
  t.equal(server.openWatchCount(), 0);

  const graceful = await watchEvents(kc, '/api/v1/pods', {});
  await eventually(() => server.openWatchCount() === 1, 'a watch');
  server.faults.dropWatches({ graceful: true });
  t.equal(await graceful.done, null, 'a graceful end reaches done() without an error');
});

t.test('setDown refuses connections; setDown(false) serves again on the same port', async (t) => {
  const server = await serve(t);
  const { kc, core } = clientsFor(server);
  server.store.create('pods', pod('survivor', 'node-1'));
  const watch = await watchEvents(kc, '/api/v1/pods', {});
  await watch.untilCount(1);
  await server.faults.setDown(true);
  t.ok(await watch.done, 'open watches are cut');
  const refused = await rejection(core.listPodForAllNamespaces({}));
  t.match(String((refused as Error & { cause?: unknown }).cause ?? refused), /ECONNREFUSED/);
  await server.faults.setDown(false);
  const list = await core.listPodForAllNamespaces({});
  t.same(
    list.items.map((p) => p.metadata?.name),
    ['survivor'],
    'same port, same state',
  );
  t.equal(server.url, `http://127.0.0.1:${server.port}`);
});

t.test('failNext and setLatency shape the next requests', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  server.faults.failNext(/^\/api\/v1\/pods$/, 503);
  const failed = statusOf(await rejection(core.listPodForAllNamespaces({})));
  t.match(failed, { code: 503, reason: 'ServiceUnavailable' });
  await core.listPodForAllNamespaces({});
  t.pass('only the next one fails');

  server.faults.failNext('/namespaces/tenant-a/pods', 500, { method: 'POST', times: 2 });
  await core.listNamespacedPod({ namespace: 'tenant-a' });
  for (let i = 0; i < 2; i++) {
    const e = statusOf(
      await rejection(core.createNamespacedPod({ namespace: 'tenant-a', body: pod('x', 'n') })),
    );
    t.equal(e.code, 500);
  }
  await core.createNamespacedPod({ namespace: 'tenant-a', body: pod('x', 'n') });

  server.faults.setLatency(200);
  const started = Date.now();
  await core.listNamespacedPod({ namespace: 'tenant-a' });
  t.ok(Date.now() - started >= 190, 'each request waits');
});

t.test('delay puts the answers of concurrent requests in the order a test chooses', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  for (const name of ['first', 'second', 'third'])
    server.store.create('secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace: 'tenant-a', name },
      type: 'Opaque',
    });
  // Asked in the order first, second, third; answered third, first, second.
  server.faults.delay('/secrets/first$', 150);
  server.faults.delay('/secrets/second$', 300);
  const answered: string[] = [];
  await Promise.all(
    ['first', 'second', 'third'].map(async (name) => {
      await core.readNamespacedSecret({ namespace: 'tenant-a', name });
      answered.push(name);
    }),
  );
  t.same(answered, ['third', 'first', 'second']);

  let asked = 0;
  server.faults.delay(/^\/api\/v1\/namespaces$/, () => (asked++, 0), { method: 'GET' });
  await core.listNamespace({});
  await core.listNamespace({});
  t.equal(asked, 2, 'a function is asked once per request');
  server.faults.clear();
  const started = Date.now();
  await core.readNamespacedSecret({ namespace: 'tenant-a', name: 'second' });
  t.ok(Date.now() - started < 300, 'clear() removes the delays');
});

t.test('the request log counts API load', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-1' });
  await core.listNamespacedEvent({ namespace: 'tenant-a', fieldSelector: 'reason=Pulled' });
  t.match(server.requestLog, [
    {
      method: 'GET',
      path: '/api/v1/pods',
      query: { fieldSelector: 'spec.nodeName=node-1' },
      watch: false,
      status: 200,
      user: 'system:admin',
    },
    {
      method: 'GET',
      path: '/api/v1/namespaces/tenant-a/events',
      query: { fieldSelector: 'reason=Pulled' },
      status: 200,
    },
  ]);
  server.clearRequestLog();
  t.equal(server.requestLog.length, 0);
});

t.test('events can be selected by involvedObject.uid and reason', async (t) => {
  const server = await serve(t);
  const { core } = clientsFor(server);
  const event = (name: string, uid: string, reason: string): CoreV1Event => ({
    metadata: { name, namespace: 'tenant-a' },
    involvedObject: { kind: 'Pod', namespace: 'tenant-a', name: 'web', uid },
    reason,
    message: `Container image "registry.example/app:1.0" already present on machine`,
    source: { component: 'kubelet', host: 'node-1' },
    type: 'Normal',
  });
  for (const [name, uid, reason] of [
    ['e1', 'uid-1', 'Pulled'],
    ['e2', 'uid-1', 'Started'],
    ['e3', 'uid-2', 'Pulled'],
  ] as const) {
    await core.createNamespacedEvent({ namespace: 'tenant-a', body: event(name, uid, reason) });
  }
  const pulled = await core.listNamespacedEvent({
    namespace: 'tenant-a',
    fieldSelector: 'involvedObject.uid=uid-1,reason=Pulled',
  });
  t.same(
    pulled.items.map((e) => e.metadata.name),
    ['e1'],
  );
  const byKubelet = await core.listEventForAllNamespaces({
    fieldSelector: 'source=kubelet,type=Normal',
  });
  t.equal(byKubelet.items.length, 3);
  const noHost = statusOf(
    await rejection(core.listEventForAllNamespaces({ fieldSelector: 'source.host=node-1' })),
  );
  t.match(
    noHost,
    { code: 400, message: 'field label not supported: source.host' },
    'there is no selector on the node',
  );
});

t.test('tokenreviews and subjectaccessreviews answer from the table', async (t) => {
  const server = await serve(t, {
    tokens: {
      'prometheus-token': {
        username: 'system:serviceaccount:monitoring:prometheus',
        uid: 'sa-uid',
        groups: ['system:serviceaccounts'],
      },
    },
    authorize: (a) =>
      a.user === 'system:serviceaccount:monitoring:prometheus' &&
      a.path === '/metrics' &&
      a.verb === 'get',
  });
  const { kc } = clientsFor(server);
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const known = await authn.createTokenReview({ body: { spec: { token: 'prometheus-token' } } });
  t.equal(known.status?.authenticated, true);
  t.equal(known.status?.user?.username, 'system:serviceaccount:monitoring:prometheus');
  t.same(known.status?.user?.groups, ['system:serviceaccounts', 'system:authenticated']);
  const unknown = await authn.createTokenReview({ body: { spec: { token: 'nope' } } });
  t.notOk(unknown.status?.authenticated);
  t.ok(unknown.status?.error);

  const authz = kc.makeApiClient(AuthorizationV1Api);
  const ask = (user: string, path: string) =>
    authz.createSubjectAccessReview({
      body: {
        spec: {
          user,
          groups: ['system:serviceaccounts'],
          nonResourceAttributes: { path, verb: 'get' },
        },
      },
    });
  t.equal(
    (await ask('system:serviceaccount:monitoring:prometheus', '/metrics')).status?.allowed,
    true,
  );
  t.equal(
    (await ask('system:serviceaccount:monitoring:prometheus', '/debug')).status?.allowed,
    false,
  );
  t.equal((await ask('someone', '/metrics')).status?.allowed, false);
  const masters = await authz.createSubjectAccessReview({
    body: {
      spec: {
        user: 'root',
        groups: ['system:masters'],
        resourceAttributes: { verb: 'delete', resource: 'pods' },
      },
    },
  });
  t.equal(masters.status?.allowed, true, 'system:masters may do anything');
});

t.test('requests need a known token; a token from the table acts as its user', async (t) => {
  const server = await serve(t, {
    tokens: { 'viewer-token': { username: 'viewer' } },
    authorizeRequests: true,
    authorize: (a) => a.user === 'viewer' && (a.verb === 'list' || a.verb === 'watch'),
  });
  const anonymous = await fetch(`${server.url}/api/v1/pods`);
  t.equal(anonymous.status, 401);
  t.match(await anonymous.json(), { kind: 'Status', code: 401, reason: 'Unauthorized' });

  const { core } = clientsFor(server, 'viewer-token');
  t.same((await core.listPodForAllNamespaces({})).items, []);
  const denied = statusOf(
    await rejection(core.createNamespacedPod({ namespace: 'tenant-a', body: pod('x', 'n') })),
  );
  t.match(denied, {
    code: 403,
    reason: 'Forbidden',
    message:
      /^pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "tenant-a"/,
  });
  t.equal(server.requestLog.at(-1)?.user, 'viewer');
});

t.test('a kubeconfig YAML loads with loadFromString', async (t) => {
  const server = await serve(t);
  const yaml = server.kubeconfigYaml({ namespace: 'tenant-a' });
  t.match(yaml, /insecure-skip-tls-verify: true/);
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  t.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'tenant-a');
  const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
  t.same(
    namespaces.items.map((n) => n.metadata?.name),
    ['default', 'kube-node-lease', 'kube-public', 'kube-system'],
  );
});

t.test('pods get the defaults and admission the real server applies', async (t) => {
  const server = await serve(t, { alwaysPullImages: false });
  const { core } = clientsFor(server);
  server.store.create('serviceaccounts', {
    metadata: { name: 'builder', namespace: 'tenant-a' },
    imagePullSecrets: [{ name: 'regcred' }],
  });
  const created = await core.createNamespacedPod({
    namespace: 'tenant-a',
    body: {
      metadata: { name: 'p' },
      spec: {
        serviceAccountName: 'builder',
        containers: [
          { name: 'latest', image: 'registry.example/app' },
          { name: 'digest', image: 'registry.example/app@sha256:' + 'a'.repeat(64) },
          { name: 'never', image: 'registry.example/app:1', imagePullPolicy: 'Never' },
        ],
      },
      status: { phase: 'Running' },
    },
  });
  t.same(
    created.spec?.containers.map((c) => c.imagePullPolicy),
    ['Always', 'IfNotPresent', 'Never'],
  );
  t.same(
    created.spec?.imagePullSecrets,
    [{ name: 'regcred' }],
    'the service account’s pull secrets are copied',
  );
  t.equal(created.status?.phase, 'Pending', 'a client cannot create a pod with a status');

  const strict = await serve(t, { alwaysPullImages: true });
  const strictCore = clientsFor(strict).core;
  await strictCore.createNamespacedPod({ namespace: 'tenant-a', body: pod('p', 'node-1') });
  const read = await strictCore.readNamespacedPod({ namespace: 'tenant-a', name: 'p' });
  t.equal(
    read.spec?.containers[0]?.imagePullPolicy,
    'Always',
    'AlwaysPullImages overrides the policy',
  );
  const debugged = await strictCore.patchNamespacedPodEphemeralcontainers(
    {
      namespace: 'tenant-a',
      name: 'p',
      body: {
        spec: {
          ephemeralContainers: [
            { name: 'debug', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' },
          ],
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  t.equal(
    debugged.spec?.ephemeralContainers?.[0]?.imagePullPolicy,
    'IfNotPresent',
    'but not through the ephemeralcontainers subresource',
  );
});

t.test('status is patched through the status subresource only', async (t) => {
  const server = await serve(t);
  const { kc, core } = clientsFor(server);
  server.store.create('pods', pod('web', 'node-1'));
  const rv = server.store.resourceVersion();
  const watch = await watchEvents(kc, '/api/v1/namespaces/tenant-a/pods/web', {
    resourceVersion: rv,
  });
  t.teardown(watch.stop);
  const patched = await core.patchNamespacedPodStatus({
    namespace: 'tenant-a',
    name: 'web',
    body: [{ op: 'replace', path: '/status', value: { phase: 'Running', podIP: '10.0.0.5' } }],
  });
  t.equal(patched.status?.phase, 'Running');
  const merged = await core.patchNamespacedPod(
    {
      namespace: 'tenant-a',
      name: 'web',
      body: { metadata: { labels: { tier: 'front' } }, status: { phase: 'Failed' } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  t.same(merged.metadata?.labels, { app: 'web', tier: 'front' });
  t.equal(merged.status?.phase, 'Running', 'a patch of the pod itself leaves the status alone');
  await watch.untilCount(2);
  t.same(watch.events.map(summary), ['MODIFIED web', 'MODIFIED web'], 'a watch on one pod by name');
});

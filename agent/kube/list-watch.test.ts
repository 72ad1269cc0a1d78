// The list+watch loop against the embedded API server, with client-node's KubeConfig
// supplying credentials: it must follow the node's pods through every fault the server can
// produce and end up with exactly the server's set, without polling.
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import type { EmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import {
  startListWatch,
  type ListWatch,
  type ListWatchChange,
  type ListWatchOptions,
} from './list-watch.ts';
import {
  createPod,
  deletePod,
  eventually,
  kubeConfigFor,
  requestsTo,
  serve,
  serverPods,
  sleep,
  type Teardown,
} from '../../test/kit/kube.ts';

const NODE = 'node-1';

interface Seen {
  readonly key: string;
  readonly image: string;
}

function decode(object: unknown): Seen {
  const pod = object as {
    metadata: { namespace: string; name: string };
    spec: { containers: { image: string }[] };
  };
  return {
    key: `${pod.metadata.namespace}/${pod.metadata.name}`,
    image: pod.spec.containers[0]?.image ?? '',
  };
}

function watchPods(
  t: Teardown,
  server: EmbeddedApiServer,
  extra: Partial<ListWatchOptions<Seen>> = {},
): { lw: ListWatch<Seen>; changes: ListWatchChange<Seen>[] } {
  const changes: ListWatchChange<Seen>[] = [];
  const lw = startListWatch<Seen>({
    kubeConfig: kubeConfigFor(server),
    path: '/api/v1/pods',
    fieldSelector: `spec.nodeName=${NODE}`,
    decode,
    onChange: (change) => changes.push(change),
    backoff: { initialMs: 50, maxMs: 400 },
    random: () => 0.5,
    ...extra,
  });
  t.teardown(() => lw.stop());
  return { lw, changes };
}

function seenPods(lw: ListWatch<Seen>): string[] {
  return [...lw.items().values()].map((s) => s.key).sort();
}

function sameAsServer(server: EmbeddedApiServer, lw: ListWatch<Seen>): () => boolean {
  return () => JSON.stringify(seenPods(lw)) === JSON.stringify(serverPods(server, NODE));
}

const podRequests = (server: EmbeddedApiServer) =>
  requestsTo(server, (r) => r.path === '/api/v1/pods');

t.test(
  'a new version that decodes to the same value keeps the value and emits nothing',
  async (t) => {
    const server = await serve(t);
    createPod(server, { name: 'steady', node: NODE });
    const { lw, changes } = watchPods(t, server, {
      same: (kept, decoded) => kept.key === decoded.key && kept.image === decoded.image,
    });
    await eventually(() => lw.status().synced, 'the first list');
    const kept = lw.items().values().next().value;
    const ref = { name: 'steady', namespace: 'tenant-a' };
    for (let i = 0; i < 20; i += 1) {
      server.store.modify('pods', ref, (pod) => ({
        ...pod,
        status: {
          ...(pod['status'] as object),
          conditions: [{ type: 'Ready', reason: `beat-${i}` }],
        },
      }));
    }
    // The spec change after the heartbeats: when it is seen, every heartbeat was applied.
    server.store.modify('pods', ref, (pod) => ({
      ...pod,
      spec: {
        ...(pod['spec'] as object),
        containers: [{ name: 'main', image: 'registry.example/app:2.0' }],
      },
    }));
    await eventually(
      () => [...lw.items().values()].some((s) => s.image === 'registry.example/app:2.0'),
      'the spec change',
    );
    const watched = changes.filter((c) => c.type !== 'resync');
    t.same(
      watched.map((c) => c.type),
      ['modified'],
      'the 20 status heartbeats emitted no change; the spec change emitted one',
    );
    t.not(lw.items().values().next().value, kept, 'the spec change replaced the kept value');
  },
);

t.test('only this node’s pods are seen; add, update and delete flow through at once', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'mine', node: NODE });
  createPod(server, { name: 'theirs', node: 'node-2' });
  const rvAtList = server.store.resourceVersion();
  const { lw } = watchPods(t, server);
  await eventually(() => lw.status().synced, 'the first list');
  t.same(seenPods(lw), ['tenant-a/mine'], 'the other node’s pod is not listed');

  createPod(server, { name: 'second', node: NODE });
  createPod(server, { name: 'elsewhere', node: 'node-2' });
  await eventually(() => lw.items().size === 2, 'the added pod', 1000);
  t.same(seenPods(lw), ['tenant-a/mine', 'tenant-a/second']);

  server.store.modify('pods', { name: 'second', namespace: 'tenant-a' }, (pod) => ({
    ...pod,
    spec: {
      ...(pod['spec'] as object),
      containers: [{ name: 'main', image: 'registry.example/app:2.0' }],
    },
  }));
  await eventually(
    () => [...lw.items().values()].some((s) => s.image === 'registry.example/app:2.0'),
    'the update',
    1000,
  );

  deletePod(server, 'mine');
  await eventually(() => lw.items().size === 1, 'the delete', 1000);
  t.same(seenPods(lw), ['tenant-a/second']);

  const watches = podRequests(server).filter((r) => r.watch);
  t.equal(watches.length, 1, 'one watch carried all of it');
  t.equal(watches[0]?.query['allowWatchBookmarks'], 'true');
  t.equal(watches[0]?.query['fieldSelector'], `spec.nodeName=${NODE}`);
  const timeout = Number(watches[0]?.query['timeoutSeconds']);
  t.ok(timeout >= 300 && timeout <= 360, `watch timeoutSeconds ${timeout} is 300 plus jitter`);
  const list = podRequests(server).find((r) => !r.watch);
  t.equal(list?.query['fieldSelector'], `spec.nodeName=${NODE}`);
  t.equal(list?.query['resourceVersion'], '0', 'the first list may come from the watch cache');
  t.equal(
    watches[0]?.query['resourceVersion'],
    rvAtList,
    'the watch starts at the list’s resourceVersion',
  );
  t.match(lw.status(), {
    synced: true,
    up: true,
    relists: 0,
    watchRestarts: 0,
    lastError: undefined,
  });
});

t.test('a 410 on re-watch relists, and the resync removes pods deleted meanwhile', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'stays', node: NODE });
  createPod(server, { name: 'goes', node: NODE });
  const { lw, changes } = watchPods(t, server);
  await eventually(() => lw.items().size === 2 && server.openWatchCount() === 1, 'the watch');

  // While no watch is open: the client can only learn of these by relisting.
  t.equal(server.faults.dropWatches(), 1);
  deletePod(server, 'goes');
  createPod(server, { name: 'new', node: NODE });
  server.faults.expireHistory();

  await eventually(() => lw.status().relists === 1, 'the relist');
  await eventually(sameAsServer(server, lw), 'the server’s pod set');
  t.same(seenPods(lw), ['tenant-a/new', 'tenant-a/stays']);
  const resync = changes.filter((c) => c.type === 'resync').at(-1);
  t.match(resync, {
    type: 'resync',
    added: [{ key: 'tenant-a/new' }],
    deleted: [{ key: 'tenant-a/goes' }],
    modified: [],
  });
  await eventually(() => server.openWatchCount() === 1, 'watching again');
  const relist = podRequests(server)
    .filter((r) => !r.watch)
    .at(-1);
  t.equal(relist?.query['resourceVersion'], undefined, 'after 410 the relist is a consistent read');

  createPod(server, { name: 'after', node: NODE });
  await eventually(sameAsServer(server, lw), 'changes after the relist', 1000);
});

t.test('a dropped watch resumes from the last resourceVersion without relisting', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  const { lw, changes } = watchPods(t, server);
  await eventually(() => server.openWatchCount() === 1, 'the watch');

  for (const graceful of [false, true]) {
    server.faults.dropWatches({ graceful });
    createPod(server, { name: `during-${graceful}`, node: NODE });
    await eventually(
      sameAsServer(server, lw),
      `the pod added while the watch was ${graceful ? 'ended' : 'reset'}`,
    );
    await eventually(() => server.openWatchCount() === 1, 'watching again');
  }
  deletePod(server, 'a');
  await eventually(sameAsServer(server, lw), 'the delete');
  t.equal(lw.status().relists, 0, 'no relist: the watch history still had the changes');
  t.equal(lw.status().watchRestarts, 2);
  t.equal(podRequests(server).filter((r) => !r.watch).length, 1, 'one list in all');
  const adds = changes.filter((c) => c.type === 'added').length;
  t.equal(adds, 2, 'each pod added once: nothing duplicated');
});

t.test('an API server that goes away for seconds is waited out with backoff', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  createPod(server, { name: 'b', node: NODE });
  const { lw } = watchPods(t, server);
  await eventually(() => server.openWatchCount() === 1, 'the watch');

  await server.faults.setDown(true);
  await eventually(() => !lw.status().up, 'the outage to be noticed', 2000);
  deletePod(server, 'a');
  createPod(server, { name: 'c', node: NODE });
  server.faults.expireHistory();
  server.clearRequestLog();
  await sleep(2000);
  t.ok(lw.status().lastError, `the error is reported: ${lw.status().lastError ?? ''}`);
  t.same(seenPods(lw), ['tenant-a/a', 'tenant-a/b'], 'the last known state is kept meanwhile');

  await server.faults.setDown(false);
  await eventually(sameAsServer(server, lw), 'the server’s pod set after the outage', 5000);
  t.same(seenPods(lw), ['tenant-a/b', 'tenant-a/c'], 'the delete during the outage is noticed');
  await eventually(() => lw.status().up, 'up again');
  t.equal(lw.status().relists, 1);
});

t.test('an API server down at start: retried until it answers', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  await server.faults.setDown(true);
  const { lw } = watchPods(t, server);
  await sleep(1000);
  t.match(lw.status(), { synced: false, up: false, lastSync: undefined });
  t.match(lw.status().lastError, /^list: network: .*ECONNREFUSED/);
  await server.faults.setDown(false);
  await eventually(() => lw.status().synced, 'the first list', 3000);
  t.same(seenPods(lw), ['tenant-a/a']);
});

t.test('5xx answers to list and watch are retried', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  server.faults.failNext('/api/v1/pods', 500, { watch: false, times: 2 });
  server.faults.failNext('/api/v1/pods', 503, { watch: true, times: 2 });
  const { lw } = watchPods(t, server);
  // The server counts the watch as open before its answer reaches the client, which only then
  // turns `up` back on after the 503s: wait for both ends.
  await eventually(
    () => server.openWatchCount() === 1 && lw.status().up,
    'a watch after the failures, open at the server and seen by the client',
  );
  t.same(seenPods(lw), ['tenant-a/a']);
  t.match(lw.status(), { synced: true, up: true, watchRestarts: 2 });
  t.match(lw.status().lastError, /^watch: HTTP 503/);
  const statuses = podRequests(server).map((r) => `${r.watch ? 'watch' : 'list'} ${r.status}`);
  t.same(statuses, ['list 500', 'list 500', 'list 200', 'watch 503', 'watch 503', 'watch 200']);
});

t.test('an HTTP 410 answer to a watch also relists', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  server.faults.failNext('/api/v1/pods', 410, { watch: true });
  const { lw } = watchPods(t, server);
  await eventually(() => server.openWatchCount() === 1, 'a watch after the relist');
  const requests = podRequests(server).map((r) => `${r.watch ? 'watch' : 'list'} ${r.status}`);
  t.same(requests, ['list 200', 'watch 410', 'list 200', 'watch 200']);
  t.match(lw.status(), { relists: 1, synced: true, up: true });
  t.same(seenPods(lw), ['tenant-a/a']);
});

t.test('a list that does not answer in time is abandoned and retried', async (t) => {
  const server = await serve(t);
  createPod(server, { name: 'a', node: NODE });
  server.faults.setLatency(1000);
  const { lw } = watchPods(t, server, { listTimeoutMs: 200 });
  await eventually(() => /timeout/.test(lw.status().lastError ?? ''), 'a list timeout', 2000);
  t.match(lw.status(), { synced: false, up: false });
  server.faults.setLatency(0);
  await eventually(() => lw.status().synced, 'the list once the server is quick again', 3000);
  t.same(seenPods(lw), ['tenant-a/a']);
});

t.test(
  'credentials the server refuses, or Node cannot even send, are errors that are retried',
  async (t) => {
    const server = await serve(t);
    for (const token of ['wrong-token', 'broken\ntoken']) {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions(server.kubeconfig({ token }));
      const lw = startListWatch({
        kubeConfig,
        path: '/api/v1/pods',
        decode,
        backoff: { initialMs: 50, maxMs: 100 },
      });
      t.teardown(() => lw.stop());
      await eventually(() => lw.status().lastError !== undefined, 'the error');
      t.match(lw.status(), { synced: false, up: false });
      t.match(lw.status().lastError, token === 'wrong-token' ? /HTTP 401/ : /^list: config: /);
      await lw.stop();
    }
  },
);

t.test('a quiet node: bookmarks keep the watch open; no polling', async (t) => {
  const server = await serve(t, { bookmarkIntervalMs: 1000 });
  createPod(server, { name: 'a', node: NODE });
  const { lw } = watchPods(t, server);
  await eventually(() => server.openWatchCount() === 1, 'the watch');
  const since = Date.now();
  server.clearRequestLog();
  const syncBefore = lw.status().lastSync ?? 0;
  await sleep(5000);
  t.equal(server.requestLog.length, 0, 'no request at all in 5 s');
  t.equal(server.openWatchCount(), 1, 'the same watch is still open');
  t.ok((lw.status().lastSync ?? 0) > syncBefore, 'bookmarks advance lastSync');
  t.ok((lw.status().lastSync ?? 0) >= since + 3000, 'the last bookmark is recent');
  t.match(lw.status(), { up: true, relists: 0, watchRestarts: 0 });

  // The bookmark's resourceVersion is where the next watch starts.
  const rvBefore = Number(server.store.resourceVersion());
  createPod(server, { name: 'elsewhere', node: 'node-2' });
  await sleep(1500);
  server.faults.dropWatches();
  await eventually(() => server.requestLog.some((r) => r.watch), 'the re-watch');
  const rewatch = server.requestLog.find((r) => r.watch);
  t.ok(
    Number(rewatch?.query['resourceVersion']) > rvBefore,
    `the re-watch starts after the bookmark (${rewatch?.query['resourceVersion']} > ${rvBefore})`,
  );
});

t.test('a watch that ends at its timeout is renewed, one per period', async (t) => {
  const server = await serve(t, { bookmarkIntervalMs: 60_000 });
  createPod(server, { name: 'a', node: NODE });
  const { lw } = watchPods(t, server, { watchTimeoutSeconds: 1, watchTimeoutJitterSeconds: 0 });
  await eventually(() => server.openWatchCount() === 1, 'the watch');
  await sleep(3300);
  const watches = podRequests(server).filter((r) => r.watch).length;
  t.ok(watches >= 3 && watches <= 5, `${watches} watches in ~3 s with a 1 s timeout`);
  t.equal(podRequests(server).filter((r) => !r.watch).length, 1, 'no relist');
  t.equal(lw.status().lastError, undefined, 'a normal end is not an error');
});

t.test('a silent watch is abandoned after the idle timeout', async (t) => {
  const server = await serve(t, { bookmarkIntervalMs: 60_000 });
  const { lw } = watchPods(t, server, { idleTimeoutMs: 300 });
  await eventually(() => lw.status().watchRestarts >= 2, 'the idle watches to be replaced', 3000);
  t.match(lw.status().lastError, /no data on the watch/);
  createPod(server, { name: 'late', node: NODE });
  await eventually(sameAsServer(server, lw), 'the pod after re-watching');
});

t.test('stop ends the open watch and the loop', async (t) => {
  const server = await serve(t);
  const { lw } = watchPods(t, server);
  await eventually(() => server.openWatchCount() === 1, 'the watch');
  await lw.stop();
  await eventually(() => server.openWatchCount() === 0, 'the watch to close', 1000);
  const before = server.requestLog.length;
  await sleep(300);
  t.equal(server.requestLog.length, before, 'nothing after stop');
});

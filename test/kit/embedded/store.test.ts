import t from 'tap';
import { resourceType } from './resources.ts';
import { VersionedStore } from './store.ts';

const pods = resourceType('pods');
const secrets = resourceType('secrets');
const pod = (name: string, node: string) => ({
  metadata: { name, namespace: 'ns' },
  spec: { nodeName: node },
});

t.test('every write takes the next global resourceVersion', async (t) => {
  const store = new VersionedStore({ initialResourceVersion: 10, historySize: 100 });
  t.equal(store.put(pods, pod('a', 'n1')).object.metadata.resourceVersion, '11');
  t.equal(store.put(secrets, { metadata: { name: 's', namespace: 'ns' } }).resourceVersion, 12);
  const change = store.put(pods, pod('a', 'n2'));
  t.equal(change.type, 'MODIFIED');
  t.equal(change.previous?.metadata.resourceVersion, '11');
  const removed = store.remove(pods, 'ns/a');
  t.equal(removed?.type, 'DELETED');
  t.equal(
    removed?.object.metadata.resourceVersion,
    '14',
    'a deletion is stamped with its own version',
  );
  t.equal(store.remove(pods, 'ns/a'), undefined);
});

t.test('a snapshot at an old resourceVersion undoes later changes', async (t) => {
  const store = new VersionedStore({ initialResourceVersion: 1, historySize: 100 });
  store.put(pods, pod('a', 'n1'));
  store.put(pods, pod('b', 'n1'));
  const at = store.resourceVersion;
  store.put(pods, pod('a', 'n2'));
  store.remove(pods, 'ns/b');
  store.put(pods, pod('c', 'n1'));
  const snapshot = store.snapshotAt(pods, at);
  t.ok(snapshot.ok);
  if (snapshot.ok) {
    t.same(
      snapshot.value.map((p) => [p.metadata.name, (p['spec'] as { nodeName: string }).nodeName]),
      [
        ['a', 'n1'],
        ['b', 'n1'],
      ],
    );
  }
  t.match(store.snapshotAt(pods, store.resourceVersion + 5), { ok: false, error: { code: 504 } });
});

t.test('history is bounded per resource and older versions are 410', async (t) => {
  const store = new VersionedStore({ initialResourceVersion: 1, historySize: 2 });
  for (const name of ['a', 'b', 'c']) store.put(pods, pod(name, 'n1'));
  t.match(store.changesAfter(pods, 1), { ok: false, error: { code: 410, reason: 'Expired' } });
  t.match(store.changesAfter(pods, 2), { ok: true, value: [{ type: 'ADDED' }, { type: 'ADDED' }] });
  t.match(
    store.changesAfter(secrets, 1),
    { ok: true, value: [] },
    'other resources keep their own window',
  );
});

t.test('expiring history makes every version handed out so far too old', async (t) => {
  const store = new VersionedStore({ initialResourceVersion: 1, historySize: 100 });
  store.put(pods, pod('a', 'n1'));
  const latest = store.resourceVersion;
  store.expireHistory();
  t.match(store.changesAfter(pods, latest), { ok: false, error: { code: 410 } });
  t.match(store.changesAfter(secrets, latest), { ok: false, error: { code: 410 } });
  t.match(store.changesAfter(pods, store.resourceVersion), { ok: true, value: [] });
});

t.test('listeners see each change once, in order', async (t) => {
  const store = new VersionedStore({ initialResourceVersion: 1, historySize: 100 });
  const seen: string[] = [];
  const unsubscribe = store.subscribe((rt, c) =>
    seen.push(`${rt.resource} ${c.type} ${c.resourceVersion}`),
  );
  store.put(pods, pod('a', 'n1'));
  store.remove(pods, 'ns/a');
  unsubscribe();
  store.put(pods, pod('b', 'n1'));
  t.same(seen, ['pods ADDED 2', 'pods DELETED 3']);
});

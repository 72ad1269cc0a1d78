import t from 'tap';
import { detect } from '../detect/detect.ts';
import {
  cachedImage,
  container,
  owner,
  pod,
  snapshotOf,
  T0,
  MINUTE,
} from '../../test/kit/snapshot-builder.ts';
import type { DetectedFinding } from '../detect/finding.ts';
import { FindingsStore, LAST_SEEN_STEP_MS } from './store.ts';

const IMAGE = 'registry.example.com/team-a/app:v1';
const base = {
  images: [cachedImage('s', { tags: [IMAGE] })],
  provenance: [{ seed: 's', owners: [owner('tenant-a', 'creds', 'a')] }],
  visibility: { 'registry.example.com/team-a/app': 'private' as const },
};
const withB = snapshotOf({ ...base, pods: [pod('tenant-b', 'web', [container(IMAGE)])] });
const withoutB = snapshotOf({ ...base, pods: [] });

t.test(
  'a new finding is added once, keeps its first-seen time, and retires with its pod',
  async (t) => {
    const store = new FindingsStore();
    const first = store.apply(detect(withB), T0);
    t.same(first.added.map((f) => f.rule).sort(), [
      'always-pull-images-not-enforced',
      'private-image-exposed',
      'unauthorized-cached-image-use',
    ]);
    const again = store.apply(detect(withB), T0 + MINUTE);
    t.same(again.added, [], 'nothing new on a resync');
    const use = again.active.find((f) => f.rule === 'unauthorized-cached-image-use');
    t.equal(use?.firstSeen, new Date(T0).toISOString());
    t.equal(use?.lastSeen, new Date(T0 + MINUTE).toISOString());
    const gone = store.apply(detect(withoutB), T0 + 2 * MINUTE);
    t.same(gone.retired.map((f) => f.rule).sort(), [
      'always-pull-images-not-enforced',
      'private-image-exposed',
      'unauthorized-cached-image-use',
    ]);
    t.same(store.active(), []);
    t.equal(store.detectedTotal().get('unauthorized-cached-image-use'), 1, 'counted once');
  },
);

t.test(
  'first-seen survives a restart and a remembered finding is not counted as new',
  async (t) => {
    const before = new FindingsStore();
    before.apply(detect(withB), T0);
    const after = new FindingsStore(before.times());
    const change = after.apply(detect(withB), T0 + 10 * MINUTE);
    t.same(change.added, []);
    t.ok(change.active.every((f) => f.firstSeen === new Date(T0).toISOString()));
    t.equal(after.detectedTotal().size, 0);
  },
);

t.test('duplicate detections of one situation are reported once', async (t) => {
  const store = new FindingsStore();
  const d = detect(withB);
  t.equal(store.apply([...d, ...d], T0).active.length, d.length);
});

t.test(
  'a lasting finding is kept as the same object until its lastSeen is a step old',
  async (t) => {
    const at = (ms: number) => new Date(ms).toISOString();
    const cases: {
      readonly name: string;
      readonly later: number;
      readonly change?: (d: DetectedFinding) => DetectedFinding;
      readonly sameObject: boolean;
      readonly lastSeen: number;
    }[] = [
      { name: 'confirmed at once', later: 1, sameObject: true, lastSeen: T0 },
      {
        name: 'confirmed just under a step later',
        later: LAST_SEEN_STEP_MS - 1,
        sameObject: true,
        lastSeen: T0,
      },
      {
        name: 'confirmed a step later',
        later: LAST_SEEN_STEP_MS,
        sameObject: false,
        lastSeen: T0 + LAST_SEEN_STEP_MS,
      },
      {
        name: 'changed within the step',
        later: 1,
        change: (d) => ({ ...d, evidence: [...d.evidence, 'one line more'] }),
        sameObject: false,
        lastSeen: T0 + 1,
      },
      {
        name: 'a field gone within the step',
        later: 1,
        change: (d) => {
          const rest: Record<string, unknown> = { ...d };
          delete rest['remediation'];
          return rest as unknown as DetectedFinding;
        },
        sameObject: false,
        lastSeen: T0 + 1,
      },
    ];
    for (const c of cases) {
      const store = new FindingsStore();
      const [before] = store.apply(detect(withB), T0).active;
      if (before === undefined) throw new Error('no finding');
      // detect() makes new objects every time, as in the agent.
      const again = detect(withB).map((d) => (d.id === before.id && c.change ? c.change(d) : d));
      const change = store.apply(again, T0 + c.later);
      const after = store.get(before.id);
      t.equal(after === before, c.sameObject, `${c.name}: the same object`);
      t.equal(after?.lastSeen, at(c.lastSeen), `${c.name}: lastSeen`);
      t.equal(after?.firstSeen, at(T0), `${c.name}: firstSeen kept`);
      t.same([change.added, change.retired], [[], []], `${c.name}: nothing added or retired`);
    }
  },
);

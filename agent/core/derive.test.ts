// derive(): the loop's pure step. Cases as the loop meets them: one derive after another, the
// state of each handed to the next.
import t from 'tap';
import { DetectionMemory } from '../detect/memory.ts';
import {
  T0,
  cachedImage,
  container,
  credential,
  imageId,
  pod,
  secret,
} from '../../test/kit/snapshot-builder.ts';
import type {
  ImageOwner,
  ImageProvenance,
  KubeletImageEvent,
  PodView,
  SecretView,
} from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import { kubeletEventKey, secretKey } from '../model/snapshot.ts';
import { Inventory } from '../image/inventory.ts';
import {
  derive,
  initialProvenanceState,
  provenanceChangeOf,
  provenanceSaveDue,
  type Observation,
  type ProvenanceChange,
  type ProvenanceState,
} from './derive.ts';

const REG = 'registry.example.com';
const APP = `${REG}/team-a/app:v1`;
const tool = cachedImage('tool', { tags: [`${REG}/shared/tool:v1`] });
const app = cachedImage('app', { tags: [APP] });
const before = new Inventory([tool]);
const after = new Inventory([tool, app], before);
const starting = (secrets: readonly string[]): PodView =>
  pod(
    'team-a',
    'web',
    [container(APP, { state: { kind: 'waiting', reason: 'ContainerCreating' } })],
    {
      pullSecrets: secrets,
    },
  );
const teamASecret = secret('team-a', 'pull', [credential(REG, 'a')]);

function observe(parts: Partial<Observation>): Observation {
  return {
    node: 'node-1',
    now: T0,
    inventory: after,
    listedBefore: new Set(before.entries().map((e) => e.id)),
    pods: [],
    namespaces: new Map(),
    tenantLabel: undefined,
    ignoredNamespaces: new Set(),
    secrets: new Map(),
    kubeletEvents: new Map(),
    kubeletRecords: new Map(),
    kubeletRecordsAvailable: false,
    kubeletConfig: { kind: 'off' },
    answers: { visibility: new Map(), verdicts: new Map() },
    forgetGraceMs: 120_000,
    ...parts,
  };
}

const secretsOf = (...views: SecretView[]) =>
  new Map(views.map((v) => [secretKey(v.namespace, v.name), v]));

t.test(
  'an arrival whose starting pod has an unread secret stays new until it is read',
  async (t) => {
    const memory = new DetectionMemory();
    const pods = [starting(['pull'])];
    const first = derive(initialProvenanceState(new Map()), observe({ pods }), memory);
    t.match(
      first.state.ownerPending.get(imageId('app')),
      /team-a\/pull of pod team-a\/web is not read yet/,
    );
    t.same(first.state.provenance.get(imageId('app'))?.owners ?? [], [], 'no owner yet');
    t.ok(first.state.pendingArrivals.has(imageId('app')));
    t.equal(first.snapshot.ownerPending, first.state.ownerPending, 'the snapshot says so too');

    // The listing did not change since, but the arrival is still folded as new.
    const second = derive(first.state, observe({ pods, secrets: secretsOf(teamASecret) }), memory);
    t.same(
      second.state.provenance
        .get(imageId('app'))
        ?.owners.map((o) => [o.tenant, o.secret, o.source]),
      [['team-a', 'pull', 'observed-pull']],
    );
    t.equal(second.state.ownerPending.size, 0);
    t.equal(second.provenanceChange, 'knowledge', 'worth saving');
  },
);

t.test('nothing new: the same objects come back and nothing is worth saving', async (t) => {
  const memory = new DetectionMemory();
  const seen = observe({ pods: [starting(['pull'])], secrets: secretsOf(teamASecret) });
  const first = derive(initialProvenanceState(new Map()), seen, memory);
  const again = derive(
    first.state,
    { ...seen, listedBefore: new Set(after.entries().map((e) => e.id)) },
    memory,
  );
  t.equal(again.provenanceChange, 'none');
  t.equal(again.state.ownerPending, first.state.ownerPending);
  t.equal(again.state.provenance.get(imageId('app')), first.state.provenance.get(imageId('app')));
});

t.test('what the kubelet visibly verifies', async (t) => {
  const cases: readonly {
    name: string;
    records: boolean;
    events: readonly KubeletImageEvent[];
    expected: 'on' | 'off' | 'unknown';
  }[] = [
    { name: 'its records are on disk', records: true, events: [], expected: 'on' },
    {
      name: 'it said "can be accessed by the pod"',
      records: false,
      events: ['already-present', 'already-present-verified'],
      expected: 'on',
    },
    {
      name: 'it said only "already present"',
      records: false,
      events: ['already-present'],
      expected: 'off',
    },
    { name: 'nothing is known', records: false, events: ['pulled'], expected: 'unknown' },
  ];
  for (const c of cases) {
    const events = new Map(c.events.map((e, i) => [kubeletEventKey(`uid-${i}`, 'app'), e]));
    const derived = derive(
      initialProvenanceState(new Map()),
      observe({ kubeletRecordsAvailable: c.records, kubeletEvents: events }),
      new DetectionMemory(),
    );
    t.equal(derived.snapshot.kubeletVerification, c.expected, c.name);
  }
});

t.test('the first listing after a start makes nothing new', async (t) => {
  const state: ProvenanceState = initialProvenanceState(new Map());
  const derived = derive(
    state,
    observe({
      listedBefore: undefined,
      pods: [starting(['pull'])],
      secrets: secretsOf(teamASecret),
    }),
    new DetectionMemory(),
  );
  t.equal(derived.state.provenance.size, 0);
  t.equal(derived.state.pendingArrivals.size, 0);
});

t.test('what a provenance change is, and when it is saved', async (t) => {
  const owner = (over: Partial<ImageOwner> = {}): ImageOwner => ({
    tenant: 'team-a' as ImageOwner['tenant'],
    namespace: 'team-a',
    secret: 'pull',
    fingerprint: undefined,
    credentialHash: undefined,
    source: 'kubelet-record',
    firstSeen: 1_000,
    lastSeen: 1_000,
    ...over,
  });
  const id = imageId('app');
  const provenance = (over: Partial<ImageProvenance> = {}) =>
    new Map<ImageId, ImageProvenance>([
      [id, { imageId: id, owners: [owner()], nodeWide: false, cachedSince: 500, ...over }],
    ]);
  const base = provenance();
  const changes: readonly [
    name: string,
    next: ReadonlyMap<ImageId, ImageProvenance>,
    change: ProvenanceChange,
  ][] = [
    ['the same map', base, 'none'],
    ['equal content in new objects', provenance(), 'none'],
    [
      'an owner seen again later',
      provenance({ owners: [owner({ lastSeen: 2_000 })] }),
      'last-seen',
    ],
    ['another owner', provenance({ owners: [owner({ secret: 'other' })] }), 'knowledge'],
    [
      'an owner more',
      provenance({ owners: [owner(), owner({ tenant: 'team-b' as ImageOwner['tenant'] })] }),
      'knowledge',
    ],
    [
      'a stronger source',
      provenance({ owners: [owner({ source: 'observed-pull' })] }),
      'knowledge',
    ],
    ['cached since another time', provenance({ cachedSince: 600 }), 'knowledge'],
    ['node-wide now', provenance({ nodeWide: true }), 'knowledge'],
    ['an image gone', new Map(), 'knowledge'],
  ];
  for (const [name, next, change] of changes) t.equal(provenanceChangeOf(base, next), change, name);

  const minute = 60_000;
  const saves: readonly [name: string, change: ProvenanceChange, sinceSave: number, due: string][] =
    [
      ['knowledge: at once', 'knowledge', 1_000, 'now'],
      ['nothing new: nothing', 'none', 60 * minute, 'nothing'],
      ['last-seen within ten minutes: later', 'last-seen', 9 * minute, 'later'],
      ['last-seen after ten minutes: now', 'last-seen', 10 * minute, 'now'],
    ];
  for (const [name, change, sinceSave, due] of saves)
    t.equal(provenanceSaveDue(change, 100 * minute + sinceSave, 100 * minute), due, name);
});

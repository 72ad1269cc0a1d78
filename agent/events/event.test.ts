// The Warning Event pullwatch puts on a flagged pod, built from findings that detect() made out
// of snapshots: the seed story, and a node where many tenants' images meet. The Event lands in
// the pod's own namespace, so nothing in it may name another tenant.
import t from 'tap';
import { detect } from '../detect/detect.ts';
import type { DetectedFinding, UnauthorizedCachedImageUse } from '../detect/finding.ts';
import type { SnapshotParts } from '../../test/kit/snapshot-builder.ts';
import {
  cachedImage,
  container,
  credential,
  MINUTE,
  owner,
  seedStoryParts,
  pod,
  secret,
  snapshotOf,
  T0,
} from '../../test/kit/snapshot-builder.ts';
import {
  canReportFrom,
  containerFieldPath,
  eventName,
  eventNote,
  isEventFinding,
  MAX_NOTE_BYTES,
  microTime,
  podEvent,
  truncateUtf8,
} from './event.ts';

const REG = 'registry.example.com';
const NAME = `${REG}/team-a/super-secret-image-1`;
const IMAGE = `${NAME}:v1`;
const AT = Date.parse('2026-12-03T11:40:41.123Z') + 0.456;

const seedStory = seedStoryParts();

// Five tenants on one node: two owners of one image (one under a tenant label), a guessed
// owner, and three other tenants' pods (an init and an ephemeral container among them) that
// run it from the cache.
const SHARED = `${REG}/platform/billing-engine:4.2`;
const SHARED_NAME = `${REG}/platform/billing-engine`;
const manyTenants: SnapshotParts = {
  images: [cachedImage('billing', { tags: [SHARED], digestRepos: [SHARED_NAME] })],
  pods: [
    pod('finance-prod', 'ledger-7c9f', [container(SHARED)], {
      pullSecrets: ['finance-registry-creds'],
      createdAt: T0 - MINUTE,
    }),
    pod('payments-eu', 'settle-0', [container(SHARED)], {
      pullSecrets: ['payments-pull'],
      createdAt: T0 - MINUTE,
    }),
    pod('marketing', 'campaign-runner', [
      container(SHARED, { name: 'setup', kind: 'init' }),
      container('docker.io/library/nginx:1.27', { name: 'web' }),
    ]),
    pod('ml-research', 'notebook-3', [container(SHARED, { name: 'kernel' })]),
    pod('ml-research', 'notebook-4', [
      container('docker.io/library/python:3.13', { name: 'main' }),
      container(SHARED, { name: 'debugger', kind: 'ephemeral' }),
    ]),
  ],
  secrets: [
    secret('finance-prod', 'finance-registry-creds', [credential(REG, 'fin')]),
    secret('payments-eu', 'payments-pull', [credential(REG, 'pay')]),
  ],
  provenance: [
    {
      seed: 'billing',
      owners: [
        owner('finance-prod', 'finance-registry-creds', 'fin', { tenant: 'acme-finance' }),
        owner('payments-eu', 'payments-pull', 'pay'),
      ],
      cachedSince: T0,
    },
  ],
  namespaceLabels: { 'finance-prod': { 'example.com/tenant': 'acme-finance' } },
  tenantLabel: 'example.com/tenant',
  visibility: { [SHARED_NAME]: 'private' },
};

function unauthorizedUses(parts: SnapshotParts): UnauthorizedCachedImageUse[] {
  return detect(snapshotOf(parts)).filter(
    (f: DetectedFinding): f is UnauthorizedCachedImageUse =>
      f.rule === 'unauthorized-cached-image-use',
  );
}

/** Every name of a tenant other than the pod's own, as the finding knows them. */
function otherTenantStrings(parts: SnapshotParts, finding: UnauthorizedCachedImageUse): string[] {
  const strings = new Set<string>();
  for (const o of [...finding.owners, ...finding.possibleOwners]) {
    strings.add(o.tenant);
    strings.add(o.namespace);
    if (o.secret !== null) strings.add(o.secret);
  }
  for (const p of parts.pods) {
    if (p.namespace === finding.namespace) continue;
    strings.add(p.namespace);
    strings.add(p.name);
    for (const s of p.pullSecretNames) strings.add(s);
  }
  for (const s of parts.secrets ?? []) {
    if (s.namespace !== finding.namespace) strings.add(s.name);
  }
  return [...strings];
}

const stories = [
  { name: 'the seed story', parts: seedStory, flagged: ['tenant-b/admin2-pod/app'] },
  {
    name: 'five tenants sharing one node',
    parts: manyTenants,
    flagged: [
      'marketing/campaign-runner/setup',
      'ml-research/notebook-3/kernel',
      'ml-research/notebook-4/debugger',
    ],
  },
];

for (const story of stories) {
  t.test(`${story.name}: no Event names another tenant`, async (t) => {
    const findings = unauthorizedUses(story.parts);
    t.same(
      findings.map((f) => `${f.namespace}/${f.pod}/${f.container}`).sort(),
      story.flagged,
      'the flagged containers',
    );
    for (const finding of findings) {
      const text = JSON.stringify(podEvent(finding, AT));
      const others = otherTenantStrings(story.parts, finding);
      t.ok(others.length > 0, 'the story has other tenants to hide');
      for (const other of others) {
        t.notOk(text.includes(other), `${finding.pod}'s Event does not contain "${other}"`);
      }
      // The finding itself does name them: the test would notice if the builder used it.
      t.ok(
        JSON.stringify(finding).includes(finding.owners[0]?.namespace ?? '\0'),
        'the finding names its owner',
      );
    }
  });
}

t.test('the seed story: the Event on admin2-pod', async (t) => {
  const [finding] = unauthorizedUses(seedStory);
  if (finding === undefined) throw new Error('the seed story flags admin2-pod');
  const event = podEvent(finding, AT);
  t.match(event, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { namespace: 'tenant-b', name: /^admin2-pod\.[0-9a-f]{16}$/ },
    regarding: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'tenant-b',
      name: 'admin2-pod',
      uid: 'uid-tenant-b-admin2-pod',
      fieldPath: 'spec.containers{app}',
    },
    type: 'Warning',
    reason: 'UnauthorizedCachedImage',
    action: 'Detected',
    reportingController: 'pullwatch.dev/agent',
    reportingInstance: finding.node,
    eventTime: '2026-12-03T11:40:41.123456Z',
  });
  t.notOk('series' in event, 'a first Event is no series');
  t.match(
    event.note,
    /^Container app runs registry\.example\.com\/team-a\/super-secret-image-1:v1 /,
  );
  t.match(event.note, /credentials this namespace does not hold/);
  t.match(event.note, /imagePullSecret for registry\.example\.com/);
  t.match(event.note, /AlwaysPullImages/);
  t.ok(
    event.note.endsWith(`pullwatch finding ${finding.id}.`),
    'the note ends with the finding id',
  );
});

t.test('field paths as the kubelet writes them', async (t) => {
  const cases = [
    { kind: 'regular', want: 'spec.containers{app}' },
    { kind: 'init', want: 'spec.initContainers{app}' },
    { kind: 'ephemeral', want: 'spec.ephemeralContainers{app}' },
  ] as const;
  for (const c of cases) t.equal(containerFieldPath(c.kind, 'app'), c.want, c.kind);
});

t.test('event names', async (t) => {
  const base = { pod: 'admin2-pod', podUid: 'uid-1', id: 'finding-1' };
  const cases = [
    {
      name: 'the same pod and finding name the same Event, after a restart too',
      a: base,
      b: { ...base },
      same: true,
    },
    { name: 'another finding on the pod', a: base, b: { ...base, id: 'finding-2' }, same: false },
    {
      name: 'a pod of the same name, recreated',
      a: base,
      b: { ...base, podUid: 'uid-2' },
      same: false,
    },
  ];
  for (const c of cases) {
    t.equal(eventName(c.a) === eventName(c.b), c.same, c.name);
  }
  const long = eventName({ ...base, pod: `${'a'.repeat(240)}-${'b'.repeat(12)}` });
  t.ok(long.length <= 253, `a 253-character pod name still gives a valid name (${long.length})`);
  t.match(long, /^a+\.[0-9a-f]{16}$/, 'cut where a label may end');
  t.match(eventName({ ...base, pod: 'x'.repeat(236) + '-y' }), /^x{236}\.[0-9a-f]{16}$/);
});

t.test('MicroTime has six fractional digits', async (t) => {
  const cases = [
    { name: 'whole milliseconds', ms: Date.parse('2026-01-02T03:04:05.678Z'), want: '678000' },
    {
      name: 'fractions of a millisecond',
      ms: Date.parse('2026-01-02T03:04:05.678Z') + 0.9,
      want: '678900',
    },
    { name: 'the epoch', ms: 0, want: '000000' },
  ];
  for (const c of cases) {
    t.match(
      microTime(c.ms),
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.${c.want}Z$`),
      c.name,
    );
  }
});

t.test('the note never exceeds 1 kB, however long the image name', async (t) => {
  const [finding] = unauthorizedUses(seedStory);
  if (finding === undefined) throw new Error('the seed story flags admin2-pod');
  const cases = [
    { name: 'the seed image', image: IMAGE },
    { name: 'a 900-character image name', image: `${REG}/${'deep/'.repeat(178)}x:v1` },
    { name: 'multi-byte characters at the cut', image: `${REG}/${'é'.repeat(600)}:v1` },
  ];
  for (const c of cases) {
    const note = eventNote({ ...finding, image: c.image });
    t.ok(Buffer.byteLength(note) <= MAX_NOTE_BYTES, `${c.name}: ${Buffer.byteLength(note)} bytes`);
    t.notOk(note.includes('\uFFFD'), `${c.name}: no broken character`);
  }
});

t.test('truncateUtf8', async (t) => {
  const cases = [
    { name: 'short text is kept', text: 'abc', max: 10, want: 'abc' },
    { name: 'exactly the limit is kept', text: 'abcdefghij', max: 10, want: 'abcdefghij' },
    { name: 'longer text ends in an ellipsis', text: 'abcdefghijk', max: 10, want: 'abcdefg…' },
    { name: 'a two-byte character is not split', text: 'éééééé', max: 8, want: 'éé…' },
  ];
  for (const c of cases) t.equal(truncateUtf8(c.text, c.max), c.want, c.name);
});

t.test('only unauthorized cached image use puts an Event on a pod', async (t) => {
  const findings = detect(snapshotOf(seedStory)).map((f) => ({
    ...f,
    firstSeen: '',
    lastSeen: '',
  }));
  t.same(
    findings.filter((f) => isEventFinding(f)).map((f) => f.rule),
    ['unauthorized-cached-image-use'],
  );
  t.ok(
    findings.some((f) => !isEventFinding(f)),
    'the other rules are there and write none',
  );
});

t.test('a node reports only when its name fits a label value', async (t) => {
  const cases = [
    { name: 'a usual node name', node: 'ip-10-0-1-23.eu-west-1.compute.internal', want: true },
    { name: '63 characters', node: 'n'.repeat(63), want: true },
    { name: '64 characters', node: 'n'.repeat(64), want: false },
  ];
  for (const c of cases) t.equal(canReportFrom(c.node), c.want, c.name);
});

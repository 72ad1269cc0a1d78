import t from 'tap';
import type { CriImage } from '../cri/types.ts';
import { podCredentialsFor } from '../detect/access.ts';
import type {
  ContainerRunState,
  CredentialVerdict,
  CredentialView,
  ImageOwner,
  ImageProvenance,
  PodView,
  ProvenanceSource,
  SecretView,
  TenantId,
} from '../model/snapshot.ts';
import { kubeletEventKey, secretKey, verdictKey } from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import { Inventory } from '../image/inventory.ts';
import type { CredentialFingerprint, CredentialHash } from '../credentials/credential-identity.ts';
import { parseRegistryKey } from '../credentials/keyring.ts';
import type { PulledRecord, RecordedCredentials } from './kubelet-record-format.ts';
import { decodeProvenanceState, encodeProvenanceState } from './state-format.ts';
import { withAdditions } from './owner-merge.ts';
import {
  STARTING_WINDOW_MS,
  foldResync,
  forgetRemoved,
  fromKubeletRecords,
  fromObservedPulls,
  fromPulledEvents,
  fromRunningPods,
  mergeOwners,
  OWNER_LAST_SEEN_STEP_MS,
  noteCacheArrivals,
  type CredentialsOf,
  type OwnerCorrection,
  type ProvenanceMap,
} from './update.ts';

// --- fixtures --------------------------------------------------------------------------------

const hex = (seed: string) => seed.repeat(64).slice(0, 64);
const appId = `sha256:${hex('a1')}` as ImageId;
const oldAppId = `sha256:${hex('a2')}` as ImageId;
const toolId = `sha256:${hex('b1')}` as ImageId;
const manifest = `sha256:${hex('d4')}`;
const oldManifest = `sha256:${hex('d5')}`;

const APP = 'registry.example.com/team-a/app:v1';
const TOOL = 'ghcr.io/tools/tool:v2';

function image(id: string, repoTags: string[], repoDigests: string[] = []): CriImage {
  return { id, repoTags, repoDigests, sizeBytes: 1000n, pinned: false };
}
const appImage = image(appId, [APP], [`registry.example.com/team-a/app@${manifest}`]);
const oldAppImage = image(oldAppId, [], [`registry.example.com/team-a/app@${oldManifest}`]);
const toolImage = image(toolId, [TOOL]);

const T0 = Date.UTC(2025, 5, 1, 10);
const MINUTE = 60_000;

// Namespaces team-a and team-a-dev belong to one tenant (as with --tenant-label).
const tenantOfNamespace = (namespace: string) =>
  (namespace.startsWith('team-a') ? 'team-a' : namespace) as TenantId;

function credential(key: string, seed: string): CredentialView {
  const matcher = parseRegistryKey(key);
  if (!matcher.ok) throw new Error(matcher.error);
  return {
    matcher: matcher.value,
    fingerprint: hex(`f${seed}`) as CredentialFingerprint,
    credentialHash: hex(`c${seed}`) as CredentialHash,
  };
}

const teamAKey = credential('registry.example.com', '1');
const teamAOtherKey = credential('registry.example.com/team-a', '2');
const teamBWrongKey = credential('registry.example.com', '3');
const ghcrKey = credential('ghcr.io', '4');

const secrets = new Map<string, SecretView>(
  (
    [
      ['team-a', 'pull', [teamAKey]],
      ['team-a', 'pull-narrow', [teamAOtherKey]],
      ['team-a-dev', 'pull', [teamAKey]],
      ['team-b', 'pull', [teamBWrongKey]],
      ['team-c', 'ghcr', [ghcrKey]],
    ] as const
  )
    .map(([namespace, name, credentials]): [string, SecretView] => [
      secretKey(namespace, name),
      { state: 'ok', namespace, name, credentials },
    ])
    .concat([
      [
        secretKey('team-d', 'pull'),
        {
          state: 'missing',
          namespace: 'team-d',
          name: 'pull',
          problem: 'pull secret team-d/pull does not exist',
        },
      ],
    ]),
);

// The real wiring: detect's podCredentialsFor over the pods' secrets.
const credentialsOf: CredentialsOf = (pod, location) => podCredentialsFor(secrets, pod, location);

interface PodSpec {
  readonly namespace: string;
  readonly name?: string;
  readonly secrets?: readonly string[];
  readonly image?: string;
  readonly state?: ContainerRunState;
  readonly pullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  readonly statusImageId?: string;
  readonly finished?: boolean;
}

function pod(spec: PodSpec): PodView {
  const name = spec.name ?? `${spec.namespace}-pod`;
  return {
    uid: `uid-${spec.namespace}-${name}`,
    namespace: spec.namespace,
    name,
    createdAt: T0 - MINUTE,
    serviceAccountName: 'default',
    pullSecretNames: spec.secrets ?? ['pull'],
    finished: spec.finished ?? false,
    containers: [
      {
        kind: 'regular',
        name: 'main',
        image: spec.image ?? APP,
        pullPolicy: spec.pullPolicy ?? 'IfNotPresent',
        state: spec.state ?? { kind: 'not-started' },
        statusImageId: spec.statusImageId,
      },
    ],
  };
}

const running = (startedAt: number): ContainerRunState => ({ kind: 'running', startedAt });
const empty: ProvenanceMap = new Map();
const inventoryBefore = new Inventory([toolImage]);
const inventoryAfter = new Inventory([toolImage, appImage]);

function owner(fields: Partial<ImageOwner> & Pick<ImageOwner, 'source'>): ImageOwner {
  return {
    tenant: 'team-a' as TenantId,
    namespace: 'team-a',
    secret: 'pull',
    fingerprint: teamAKey.fingerprint,
    credentialHash: teamAKey.credentialHash,
    firstSeen: T0,
    lastSeen: T0,
    ...fields,
  };
}

function provenance(imageId: ImageId, fields: Partial<ImageProvenance> = {}): ImageProvenance {
  return { imageId, cachedSince: undefined, owners: [], nodeWide: false, ...fields };
}

function pulledRecord(imageRef: ImageId, mapping: Record<string, Partial<RecordedCredentials>>) {
  const credentialMapping = new Map<string, RecordedCredentials>(
    Object.entries(mapping).map(([name, value]) => [
      name,
      {
        kubernetesSecrets: value.kubernetesSecrets ?? [],
        kubernetesServiceAccounts: value.kubernetesServiceAccounts ?? [],
        nodePodsAccessible: value.nodePodsAccessible ?? false,
      },
    ]),
  );
  const record: PulledRecord = {
    kind: 'ImagePulledRecord',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    lastUpdatedTime: T0 - 10 * MINUTE,
    imageRef,
    credentialMapping,
    warnings: [],
  };
  return record;
}

// --- kubelet records -------------------------------------------------------------------------

t.test('kubelet records', async (t) => {
  const hashA = hex('c1') as CredentialHash;
  const records = new Map([
    [
      appId,
      pulledRecord(appId, {
        'registry.example.com/team-a/app': {
          kubernetesSecrets: [
            { uid: 'u1', namespace: 'team-a-dev', name: 'pull', credentialHash: hashA },
          ],
          kubernetesServiceAccounts: [{ uid: 's1', namespace: 'team-b', name: 'builder' }],
        },
      }),
    ],
    [toolId, pulledRecord(toolId, { 'ghcr.io/tools/tool': { nodePodsAccessible: true } })],
    [oldAppId, pulledRecord(oldAppId, {})],
  ]);
  const next = fromKubeletRecords(empty, records, tenantOfNamespace);

  t.test('a recorded secret becomes an owner with its credentialHash', async (t) => {
    t.same(next.get(appId)?.owners[0], {
      tenant: 'team-a',
      namespace: 'team-a-dev',
      secret: 'pull',
      fingerprint: undefined,
      credentialHash: hashA,
      source: 'kubelet-record',
      firstSeen: T0 - 10 * MINUTE,
      lastSeen: T0 - 10 * MINUTE,
    });
  });
  t.test('a recorded service account becomes an owner without a secret', async (t) => {
    t.same(next.get(appId)?.owners[1], {
      tenant: 'team-b',
      namespace: 'team-b',
      secret: undefined,
      fingerprint: undefined,
      credentialHash: undefined,
      source: 'kubelet-record',
      firstSeen: T0 - 10 * MINUTE,
      lastSeen: T0 - 10 * MINUTE,
    });
  });
  t.test('nodePodsAccessible makes the image node-wide, with no owner', async (t) => {
    t.same(next.get(toolId), provenance(toolId, { nodeWide: true }));
    t.equal(next.get(appId)?.nodeWide, false);
  });
  t.test('an empty mapping ("verify next time") adds nothing', async (t) => {
    t.equal(next.has(oldAppId), false);
  });
  t.test(
    'reading the same record again changes nothing; a newer time moves lastSeen',
    async (t) => {
      const again = fromKubeletRecords(next, records, tenantOfNamespace);
      t.same(again, next);
      t.equal(again.get(appId), next.get(appId), 'the very same object: nothing was new');
      const later = new Map(records);
      const appRecord = records.get(appId);
      if (appRecord === undefined) throw new Error('fixture');
      later.set(appId, { ...appRecord, lastUpdatedTime: T0 });
      const owners = fromKubeletRecords(next, later, tenantOfNamespace).get(appId)?.owners;
      t.same(
        owners?.map((o) => [o.firstSeen, o.lastSeen]),
        [
          [T0 - 10 * MINUTE, T0],
          [T0 - 10 * MINUTE, T0],
        ],
      );
    },
  );
  t.test('the previous map is not changed', async (t) => {
    const prev = new Map([[appId, provenance(appId)]]);
    fromKubeletRecords(prev, records, tenantOfNamespace);
    t.same(prev, new Map([[appId, provenance(appId)]]));
  });
});

// --- observed pulls --------------------------------------------------------------------------

interface ObservedCase {
  readonly name: string;
  readonly pods: readonly PodView[];
  readonly previous?: Inventory | undefined;
  readonly prev?: ProvenanceMap;
  readonly expectedOwners: readonly ImageOwner[];
  readonly expectedCachedSince?: number | undefined;
  readonly expectedPending?: readonly ImageId[];
}

const observedOwner = (fields: Partial<ImageOwner> = {}) =>
  owner({ source: 'observed-pull', ...fields });

const observedCases: readonly ObservedCase[] = [
  {
    name: 'a new image and a starting pod holding a matching secret: that secret pulled it',
    pods: [pod({ namespace: 'team-a' })],
    expectedOwners: [observedOwner()],
    expectedCachedSince: T0,
  },
  {
    name: 'an image that was already cached before gets no observed-pull owner',
    pods: [pod({ namespace: 'team-a' })],
    previous: inventoryAfter,
    expectedOwners: [],
    expectedCachedSince: undefined,
  },
  {
    name: 'a starting pod without a credential for the registry gets no owner',
    pods: [pod({ namespace: 'team-c', secrets: ['ghcr'] })],
    expectedOwners: [],
  },
  {
    name: 'a pod whose pull secret does not exist gets no owner',
    pods: [pod({ namespace: 'team-d' })],
    expectedOwners: [],
  },
  {
    name: 'of two matching secrets, the one the kubelet tries first is the owner',
    // Keys are tried longest first: registry.example.com/team-a before registry.example.com.
    pods: [pod({ namespace: 'team-a', secrets: ['pull', 'pull-narrow'] })],
    expectedOwners: [
      observedOwner({
        secret: 'pull-narrow',
        fingerprint: teamAOtherKey.fingerprint,
        credentialHash: teamAOtherKey.credentialHash,
      }),
    ],
  },
  {
    name: 'starting pods of two tenants with matching secrets: both are recorded (we cannot tell which pulled)',
    pods: [
      pod({ namespace: 'team-a' }),
      pod({ namespace: 'team-b', state: { kind: 'waiting', reason: 'ContainerCreating' } }),
    ],
    expectedOwners: [
      observedOwner(),
      observedOwner({
        tenant: 'team-b' as TenantId,
        namespace: 'team-b',
        fingerprint: teamBWrongKey.fingerprint,
        credentialHash: teamBWrongKey.credentialHash,
      }),
    ],
  },
  {
    name: 'a container that started a minute ago is still starting',
    pods: [pod({ namespace: 'team-a', state: running(T0 - MINUTE) })],
    expectedOwners: [observedOwner()],
  },
  {
    name: 'a container that started long ago did not pull the new image',
    pods: [pod({ namespace: 'team-a', state: running(T0 - STARTING_WINDOW_MS - 1) })],
    expectedOwners: [],
  },
  {
    name: 'a short job that already finished after starting a minute ago still counts',
    pods: [
      pod({
        namespace: 'team-a',
        finished: true,
        state: { kind: 'terminated', exitCode: 0, startedAt: T0 - MINUTE },
      }),
    ],
    expectedOwners: [observedOwner()],
  },
  {
    name: 'a container whose pull failed did not bring the image',
    pods: [pod({ namespace: 'team-a', state: { kind: 'waiting', reason: 'ImagePullBackOff' } })],
    expectedOwners: [],
  },
  {
    name: 'a container with imagePullPolicy Never never pulls',
    pods: [pod({ namespace: 'team-a', pullPolicy: 'Never' })],
    expectedOwners: [],
  },
  {
    name: 'a pod that is being deleted starts nothing',
    pods: [pod({ namespace: 'team-a', finished: true })],
    expectedOwners: [],
  },
  {
    name: 'a pod referencing another image is no evidence for the new one',
    pods: [pod({ namespace: 'team-a', image: 'registry.example.com/team-a/app:v2' })],
    expectedOwners: [],
  },
  {
    name: 'a starting pod whose pull secret is not read yet: the arrival waits (pending), no owner yet',
    pods: [pod({ namespace: 'team-a', secrets: ['pull', 'not-read-yet'] })],
    expectedOwners: [],
    expectedPending: [appId],
  },
  {
    name: 'on the first listing after a start nothing counts as new',
    pods: [pod({ namespace: 'team-a' })],
    previous: undefined,
    expectedOwners: [],
    expectedCachedSince: undefined,
  },
  {
    name: 'an earlier cachedSince is kept',
    pods: [pod({ namespace: 'team-a' })],
    prev: new Map([[appId, provenance(appId, { cachedSince: T0 - 5 * MINUTE })]]),
    expectedOwners: [observedOwner()],
    expectedCachedSince: T0 - 5 * MINUTE,
  },
];

for (const c of observedCases) {
  t.test(`observed pull: ${c.name}`, async (t) => {
    const previous = 'previous' in c ? c.previous : inventoryBefore;
    const next = fromObservedPulls(c.prev ?? empty, {
      previousImageIds: previous === undefined ? undefined : previous,
      inventory: inventoryAfter,
      pods: c.pods,
      credentialsOf,
      tenantOfNamespace,
      now: T0,
    });
    t.same(next.provenance.get(appId)?.owners ?? [], c.expectedOwners);
    if ('expectedCachedSince' in c)
      t.equal(next.provenance.get(appId)?.cachedSince, c.expectedCachedSince);
    t.equal(next.provenance.has(toolId), false, 'the image that was already there is untouched');
    t.same([...next.pending.keys()], c.expectedPending ?? []);
  });
}

// --- running pods (bootstrap) ----------------------------------------------------------------

const APP_NAME = 'registry.example.com/team-a/app';

/** A credential the agent can present to the registry (verification on). */
function verifiable(credential: CredentialView): CredentialView {
  return {
    ...credential,
    check: {
      via: 'self',
      authorization: {
        fingerprint: credential.fingerprint,
        basicAuthorization: () => 'Basic eA==',
      },
    },
  };
}

const verifiableSecrets = new Map<string, SecretView>([
  ...[...secrets].map(([key, view]): [string, SecretView] => [
    key,
    view.state === 'ok' ? { ...view, credentials: view.credentials.map(verifiable) } : view,
  ]),
  [
    secretKey('team-e', 'flaky'),
    { state: 'unavailable', namespace: 'team-e', name: 'flaky', problem: 'HTTP 503; retrying' },
  ],
]);

type Verdicts = readonly (readonly [CredentialView, ImageId, CredentialVerdict])[];

function verdictsOf(verdicts: Verdicts): Map<string, CredentialVerdict> {
  return new Map(
    verdicts.map(([credential, id, verdict]) => [
      verdictKey(credential.fingerprint, APP_NAME, id),
      verdict,
    ]),
  );
}

interface RunningCase {
  readonly name: string;
  readonly prev: ProvenanceMap;
  readonly pods: readonly PodView[];
  readonly imageId?: ImageId;
  /** The registry's answers so far; absent: none asked yet. */
  readonly verdicts?: Verdicts;
  /** Verification off: credentials carry no check. */
  readonly verificationOff?: boolean;
  readonly records?: ReadonlyMap<ImageId, PulledRecord>;
  readonly expectedOwners: readonly ImageOwner[];
  readonly expectedPending?: RegExp;
}

const kubeletOwner = owner({
  source: 'kubelet-record',
  fingerprint: undefined,
  firstSeen: T0 - 60 * MINUTE,
  lastSeen: T0 - 60 * MINUTE,
});
const verifiedOwner = (fields: Partial<ImageOwner> = {}) =>
  owner({ source: 'verified-bootstrap', ...fields });
const possibleOwner = (fields: Partial<ImageOwner> = {}) =>
  owner({ source: 'unverified-bootstrap', ...fields });
const teamBFields = {
  tenant: 'team-b' as TenantId,
  namespace: 'team-b',
  fingerprint: teamBWrongKey.fingerprint,
  credentialHash: teamBWrongKey.credentialHash,
};
const teamARunning = pod({ namespace: 'team-a', state: running(T0 - 60 * MINUTE) });
const teamBRunning = pod({ namespace: 'team-b', state: running(T0 - 30 * MINUTE) });
const teamACanRead = [teamAKey, appId, 'can-read'] as const;
const teamBRefused = [teamBWrongKey, appId, 'cannot-read'] as const;

const runningCases: readonly RunningCase[] = [
  {
    name: 'an image found cached: a pod running it whose credential the registry confirms becomes the owner',
    prev: empty,
    pods: [teamARunning],
    verdicts: [teamACanRead],
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'a valid login the registry refuses for this repository makes no owner, not even a possible one',
    // Case 2 of the start-up race: mallory's login is valid for team-m/* only.
    prev: empty,
    pods: [teamARunning, teamBRunning],
    verdicts: [teamACanRead, teamBRefused],
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'a credential the registry could not judge (unreachable) makes a possible owner only',
    prev: empty,
    pods: [teamBRunning],
    verdicts: [[teamBWrongKey, appId, 'unknown']],
    expectedOwners: [possibleOwner(teamBFields)],
  },
  {
    name: 'with verification off every candidate is a possible owner, none an owner',
    prev: empty,
    pods: [teamARunning, teamBRunning],
    verificationOff: true,
    expectedOwners: [possibleOwner(), possibleOwner(teamBFields)],
  },
  {
    name: "a kubelet record holding the credential's hash verifies it without asking the registry",
    prev: empty,
    pods: [teamARunning],
    verificationOff: true,
    records: new Map([
      [
        appId,
        pulledRecord(appId, {
          [APP_NAME]: {
            kubernetesSecrets: [
              {
                uid: 'u9',
                namespace: 'elsewhere',
                name: 'same-login',
                credentialHash: teamAKey.credentialHash,
              },
            ],
          },
        }),
      ],
    ]),
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'the registry has not answered yet: pending, nothing decided',
    prev: empty,
    pods: [teamARunning, teamBRunning],
    verdicts: [teamACanRead],
    expectedOwners: [],
    expectedPending: /has not answered yet whether team-b\/pull/,
  },
  {
    name: "a running pod whose pull secret is not read yet: pending, and the other pods' answers wait too",
    prev: empty,
    pods: [
      teamARunning,
      pod({ namespace: 'team-b', secrets: ['pull', 'regcred'], state: running(T0) }),
    ],
    verdicts: [teamACanRead, teamBRefused],
    expectedOwners: [],
    expectedPending: /pull secret team-b\/regcred of pod team-b\/team-b-pod is not read yet/,
  },
  {
    name: 'a secret whose read failed in a way that may pass is unknown, not empty: pending',
    prev: empty,
    pods: [teamARunning, pod({ namespace: 'team-e', secrets: ['flaky'], state: running(T0) })],
    verdicts: [teamACanRead],
    expectedOwners: [],
    expectedPending: /team-e\/flaky/,
  },
  {
    name: 'of two matching credentials, one refused and one confirmed, the confirmed one is the owner',
    // pull-narrow (registry.example.com/team-a) is tried before pull (registry.example.com).
    prev: empty,
    pods: [pod({ namespace: 'team-a', secrets: ['pull', 'pull-narrow'], state: running(T0) })],
    verdicts: [[teamAOtherKey, appId, 'cannot-read'], teamACanRead],
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'never a bootstrap owner for an image that has owners from better evidence (no whitewashing)',
    prev: new Map([[appId, provenance(appId, { owners: [kubeletOwner] })]]),
    pods: [teamBRunning],
    verdicts: [[teamBWrongKey, appId, 'can-read']],
    expectedOwners: [kubeletOwner],
  },
  {
    name: 'the decision is taken once: a verified owner is not joined by later pods',
    prev: new Map([[appId, provenance(appId, { owners: [verifiedOwner()] })]]),
    pods: [teamBRunning],
    verdicts: [[teamBWrongKey, appId, 'can-read']],
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'possible owners give way once the registry confirms a credential (stronger evidence wins)',
    prev: new Map([[appId, provenance(appId, { owners: [possibleOwner(teamBFields)] })]]),
    pods: [teamARunning, teamBRunning],
    verdicts: [teamACanRead, teamBRefused],
    expectedOwners: [verifiedOwner()],
  },
  {
    name: 'an image seen arriving without an observed pull gets no bootstrap owner later',
    prev: new Map([[appId, provenance(appId, { cachedSince: T0 - 60 * MINUTE })]]),
    pods: [teamBRunning],
    verdicts: [[teamBWrongKey, appId, 'can-read']],
    expectedOwners: [],
  },
  {
    name: 'a container that has not started does not use the image yet',
    prev: empty,
    pods: [pod({ namespace: 'team-a' })],
    verdicts: [teamACanRead],
    expectedOwners: [],
  },
  {
    name: 'a pod without a credential for the registry is no owner',
    prev: empty,
    pods: [pod({ namespace: 'team-c', secrets: ['ghcr'], state: running(T0) })],
    expectedOwners: [],
  },
  {
    name: 'the image a container runs is taken from its status, even after the tag moved',
    prev: empty,
    imageId: oldAppId,
    pods: [
      pod({
        namespace: 'team-a',
        state: running(T0 - 60 * MINUTE),
        statusImageId: `registry.example.com/team-a/app@${oldManifest}`,
      }),
    ],
    verdicts: [[teamAKey, oldAppId, 'can-read']],
    expectedOwners: [verifiedOwner()],
  },
];

for (const c of runningCases) {
  t.test(`running pods: ${c.name}`, async (t) => {
    const imageId = c.imageId ?? appId;
    const next = fromRunningPods(c.prev, {
      inventory: new Inventory([toolImage, appImage, oldAppImage]),
      pods: c.pods,
      credentialsOf: (p, location) =>
        podCredentialsFor(c.verificationOff === true ? secrets : verifiableSecrets, p, location),
      tenantOfNamespace,
      now: T0,
      verdicts: verdictsOf(c.verdicts ?? []),
      ...(c.records !== undefined ? { kubeletRecords: c.records } : {}),
    });
    t.same(next.provenance.get(imageId)?.owners ?? [], c.expectedOwners);
    if (c.expectedPending === undefined) t.same([...next.pending], []);
    else t.match(next.pending.get(imageId), c.expectedPending);
  });
}

// --- the kubelet's "Successfully pulled image" events ----------------------------------------

t.test('pulled events', async (t) => {
  const evidence = {
    inventory: new Inventory([toolImage, appImage]),
    tenantOfNamespace,
    now: T0,
  };
  const pulledBy = (p: PodView) => new Map([[kubeletEventKey(p.uid, 'main'), 'pulled' as const]]);

  t.test(
    'the pod the kubelet pulled for owns the image with its first usable credential',
    async (t) => {
      const next = fromPulledEvents(empty, {
        ...evidence,
        pods: [teamARunning],
        credentialsOf,
        kubeletEvents: pulledBy(teamARunning),
      });
      t.same(next.provenance.get(appId)?.owners, [owner({ source: 'pulled-event' })]);
    },
  );
  t.test("while the pod's secrets are not read yet, the image is pending", async (t) => {
    const unread = pod({ namespace: 'team-a', secrets: ['later'], state: running(T0) });
    const next = fromPulledEvents(empty, {
      ...evidence,
      pods: [unread],
      credentialsOf,
      kubeletEvents: pulledBy(unread),
    });
    t.equal(next.provenance.has(appId), false);
    t.match(next.pending.get(appId), /team-a\/later/);
  });
  t.test(
    'a pull without a matching credential (anonymous, node credentials) makes no owner',
    async (t) => {
      const anonymous = pod({ namespace: 'team-c', secrets: ['ghcr'], state: running(T0) });
      const next = fromPulledEvents(empty, {
        ...evidence,
        pods: [anonymous],
        credentialsOf,
        kubeletEvents: pulledBy(anonymous),
      });
      t.equal(next.provenance.has(appId), false);
      t.same([...next.pending], []);
    },
  );
});

// --- stronger evidence wins ------------------------------------------------------------------

interface StrengthCase {
  readonly name: string;
  readonly known: readonly ImageOwner[];
  readonly fold: (prev: ProvenanceMap, corrections: OwnerCorrection[]) => ProvenanceMap;
  readonly expectedOwners: readonly ImageOwner[];
  readonly expectedCorrection?: ProvenanceSource;
}

const recordOfTeamA = new Map([
  [
    appId,
    pulledRecord(appId, {
      [APP_NAME]: {
        kubernetesSecrets: [
          { uid: 'u1', namespace: 'team-a', name: 'pull', credentialHash: teamAKey.credentialHash },
        ],
      },
    }),
  ],
]);
const recordOwner = owner({
  source: 'kubelet-record',
  fingerprint: undefined,
  firstSeen: T0 - 10 * MINUTE,
  lastSeen: T0 - 10 * MINUTE,
});
const byEvent = (prev: ProvenanceMap, corrections: OwnerCorrection[]) =>
  fromPulledEvents(
    prev,
    {
      inventory: inventoryAfter,
      pods: [teamARunning],
      credentialsOf,
      tenantOfNamespace,
      now: T0,
      kubeletEvents: new Map([[kubeletEventKey(teamARunning.uid, 'main'), 'pulled' as const]]),
    },
    corrections,
  ).provenance;
const byRecord = (prev: ProvenanceMap, corrections: OwnerCorrection[]) =>
  fromKubeletRecords(prev, recordOfTeamA, tenantOfNamespace, corrections);

const strengthCases: readonly StrengthCase[] = [
  {
    name: 'a pulled event corrects a verified bootstrap owner of another tenant (even a persisted one)',
    known: [verifiedOwner(teamBFields)],
    fold: byEvent,
    expectedOwners: [owner({ source: 'pulled-event' })],
    expectedCorrection: 'pulled-event',
  },
  {
    name: "the kubelet's record corrects an observed pull",
    known: [observedOwner(teamBFields)],
    fold: byRecord,
    expectedOwners: [recordOwner],
    expectedCorrection: 'kubelet-record',
  },
  {
    name: 'a pulled event does not displace the kubelet record',
    known: [recordOwner],
    fold: byEvent,
    expectedOwners: [recordOwner],
  },
  {
    name: 'evidence of the same strength adds owners',
    known: [owner({ ...teamBFields, source: 'pulled-event' })],
    fold: byEvent,
    expectedOwners: [
      owner({ ...teamBFields, source: 'pulled-event' }),
      owner({ source: 'pulled-event' }),
    ],
  },
];

for (const c of strengthCases) {
  t.test(`stronger evidence wins: ${c.name}`, async (t) => {
    const corrections: OwnerCorrection[] = [];
    const next = c.fold(new Map([[appId, provenance(appId, { owners: c.known })]]), corrections);
    t.same(next.get(appId)?.owners, c.expectedOwners);
    t.same(
      corrections.map((x) => x.by),
      c.expectedCorrection === undefined ? [] : [c.expectedCorrection],
    );
  });
}

// --- the start-up race: the same owners whatever order the evidence arrives in -------------

t.test(
  'case 1 of the start-up race: every arrival order of two secrets and an event gives tenant-a',
  async (t) => {
    // a1 (tenant-a, regcred-a) pulled; c2 (tenant-c, regcred-c, a key the registry accepts too)
    // and a2 (tenant-a2, no secret, same tenant as a1) run the image from the cache.
    const ns = (namespace: string) =>
      (namespace.startsWith('tenant-a') ? 'alpha' : 'gamma') as TenantId;
    const keyA = verifiable(credential('registry.example.com', 'A'));
    const keyC = verifiable(credential('http://registry.example.com/v1/', 'C'));
    const a1 = pod({
      namespace: 'tenant-a',
      name: 'a1',
      secrets: ['regcred-a'],
      state: running(T0 - MINUTE),
    });
    const c2 = pod({
      namespace: 'tenant-c',
      name: 'c2',
      secrets: ['regcred-c'],
      state: running(T0 - MINUTE),
    });
    const a2 = pod({
      namespace: 'tenant-a2',
      name: 'a2',
      secrets: [],
      state: running(T0 - MINUTE),
    });
    const allSecrets: Record<string, SecretView> = {
      a: { state: 'ok', namespace: 'tenant-a', name: 'regcred-a', credentials: [keyA] },
      c: { state: 'ok', namespace: 'tenant-c', name: 'regcred-c', credentials: [keyC] },
    };
    const verdicts = verdictsOf([
      [keyA, appId, 'can-read'],
      [keyC, appId, 'can-read'],
    ]);
    const arrivals = ['a', 'c', 'event'] as const;
    const orders = permutations([...arrivals]);
    t.equal(orders.length, 6);
    for (const order of orders) {
      let provenanceNow: ProvenanceMap = empty;
      const have = new Map<string, SecretView>();
      let events = new Map<string, 'pulled'>();
      // One fold before anything arrived, then one after each arrival, as the agent does.
      for (const step of [undefined, ...order]) {
        if (step === 'event') events = new Map([[kubeletEventKey(a1.uid, 'main'), 'pulled']]);
        else if (step !== undefined) {
          const view = allSecrets[step];
          if (view === undefined) throw new Error('fixture');
          have.set(secretKey(view.namespace, view.name), view);
        }
        const snapshotSecrets = new Map(have);
        provenanceNow = foldResync(provenanceNow, {
          kubeletRecords: new Map(),
          previousImageIds: undefined,
          inventory: inventoryAfter,
          pods: [a1, c2, a2],
          credentialsOf: (p, location) => podCredentialsFor(snapshotSecrets, p, location),
          tenantOfNamespace: ns,
          now: T0,
          verdicts,
          kubeletEvents: events,
          missingSince: new Map(),
          graceMs: 5 * MINUTE,
        }).provenance;
      }
      t.same(
        provenanceNow.get(appId)?.owners.map((o) => [o.tenant, o.namespace, o.secret, o.source]),
        [['alpha', 'tenant-a', 'regcred-a', 'pulled-event']],
        `order ${order.join(', ')}`,
      );
    }
  },
);

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

// --- cache bookkeeping -----------------------------------------------------------------------

t.test('cache arrivals', async (t) => {
  t.test('a newly listed image is cached since now', async (t) => {
    const next = noteCacheArrivals(empty, inventoryAfter, inventoryBefore, T0);
    t.same([...next.values()], [provenance(appId, { cachedSince: T0 })]);
  });
  t.test('a known cachedSince is kept', async (t) => {
    const prev = new Map([[appId, provenance(appId, { cachedSince: T0 - MINUTE })]]);
    const next = noteCacheArrivals(prev, inventoryAfter, inventoryBefore, T0);
    t.equal(next.get(appId)?.cachedSince, T0 - MINUTE);
  });
  t.test('without a previous listing nothing is new', async (t) => {
    t.same(noteCacheArrivals(empty, inventoryAfter, undefined, T0), empty);
  });
});

t.test('forgetting images that left the cache', async (t) => {
  const known: ProvenanceMap = new Map([
    [appId, provenance(appId, { owners: [owner({ source: 'observed-pull' })] })],
    [toolId, provenance(toolId, { nodeWide: true })],
  ]);
  const graceMs = 5 * MINUTE;
  const gone = new Inventory([toolImage]);
  const emptyListing = new Inventory([]);

  t.test('an image missing from the listing is kept during the grace period', async (t) => {
    const first = forgetRemoved(known, gone, { missingSince: new Map(), now: T0, graceMs });
    t.same(first.provenance, known);
    t.same(first.missingSince, new Map([[appId, T0]]));
    t.same(first.forgotten, []);
    const second = forgetRemoved(first.provenance, gone, {
      missingSince: first.missingSince,
      now: T0 + graceMs - 1,
      graceMs,
    });
    t.same(second.provenance, known);
  });

  t.test('an image still missing after the grace period is forgotten', async (t) => {
    const first = forgetRemoved(known, gone, { missingSince: new Map(), now: T0, graceMs });
    const later = forgetRemoved(first.provenance, gone, {
      missingSince: first.missingSince,
      now: T0 + graceMs,
      graceMs,
    });
    t.same([...later.provenance.keys()], [toolId]);
    t.same(later.forgotten, [appId]);
    t.same(later.missingSince, new Map());
  });

  t.test('a transient empty listing forgets nothing once the images are back', async (t) => {
    const blip = forgetRemoved(known, emptyListing, { missingSince: new Map(), now: T0, graceMs });
    t.same(blip.provenance, known);
    const back = forgetRemoved(blip.provenance, new Inventory([toolImage, appImage]), {
      missingSince: blip.missingSince,
      now: T0 + graceMs,
      graceMs,
    });
    t.same(back.provenance, known);
    t.same(back.missingSince, new Map(), 'the clock is reset when an image comes back');
  });
});

t.test('provenance survives the deletion of the pod that pulled the image', async (t) => {
  const resync = (
    prev: ProvenanceMap,
    pods: readonly PodView[],
    previous: Inventory,
    now: number,
  ) =>
    foldResync(prev, {
      kubeletRecords: new Map(),
      previousImageIds: previous,
      inventory: inventoryAfter,
      pods,
      credentialsOf,
      tenantOfNamespace,
      now,
      missingSince: new Map(),
      graceMs: 5 * MINUTE,
    });
  const pulled = resync(empty, [pod({ namespace: 'team-a' })], inventoryBefore, T0);
  t.same(pulled.provenance.get(appId)?.owners, [observedOwner()]);
  const afterDeletion = resync(pulled.provenance, [], inventoryAfter, T0 + 60 * MINUTE);
  t.same(afterDeletion.provenance, pulled.provenance);
  const otherTenantLater = resync(
    afterDeletion.provenance,
    [teamBRunning],
    inventoryAfter,
    T0 + 120 * MINUTE,
  );
  t.same(otherTenantLater.provenance, pulled.provenance, 'and no one else takes it over');
});

t.test('provenance survives an agent restart (saved, loaded, first resync)', async (t) => {
  const pulled = fromObservedPulls(empty, {
    previousImageIds: inventoryBefore,
    inventory: inventoryAfter,
    pods: [pod({ namespace: 'team-a' })],
    credentialsOf,
    tenantOfNamespace,
    now: T0,
  });
  const file = encodeProvenanceState({ node: 'node-1', savedAt: T0, images: pulled.provenance });
  const restored = decodeProvenanceState(file, 'node-1');
  if (!restored.ok) throw new Error(restored.error.reason);
  // After a restart there is no previous listing, and the pulling pod may be gone.
  const firstResync = foldResync(restored.value.images, {
    kubeletRecords: new Map(),
    previousImageIds: undefined,
    inventory: inventoryAfter,
    pods: [teamBRunning],
    credentialsOf,
    tenantOfNamespace,
    now: T0 + 60 * MINUTE,
    missingSince: new Map(),
    graceMs: 5 * MINUTE,
  });
  t.same(firstResync.provenance, pulled.provenance);
});

t.test('owners are deduplicated, keeping the earliest firstSeen and latest lastSeen', async (t) => {
  const a = owner({ source: 'observed-pull', firstSeen: T0, lastSeen: T0 });
  const b = owner({ source: 'observed-pull', firstSeen: T0 - MINUTE, lastSeen: T0 - MINUTE });
  const c = owner({ source: 'observed-pull', firstSeen: T0 + MINUTE, lastSeen: T0 + MINUTE });
  const otherSource = owner({ source: 'kubelet-record' });
  const otherSecret = owner({ source: 'observed-pull', secret: 'other' });
  t.same(mergeOwners([a, b, otherSource, c, otherSecret]), [
    { ...a, firstSeen: T0 - MINUTE, lastSeen: T0 + MINUTE },
    otherSource,
    otherSecret,
  ]);
});

t.test(
  'an owner seen again keeps its lastSeen until it moved a step, and stays the same object',
  async (t) => {
    const known = owner({ source: 'observed-pull', firstSeen: T0, lastSeen: T0 });
    const cases: {
      readonly name: string;
      readonly seen: Partial<ImageOwner>;
      readonly lastSeen: number;
      readonly sameObject: boolean;
    }[] = [
      { name: 'seen again at once', seen: {}, lastSeen: T0, sameObject: true },
      {
        name: 'seen again just under a step later',
        seen: { lastSeen: T0 + OWNER_LAST_SEEN_STEP_MS - 1 },
        lastSeen: T0,
        sameObject: true,
      },
      {
        name: 'seen again a step later',
        seen: { lastSeen: T0 + OWNER_LAST_SEEN_STEP_MS },
        lastSeen: T0 + OWNER_LAST_SEEN_STEP_MS,
        sameObject: false,
      },
      {
        name: 'older evidence',
        seen: { lastSeen: T0 - 10 * MINUTE },
        lastSeen: T0,
        sameObject: true,
      },
      {
        name: 'within a step, but with an earlier firstSeen',
        seen: { firstSeen: T0 - MINUTE },
        lastSeen: T0,
        sameObject: false,
      },
    ];
    for (const c of cases) {
      const [merged] = mergeOwners([known, { ...known, ...c.seen }]);
      t.equal(merged?.lastSeen, c.lastSeen, `${c.name}: lastSeen`);
      t.equal(merged === known, c.sameObject, `${c.name}: the known object kept`);
    }

    // Running pods confirm their images' owners on every reconcile: within a step, the
    // provenance map itself stays the same object (nothing for the state file, nothing new).
    const map: ProvenanceMap = new Map([[appId, provenance(appId, { owners: [known] })]]);
    const confirmed = (lastSeen: number) =>
      withAdditions(
        map,
        new Map([
          [appId, { owners: [{ ...known, lastSeen }], nodeWide: false, cachedSince: undefined }],
        ]),
      );
    t.equal(confirmed(T0 + 1000), map, 'confirmed a second later: the same map');
    t.not(confirmed(T0 + OWNER_LAST_SEEN_STEP_MS), map, 'confirmed a step later: a new map');
  },
);

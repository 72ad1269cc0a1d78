import t from 'tap';
import type { CriImage } from '../cri/types.ts';
import { podCredentialsFor } from '../detect/access.ts';
import type {
  ContainerRunState,
  CredentialView,
  ImageOwner,
  ImageProvenance,
  PodView,
  SecretView,
  TenantId,
} from '../detect/snapshot.ts';
import { secretKey } from '../detect/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import { Inventory } from '../image/inventory.ts';
import type { CredentialFingerprint, CredentialHash } from '../registry/credential-identity.ts';
import { parseRegistryKey } from '../registry/keyring.ts';
import type { PulledRecord, RecordedCredentials } from './kubelet-record-format.ts';
import { decodeProvenanceState, encodeProvenanceState } from './state-format.ts';
import {
  STARTING_WINDOW_MS,
  foldResync,
  forgetRemoved,
  fromKubeletRecords,
  fromObservedPulls,
  fromRunningPods,
  imageIdsOf,
  mergeOwners,
  noteCacheArrivals,
  type CredentialsOf,
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
  ).map(([namespace, name, credentials]) => [
    secretKey(namespace, name),
    { state: 'ok', namespace, name, credentials },
  ]),
);

// The real wiring: detect's podCredentialsFor over the pods' secrets.
const credentialsOf: CredentialsOf = (pod, location) =>
  podCredentialsFor(secrets, pod, location).matching;

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
      previousImageIds: previous === undefined ? undefined : imageIdsOf(previous),
      inventory: inventoryAfter,
      pods: c.pods,
      credentialsOf,
      tenantOfNamespace,
      now: T0,
    });
    t.same(next.get(appId)?.owners ?? [], c.expectedOwners);
    if ('expectedCachedSince' in c) t.equal(next.get(appId)?.cachedSince, c.expectedCachedSince);
    t.equal(next.has(toolId), false, 'the image that was already there is untouched');
  });
}

// --- running pods (bootstrap) ----------------------------------------------------------------

interface RunningCase {
  readonly name: string;
  readonly prev: ProvenanceMap;
  readonly pods: readonly PodView[];
  readonly imageId?: ImageId;
  readonly expectedOwners: readonly ImageOwner[];
}

const kubeletOwner = owner({
  source: 'kubelet-record',
  fingerprint: undefined,
  firstSeen: T0 - 60 * MINUTE,
  lastSeen: T0 - 60 * MINUTE,
});
const runningOwner = (fields: Partial<ImageOwner> = {}) =>
  owner({ source: 'running-pod', ...fields });
const teamBRunning = pod({ namespace: 'team-b', state: running(T0 - 30 * MINUTE) });

const runningCases: readonly RunningCase[] = [
  {
    name: 'an image found on the node with no owner: a pod running it with a matching secret becomes the owner',
    prev: empty,
    pods: [pod({ namespace: 'team-a', state: running(T0 - 60 * MINUTE) })],
    expectedOwners: [runningOwner()],
  },
  {
    name: 'never a running-pod owner for an image that already has owners (no whitewashing)',
    // team-b holds a credential for the same registry that the registry may refuse; if running
    // the image from the cache made it an owner, its unauthorized use would be hidden for good.
    prev: new Map([[appId, provenance(appId, { owners: [kubeletOwner] })]]),
    pods: [teamBRunning],
    expectedOwners: [kubeletOwner],
  },
  {
    name: 'not even the owner tenant adds a running-pod owner once the image has owners',
    prev: new Map([[appId, provenance(appId, { owners: [kubeletOwner] })]]),
    pods: [pod({ namespace: 'team-a', state: running(T0 - 30 * MINUTE) })],
    expectedOwners: [kubeletOwner],
  },
  {
    name: 'an image seen arriving without an observed pull gets no running-pod owner later',
    prev: new Map([[appId, provenance(appId, { cachedSince: T0 - 60 * MINUTE })]]),
    pods: [teamBRunning],
    expectedOwners: [],
  },
  {
    name: 'a container that has not started does not use the image yet',
    prev: empty,
    pods: [pod({ namespace: 'team-a' })],
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
    expectedOwners: [runningOwner()],
  },
  {
    name: 'all pods of the first resync that hold a matching secret become owners together',
    prev: empty,
    pods: [pod({ namespace: 'team-a', state: running(T0) }), teamBRunning],
    expectedOwners: [
      runningOwner(),
      runningOwner({
        tenant: 'team-b' as TenantId,
        namespace: 'team-b',
        fingerprint: teamBWrongKey.fingerprint,
        credentialHash: teamBWrongKey.credentialHash,
      }),
    ],
  },
];

for (const c of runningCases) {
  t.test(`running pods: ${c.name}`, async (t) => {
    const next = fromRunningPods(c.prev, {
      inventory: new Inventory([toolImage, appImage, oldAppImage]),
      pods: c.pods,
      credentialsOf,
      tenantOfNamespace,
      now: T0,
    });
    t.same(next.get(c.imageId ?? appId)?.owners ?? [], c.expectedOwners);
  });
}

t.test('running pods: the bootstrap does not repeat once an image has its owner', async (t) => {
  const evidence = {
    inventory: inventoryAfter,
    credentialsOf,
    tenantOfNamespace,
  };
  const first = fromRunningPods(empty, {
    ...evidence,
    pods: [pod({ namespace: 'team-a', state: running(T0) })],
    now: T0,
  });
  const second = fromRunningPods(first, { ...evidence, pods: [teamBRunning], now: T0 + MINUTE });
  t.same(second.get(appId)?.owners, [runningOwner()]);
});

// --- cache bookkeeping -----------------------------------------------------------------------

t.test('cache arrivals', async (t) => {
  t.test('a newly listed image is cached since now', async (t) => {
    const next = noteCacheArrivals(empty, inventoryAfter, imageIdsOf(inventoryBefore), T0);
    t.same([...next.values()], [provenance(appId, { cachedSince: T0 })]);
  });
  t.test('a known cachedSince is kept', async (t) => {
    const prev = new Map([[appId, provenance(appId, { cachedSince: T0 - MINUTE })]]);
    const next = noteCacheArrivals(prev, inventoryAfter, imageIdsOf(inventoryBefore), T0);
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
      previousImageIds: imageIdsOf(previous),
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
    previousImageIds: imageIdsOf(inventoryBefore),
    inventory: inventoryAfter,
    pods: [pod({ namespace: 'team-a' })],
    credentialsOf,
    tenantOfNamespace,
    now: T0,
  });
  const file = encodeProvenanceState({ node: 'node-1', savedAt: T0, images: pulled });
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
  t.same(firstResync.provenance, pulled);
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

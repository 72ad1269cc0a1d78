// Builds NodeSnapshots from short descriptions, for the detection tests and the benchmarks.
import type { CriImage } from '../../agent/cri/types.ts';
import type { ImageId } from '../../agent/image/digest.ts';
import { Inventory } from '../../agent/image/inventory.ts';
import { effectivePullPolicy } from '../../agent/model/pull-policy.ts';
import type {
  CredentialFingerprint,
  CredentialHash,
} from '../../agent/credentials/credential-identity.ts';
import { parseRegistryKey } from '../../agent/credentials/keyring.ts';
import type {
  ContainerKind,
  ContainerRunState,
  CredentialVerdict,
  CredentialView,
  ImageOwner,
  ImageProvenance,
  KubeletImageEvent,
  NodeSnapshot,
  PodContainer,
  PodView,
  ProvenanceSource,
  PullPolicy,
  RepositoryVisibility,
  SecretView,
  TenantId,
  Visibility,
} from '../../agent/model/snapshot.ts';
import { kubeletEventKey, secretKey, verdictKey } from '../../agent/model/snapshot.ts';
import { tenantResolver } from '../../agent/detect/tenancy.ts';

export const T0 = Date.parse('2026-11-01T00:00:00Z');
export const MINUTE = 60_000;

export function imageId(seed: string): ImageId {
  let hex = '';
  for (let i = 0; hex.length < 64; i += 1)
    hex += (seed.charCodeAt(i % seed.length) + i).toString(16);
  return `sha256:${hex.slice(0, 64)}` as ImageId;
}

export function digestOf(seed: string): string {
  return imageId(`manifest-${seed}`);
}

export function cachedImage(
  seed: string,
  names: { tags?: readonly string[]; digestRepos?: readonly string[]; sizeBytes?: bigint },
): CriImage {
  return {
    id: imageId(seed),
    repoTags: names.tags ?? [],
    repoDigests: (names.digestRepos ?? []).map((repo) => `${repo}@${digestOf(seed)}`),
    sizeBytes: names.sizeBytes ?? 1_000_000n,
    pinned: false,
  };
}

export function container(
  image: string,
  options: {
    name?: string;
    kind?: ContainerKind;
    policy?: PullPolicy;
    state?: ContainerRunState;
    statusImageId?: string;
  } = {},
): PodContainer {
  return {
    kind: options.kind ?? 'regular',
    name: options.name ?? 'app',
    image,
    pullPolicy: options.policy ?? effectivePullPolicy(image, undefined),
    state: options.state ?? { kind: 'running', startedAt: T0 + 10 * MINUTE },
    statusImageId: options.statusImageId,
  };
}

export function pod(
  namespace: string,
  name: string,
  containers: readonly PodContainer[],
  options: {
    uid?: string;
    pullSecrets?: readonly string[];
    createdAt?: number;
    finished?: boolean;
    serviceAccount?: string;
  } = {},
): PodView {
  return {
    uid: options.uid ?? `uid-${namespace}-${name}`,
    namespace,
    name,
    createdAt: options.createdAt ?? T0 + 5 * MINUTE,
    serviceAccountName: options.serviceAccount ?? 'default',
    pullSecretNames: options.pullSecrets ?? [],
    containers,
    finished: options.finished ?? false,
  };
}

/** A credential identified by `id`: the same id means the same username and password. */
export function credential(key: string, id: string): CredentialView {
  const matcher = parseRegistryKey(key);
  if (!matcher.ok) throw new Error(`bad test registry key ${key}: ${matcher.error}`);
  return {
    matcher: matcher.value,
    fingerprint: `fp-${id}` as CredentialFingerprint,
    credentialHash: `hash-${id}` as CredentialHash,
  };
}

export function secret(
  namespace: string,
  name: string,
  credentials: readonly CredentialView[],
): SecretView {
  return { state: 'ok', namespace, name, credentials };
}

export function owner(
  namespace: string,
  secretName: string | undefined,
  credentialId: string | undefined,
  options: { source?: ProvenanceSource; tenant?: string; hashOnly?: boolean; at?: number } = {},
): ImageOwner {
  return {
    tenant: (options.tenant ?? namespace) as TenantId,
    namespace,
    secret: secretName,
    fingerprint:
      credentialId === undefined || options.hashOnly === true
        ? undefined
        : (`fp-${credentialId}` as CredentialFingerprint),
    credentialHash:
      credentialId === undefined ? undefined : (`hash-${credentialId}` as CredentialHash),
    source: options.source ?? 'observed-pull',
    firstSeen: options.at ?? T0,
    lastSeen: options.at ?? T0,
  };
}

export interface SnapshotParts {
  readonly node?: string;
  readonly images: readonly CriImage[];
  readonly pods: readonly PodView[];
  readonly secrets?: readonly SecretView[];
  readonly provenance?: readonly {
    seed: string;
    owners: readonly ImageOwner[];
    cachedSince?: number;
    nodeWide?: boolean;
  }[];
  readonly visibility?: Readonly<Record<string, Visibility | RepositoryVisibility>>;
  readonly verdicts?: readonly (readonly [
    credentialId: string,
    name: string,
    seed: string,
    verdict: CredentialVerdict,
  ])[];
  readonly events?: readonly (readonly [
    podUid: string,
    container: string,
    event: KubeletImageEvent,
  ])[];
  readonly namespaceLabels?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly tenantLabel?: string;
  readonly ignoredNamespaces?: readonly string[];
  readonly kubeletVerification?: NodeSnapshot['kubeletVerification'];
  /** What the kubelet enforces; default: not known (no configuration read). */
  readonly kubeletPosture?: Partial<NodeSnapshot['kubeletPosture']>;
  /** Image seeds the kubelet holds a pulled record of; default: its records cannot be read. */
  readonly pulledByKubelet?: readonly string[] | undefined;
  readonly takenAt?: number;
  /** [image seed, reason]: images whose owner is not decided yet. */
  readonly ownerPending?: readonly (readonly [string, string])[];
}

/** @param previous a snapshot whose inventory the new one may take unchanged entries from. */
export function snapshotOf(parts: SnapshotParts, previous?: NodeSnapshot): NodeSnapshot {
  const visibility = new Map<string, RepositoryVisibility>();
  for (const [name, v] of Object.entries(parts.visibility ?? {})) {
    visibility.set(
      name,
      typeof v === 'string'
        ? {
            visibility: v,
            basis: v === 'private' ? 'anonymous manifest request answered 401' : `test says ${v}`,
            nodeCredentials: false,
          }
        : v,
    );
  }
  const provenance = new Map<ImageId, ImageProvenance>();
  for (const p of parts.provenance ?? []) {
    const id = imageId(p.seed);
    provenance.set(id, {
      imageId: id,
      cachedSince: p.cachedSince ?? T0,
      owners: p.owners,
      nodeWide: p.nodeWide ?? false,
    });
  }
  return {
    node: parts.node ?? 'node-1',
    takenAt: parts.takenAt ?? T0 + 30 * MINUTE,
    inventory: new Inventory(parts.images, previous?.inventory),
    pods: parts.pods,
    tenantOfNamespace: tenantResolver(
      new Map(Object.entries(parts.namespaceLabels ?? {})),
      parts.tenantLabel,
    ),
    ignoredNamespaces: new Set(parts.ignoredNamespaces ?? []),
    secrets: new Map((parts.secrets ?? []).map((s) => [secretKey(s.namespace, s.name), s])),
    provenance,
    visibility,
    verdicts: new Map(
      (parts.verdicts ?? []).map(([cred, name, seed, verdict]) => [
        verdictKey(`fp-${cred}`, name, imageId(seed)),
        verdict,
      ]),
    ),
    kubeletEvents: new Map(
      (parts.events ?? []).map(([uid, name, event]) => [kubeletEventKey(uid, name), event]),
    ),
    kubeletVerification: parts.kubeletVerification ?? 'unknown',
    kubeletPosture: {
      policy: 'unknown',
      allowlist: [],
      basis: 'the test reads no kubelet configuration',
      files: [],
      fromConfig: false,
      ...parts.kubeletPosture,
    },
    pulledByKubelet:
      parts.pulledByKubelet === undefined ? undefined : new Set(parts.pulledByKubelet.map(imageId)),
    ownerPending: new Map(
      (parts.ownerPending ?? []).map(([seed, reason]) => [imageId(seed), reason]),
    ),
  };
}

/** The seed story's private image (test/kit/story.ts), as the snapshot tests name it. */
export const SEED_REGISTRY = 'registry.example.com';
export const SEED_IMAGE_NAME = `${SEED_REGISTRY}/team-a/super-secret-image-1`;
export const SEED_IMAGE = `${SEED_IMAGE_NAME}:v1`;

/**
 * The seed story as one node's snapshot: tenant-a's secret brought the private image, and
 * tenant-b's admin2-pod (no pull secret) runs it from the cache.
 */
export function seedStoryParts(): SnapshotParts {
  return {
    images: [cachedImage('secret-1', { tags: [SEED_IMAGE], digestRepos: [SEED_IMAGE_NAME] })],
    pods: [
      pod('tenant-a', 'admin1-pod', [container(SEED_IMAGE)], {
        pullSecrets: ['image-pull-secret-1'],
        createdAt: T0 - MINUTE,
      }),
      pod('tenant-b', 'admin2-pod', [container(SEED_IMAGE)]),
    ],
    secrets: [secret('tenant-a', 'image-pull-secret-1', [credential(SEED_REGISTRY, 'a')])],
    provenance: [
      {
        seed: 'secret-1',
        owners: [owner('tenant-a', 'image-pull-secret-1', 'a')],
        cachedSince: T0,
      },
    ],
    visibility: { [SEED_IMAGE_NAME]: 'private' },
  };
}

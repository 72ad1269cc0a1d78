// A node as the benchmarks see it: a realistic mix of tenants, pull secrets, public and
// private cached images with owners, and pods of three containers each. One model, three
// shapes: a NodeSnapshot (through test/kit/snapshot-builder.ts) for the in-process
// benchmarks, Kubernetes objects for the embedded API server, and a CRI image list plus a
// provenance state file for an agent running as a separate process.
import { createHash } from 'node:crypto';
import type { CriImage } from '../../agent/cri/types.ts';
import { detect } from '../../agent/detect/detect.ts';
import type { SnapshotParts } from '../../test/kit/snapshot-builder.ts';
import {
  cachedImage,
  container,
  credential,
  digestOf,
  imageId,
  MINUTE,
  owner,
  pod,
  secret,
  snapshotOf,
  T0,
} from '../../test/kit/snapshot-builder.ts';
import type {
  ContainerKind,
  ContainerRunState,
  ImageProvenance,
  NodeSnapshot,
  PodView,
  PullPolicy,
  RepositoryVisibility,
  SecretView,
  TenantId,
} from '../../agent/model/snapshot.ts';
import { FindingsStore } from '../../agent/findings/store.ts';
import type { ImageId } from '../../agent/image/digest.ts';
import type {
  CredentialFingerprint,
  CredentialHash,
} from '../../agent/credentials/credential-identity.ts';

export const NODE = 'bench-node';
export const TENANT_LABEL = 'pullwatch.dev/tenant';
export const PUBLIC_REGISTRIES = ['docker.io', 'registry.k8s.io', 'quay.io'] as const;
export const IGNORED_NAMESPACES = ['kube-system'] as const;
const PRIVATE_REGISTRY = 'registry.corp.example';
const MIRROR_REGISTRY = 'mirror.corp.example';
const DAY = 24 * 60 * MINUTE;

export interface ScenarioOptions {
  readonly images: number;
  readonly pods: number;
  /** Default 10; every tenant has a -prod and a -dev namespace. */
  readonly tenants?: number;
  /** Cached images pulled by a tenant with its pull secret (default 25 % of the cache). */
  readonly privateImages?: number;
  /** Pods whose app container runs another tenant's private image (default 4 % of pods). */
  readonly intruderPods?: number;
}

interface OwnerModel {
  readonly tenant: string;
  readonly namespace: string;
  readonly secret: string;
  readonly credId: string;
}

export interface ImageModel {
  readonly seed: string;
  readonly repo: string;
  readonly tags: readonly string[];
  readonly sizeBytes: bigint;
  /** Empty for public images. */
  readonly owners: readonly OwnerModel[];
}

type StateModel =
  | { readonly kind: 'running' }
  | { readonly kind: 'terminated' }
  | { readonly kind: 'waiting'; readonly reason: string };

export interface ContainerModel {
  readonly kind: ContainerKind;
  readonly name: string;
  readonly image: string;
  readonly policy: PullPolicy;
  readonly state: StateModel;
  /** status.containerStatuses[].imageID: repo@digest of what the runtime started. */
  readonly statusImageId: string | undefined;
}

export interface PodModel {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly pullSecrets: readonly string[];
  readonly containers: readonly ContainerModel[];
  readonly phase: 'Running' | 'Succeeded' | 'Pending';
  /** Offset from the node's reference time (the snapshot's T0). */
  readonly createdOffsetMs: number;
}

export interface SecretModel {
  readonly namespace: string;
  readonly name: string;
  readonly entries: readonly { readonly key: string; readonly credId: string }[];
}

export interface Scenario {
  readonly images: readonly ImageModel[];
  readonly pods: readonly PodModel[];
  readonly secrets: readonly SecretModel[];
  /** Namespace -> tenant label (undefined for namespaces without one). */
  readonly namespaces: ReadonlyMap<string, string | undefined>;
  readonly tenants: readonly string[];
  /** How many findings the agent reports for this node (detect + findings store). */
  readonly expectedFindings: number;
  /** A pod of one tenant running another tenant's private image without a credential. */
  probePod(index: number): PodModel;
  describe(): string;
}

function statusImageOf(image: ImageModel): string {
  return `${image.repo}@${digestOf(image.seed)}`;
}

function containerOf(
  kind: ContainerKind,
  name: string,
  image: ImageModel,
  state: StateModel = kind === 'init' ? { kind: 'terminated' } : { kind: 'running' },
): ContainerModel {
  return {
    kind,
    name,
    image: image.tags[0] ?? image.repo,
    policy: 'IfNotPresent',
    state,
    statusImageId: state.kind === 'waiting' ? undefined : statusImageOf(image),
  };
}

function publicImage(i: number, count: number): ImageModel {
  // About three versions per repository, spread over three public registries.
  const repoCount = Math.max(1, Math.floor(count / 9));
  const r = Math.floor(i / 3) % repoCount;
  const repo = [
    `docker.io/library/lib-${r}`,
    `registry.k8s.io/k8s-${r}`,
    `quay.io/vendor-${r % 20}/tool-${r}`,
  ][i % 3] as string;
  const tags = [`${repo}:v${i}`, ...(i % 7 === 0 ? [`${repo}:stable-${i}`] : [])];
  return {
    seed: `pub-${i}`,
    repo,
    tags,
    sizeBytes: BigInt(5_000_000 + ((i * 7919) % 200) * 1_000_000),
    owners: [],
  };
}

export function buildScenario(options: ScenarioOptions): Scenario {
  const tenantCount = options.tenants ?? 10;
  const tenants = Array.from(
    { length: tenantCount },
    (_, i) => `team-${String(i).padStart(2, '0')}`,
  );
  const mirrorTenants = tenants.filter((_, i) => i % 3 === 0);
  const dockerHubTenants = new Set(tenants.filter((_, i) => i % 2 === 0));
  const privateCount = Math.min(
    options.images,
    options.privateImages ?? Math.round(options.images * 0.25),
  );
  const publicCount = options.images - privateCount;

  const namespaces = new Map<string, string | undefined>([['kube-system', undefined]]);
  const secrets: SecretModel[] = [];
  for (const tenant of tenants) {
    for (const env of ['prod', 'dev']) {
      const namespace = `${tenant}-${env}`;
      namespaces.set(namespace, tenant);
      secrets.push({
        namespace,
        name: 'regcred',
        entries: [{ key: `${PRIVATE_REGISTRY}/${tenant}`, credId: `${tenant}-regcred` }],
      });
      if (mirrorTenants.includes(tenant)) {
        secrets.push({
          namespace,
          name: 'mirror',
          entries: [{ key: MIRROR_REGISTRY, credId: `mirror-${tenant}` }],
        });
      }
      if (dockerHubTenants.has(tenant)) {
        secrets.push({
          namespace,
          name: 'dockerhub',
          entries: [{ key: 'https://index.docker.io/v1/', credId: `dockerhub-${tenant}` }],
        });
      }
    }
  }

  const publics = Array.from({ length: publicCount }, (_, i) => publicImage(i, publicCount));
  const privates: ImageModel[] = [];
  const privateOf = new Map<string, ImageModel[]>(tenants.map((t) => [t, []]));
  const perTenantRepos = Math.max(1, Math.floor(privateCount / tenantCount / 2));
  for (let j = 0; j < privateCount; j += 1) {
    const mirrored = j % 7 === 3 && mirrorTenants.length > 0;
    const tenant = (
      mirrored ? mirrorTenants[j % mirrorTenants.length] : tenants[j % tenantCount]
    ) as string;
    const repo = `${mirrored ? MIRROR_REGISTRY : PRIVATE_REGISTRY}/${tenant}/svc-${Math.floor(j / tenantCount) % perTenantRepos}`;
    const owners: OwnerModel[] = [
      {
        tenant,
        namespace: `${tenant}-prod`,
        secret: mirrored ? 'mirror' : 'regcred',
        credId: mirrored ? `mirror-${tenant}` : `${tenant}-regcred`,
      },
    ];
    if (j % 12 === 5) {
      // A second team pulled the same content with its own credential.
      const other = tenants[(tenants.indexOf(tenant) + 1) % tenantCount] as string;
      owners.push({
        tenant: other,
        namespace: `${other}-dev`,
        secret: 'regcred',
        credId: `${other}-regcred`,
      });
    }
    const image: ImageModel = {
      seed: `priv-${j}`,
      repo,
      tags: [`${repo}:r${j}`],
      sizeBytes: BigInt(20_000_000 + ((j * 104_729) % 400) * 1_000_000),
      owners,
    };
    privates.push(image);
    privateOf.get(tenant)?.push(image);
  }
  const images = [...publics, ...privates];
  const anyImage = (k: number): ImageModel =>
    (publics.length > 0
      ? publics[k % publics.length]
      : privates[k % privates.length]) as ImageModel;
  const ownImage = (tenant: string, k: number): ImageModel => {
    const own = privateOf.get(tenant) ?? [];
    return own.length > 0 ? (own[k % own.length] as ImageModel) : anyImage(k);
  };
  const secretsOf = (tenant: string): string[] => [
    'regcred',
    ...(mirrorTenants.includes(tenant) ? ['mirror'] : []),
    ...(dockerHubTenants.has(tenant) ? ['dockerhub'] : []),
  ];
  /** Another tenant's private image this tenant's pod has no right to (a mirror tenant
   * holds a credential for the whole mirror, which cannot be verified with probing off). */
  const foreignImage = (tenant: string, k: number): ImageModel => {
    const index = tenants.indexOf(tenant);
    if (mirrorTenants.includes(tenant) && mirrorTenants.length > 1) {
      const other = mirrorTenants[(mirrorTenants.indexOf(tenant) + 1) % mirrorTenants.length];
      const mirrored = (privateOf.get(other as string) ?? []).filter((i) =>
        i.repo.startsWith(MIRROR_REGISTRY),
      );
      if (mirrored.length > 0) return mirrored[k % mirrored.length] as ImageModel;
    }
    return ownImage(tenants[(index + 1) % tenantCount] as string, k);
  };

  const intruderCount = Math.min(
    options.pods,
    options.intruderPods ?? Math.round(options.pods * 0.04),
  );
  const intruderStep =
    intruderCount > 0 ? Math.max(1, Math.floor(options.pods / intruderCount)) : 0;
  const pods: PodModel[] = [];
  let intruders = 0;
  for (let p = 0; p < options.pods; p += 1) {
    const sidecarImage = anyImage(p * 29 + 7);
    const sidecar: ContainerModel =
      p % 10 === 3
        ? {
            kind: 'regular',
            name: 'sidecar',
            image: `${sidecarImage.repo}:latest`,
            policy: 'Always',
            state: { kind: 'running' },
            statusImageId: undefined,
          }
        : containerOf('regular', 'sidecar', sidecarImage);
    if (p % 20 === 19) {
      pods.push({
        namespace: 'kube-system',
        name: `system-${p}`,
        uid: `uid-system-${p}`,
        pullSecrets: [],
        containers: [
          containerOf('init', 'init', anyImage(p * 13)),
          containerOf('regular', 'agent', anyImage(p * 17 + 3)),
          sidecar,
        ],
        phase: 'Running',
        createdOffsetMs: 5 * MINUTE + p * 1000,
      });
      continue;
    }
    const tenant = tenants[p % tenantCount] as string;
    const namespace = `${tenant}-${Math.floor(p / tenantCount) % 2 === 0 ? 'prod' : 'dev'}`;
    const intruder =
      intruderStep > 0 && intruders < intruderCount && p % intruderStep === 1 % intruderStep;
    if (intruder) intruders += 1;
    const finished = !intruder && p % 37 === 36;
    const waiting = !intruder && !finished && p % 41 === 40;
    const appImage = intruder
      ? foreignImage(tenant, p)
      : ownImage(tenant, Math.floor(p / tenantCount));
    pods.push({
      namespace,
      name: `${intruder ? 'borrower' : 'svc'}-${p}`,
      uid: `uid-${namespace}-${p}`,
      pullSecrets: secretsOf(tenant),
      containers: [
        containerOf('init', 'init', anyImage(p * 13)),
        containerOf(
          'regular',
          'app',
          appImage,
          finished
            ? { kind: 'terminated' }
            : waiting
              ? { kind: 'waiting', reason: 'ErrImagePull' }
              : { kind: 'running' },
        ),
        finished ? { ...sidecar, state: { kind: 'terminated' } } : sidecar,
      ],
      phase: finished ? 'Succeeded' : waiting ? 'Pending' : 'Running',
      createdOffsetMs: 5 * MINUTE + p * 1000,
    });
  }

  const probeTenant = tenants[1 % tenantCount] as string;
  const probePod = (index: number): PodModel => ({
    namespace: `${probeTenant}-dev`,
    name: `probe-${index}`,
    uid: `uid-probe-${index}`,
    pullSecrets: secretsOf(probeTenant),
    containers: [
      containerOf('init', 'init', anyImage(index)),
      containerOf('regular', 'app', ownImage(tenants[0] as string, index)),
      containerOf('regular', 'sidecar', anyImage(index + 11)),
    ],
    phase: 'Running',
    createdOffsetMs: 25 * MINUTE,
  });

  const partial = { images, pods, secrets, namespaces, tenants };
  const expectedFindings = countFindings(snapshotOf(snapshotParts(partial)));
  return {
    ...partial,
    expectedFindings,
    probePod,
    describe: () =>
      `${images.length.toLocaleString('en-US')} cached images (${privateCount.toLocaleString('en-US')} private with owners), ` +
      `${pods.length} pods × 3 containers (${intruders} running another tenant's private image), ` +
      `${tenants.length} tenants in ${namespaces.size - 1} namespaces, ${secrets.length} pull secrets; ` +
      `${expectedFindings.toLocaleString('en-US')} findings`,
  };
}

export function countFindings(snapshot: NodeSnapshot): number {
  return new FindingsStore().apply(detect(snapshot), snapshot.takenAt).active.length;
}

/**
 * A scenario whose node has exactly `findings` findings, found by adjusting the number of
 * private images (each is one private-image-exposed finding on a node with several tenants).
 */
export function buildScenarioWithFindings(
  options: Omit<ScenarioOptions, 'privateImages'>,
  findings: number,
): Scenario {
  let privateImages = Math.max(0, findings - Math.round(options.pods * 0.04) - 1);
  let scenario = buildScenario({ ...options, privateImages });
  for (let attempt = 0; attempt < 8 && scenario.expectedFindings !== findings; attempt += 1) {
    privateImages = Math.max(0, privateImages + findings - scenario.expectedFindings);
    scenario = buildScenario({ ...options, privateImages });
  }
  return scenario;
}

/**
 * The node the latency, footprint, API and kube-load benchmarks share: 5,000 cached images,
 * 500 pods, 1,000 findings, so that their figures describe one and the same agent.
 */
export function sharedBenchNode(): Scenario {
  return buildScenarioWithFindings({ images: 5000, pods: 500 }, 1000);
}

// ---- shapes ---------------------------------------------------------------------------

type ScenarioCore = Pick<Scenario, 'images' | 'pods' | 'secrets' | 'namespaces' | 'tenants'>;

export function criImages(scenario: Pick<Scenario, 'images'>): CriImage[] {
  return scenario.images.map((i) =>
    cachedImage(i.seed, { tags: i.tags, digestRepos: [i.repo], sizeBytes: i.sizeBytes }),
  );
}

function runState(state: StateModel, startedAt: number): ContainerRunState {
  switch (state.kind) {
    case 'running':
      return { kind: 'running', startedAt };
    case 'terminated':
      return { kind: 'terminated', exitCode: 0, startedAt };
    case 'waiting':
      return { kind: 'waiting', reason: state.reason };
  }
}

export function podView(model: PodModel): PodView {
  const createdAt = T0 + model.createdOffsetMs;
  return pod(
    model.namespace,
    model.name,
    model.containers.map((c) =>
      container(c.image, {
        name: c.name,
        kind: c.kind,
        policy: c.policy,
        state: runState(c.state, createdAt + 2000),
        ...(c.statusImageId === undefined ? {} : { statusImageId: c.statusImageId }),
      }),
    ),
    {
      uid: model.uid,
      pullSecrets: model.pullSecrets,
      createdAt,
      finished: model.phase === 'Succeeded',
    },
  );
}

export function secretViews(scenario: Pick<Scenario, 'secrets'>): SecretView[] {
  return scenario.secrets.map((s) =>
    secret(
      s.namespace,
      s.name,
      s.entries.map((e) => credential(e.key, e.credId)),
    ),
  );
}

function repositoryVisibilities(
  images: readonly ImageModel[],
): Record<string, RepositoryVisibility> {
  const out: Record<string, RepositoryVisibility> = {};
  for (const image of images) {
    out[image.repo] =
      image.owners.length === 0
        ? { visibility: 'public', basis: 'listed in --public-registries', nodeCredentials: false }
        : {
            visibility: 'unknown',
            basis: 'registry probing is off (--registry-probe=off)',
            nodeCredentials: false,
          };
  }
  return out;
}

export function namespaceLabels(
  scenario: Pick<Scenario, 'namespaces'>,
): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [name, tenant] of scenario.namespaces) {
    out[name] = tenant === undefined ? {} : { [TENANT_LABEL]: tenant };
  }
  return out;
}

/** What snapshotOf takes: the node as the agent would have gathered it. */
export function snapshotParts(scenario: ScenarioCore, images = criImages(scenario)): SnapshotParts {
  return {
    node: NODE,
    images,
    pods: scenario.pods.map(podView),
    secrets: secretViews(scenario),
    provenance: scenario.images
      .filter((i) => i.owners.length > 0)
      .map((i) => ({
        seed: i.seed,
        cachedSince: T0 - DAY,
        owners: i.owners.map((o) =>
          owner(o.namespace, o.secret, o.credId, { tenant: o.tenant, at: T0 - DAY }),
        ),
      })),
    visibility: repositoryVisibilities(scenario.images),
    namespaceLabels: namespaceLabels(scenario),
    tenantLabel: TENANT_LABEL,
    ignoredNamespaces: [...IGNORED_NAMESPACES],
    takenAt: T0 + 30 * MINUTE,
  };
}

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Provenance as the agent's state dir holds it (provenance.json), for an agent process that
 * starts on a node whose pulls it saw before. Fingerprints are keyed per agent, so these never
 * equal a live credential's: only tenancy decides who owns an image.
 */
export function provenanceState(
  scenario: Pick<Scenario, 'images'>,
  cachedSince: number,
): Map<ImageId, ImageProvenance> {
  const out = new Map<ImageId, ImageProvenance>();
  for (const image of scenario.images) {
    if (image.owners.length === 0) continue;
    const id = imageId(image.seed);
    out.set(id, {
      imageId: id,
      cachedSince,
      nodeWide: false,
      owners: image.owners.map((o) => ({
        tenant: o.tenant as TenantId,
        namespace: o.namespace,
        secret: o.secret,
        fingerprint: hex(`fp-${o.credId}`) as CredentialFingerprint,
        credentialHash: hex(`hash-${o.credId}`) as CredentialHash,
        source: 'observed-pull',
        firstSeen: cachedSince,
        lastSeen: cachedSince,
      })),
    });
  }
  return out;
}

// ---- Kubernetes objects -----------------------------------------------------------------

export function namespaceObject(name: string, tenant: string | undefined): object {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, ...(tenant === undefined ? {} : { labels: { [TENANT_LABEL]: tenant } }) },
  };
}

export function secretObject(model: SecretModel): object {
  const auths: Record<string, { username: string; password: string }> = {};
  for (const e of model.entries) auths[e.key] = { username: e.credId, password: `pw-${e.credId}` };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace: model.namespace, name: model.name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') },
  };
}

function containerStatus(c: ContainerModel, at: string): object {
  const state =
    c.state.kind === 'running'
      ? { running: { startedAt: at } }
      : c.state.kind === 'terminated'
        ? { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } }
        : { waiting: { reason: c.state.reason } };
  return {
    name: c.name,
    image: c.image,
    imageID: c.statusImageId ?? '',
    ready: c.state.kind === 'running',
    restartCount: 0,
    state,
  };
}

/**
 * A Pod bound to the benchmark node, with the status its kubelet would have written. With
 * `since`, the pod was created then and its containers started then (a pod that has been
 * running for a while); otherwise it is new and the API server stamps it.
 */
export function podObject(model: PodModel, since?: Date): object {
  const at = (since ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  const spec = (kind: ContainerKind) =>
    model.containers
      .filter((c) => c.kind === kind)
      .map((c) => ({ name: c.name, image: c.image, imagePullPolicy: c.policy }));
  const status = (kind: ContainerKind) =>
    model.containers.filter((c) => c.kind === kind).map((c) => containerStatus(c, at));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: model.namespace,
      name: model.name,
      uid: model.uid,
      ...(since === undefined ? {} : { creationTimestamp: at }),
    },
    spec: {
      nodeName: NODE,
      serviceAccountName: 'default',
      imagePullSecrets: model.pullSecrets.map((name) => ({ name })),
      initContainers: spec('init'),
      containers: spec('regular'),
    },
    status: {
      phase: model.phase,
      initContainerStatuses: status('init'),
      containerStatuses: status('regular'),
    },
  };
}

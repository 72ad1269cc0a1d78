// The cluster the controller benchmark simulates: which tenants' pods each node runs, from
// which repositories, with which pull secret; what each node's agent asks the controller; and,
// from the same placement, how many registry probes the whole cluster makes with the
// controller (each distinct question once) and with --secrets-from direct (each node asks its
// own questions). Pure: no I/O, the same placement for the same shape.

/** DaemonSet pods on every node (CNI, kube-proxy, CSI, log shipper, node exporter). */
export const DAEMONSET_PODS = 5;
/** Tenants whose pods share a node; each names its tenant's one pull secret: 5 per node. */
export const TENANTS_PER_NODE = 5;
/** Pods of one tenant on one node, each of another Deployment (replicas spread over nodes). */
export const PODS_PER_TENANT_ON_NODE = 5;
/** Tenants grow with the cluster: one per this many nodes (at least TENANTS_PER_NODE). */
export const NODES_PER_TENANT = 50;
/** Repositories (one per Deployment) in each tenant's catalogue. */
export const APPS_PER_TENANT = 50;
/** The pull secret every tenant namespace holds and every pod of it names. */
export const PULL_SECRET = 'regcred';
export const DAEMONSET_NAMESPACE = 'kube-system';

export interface ClusterShape {
  readonly nodes: number;
  readonly tenants: number;
  readonly appsPerTenant: number;
  readonly daemonSets: number;
  readonly tenantsPerNode: number;
  readonly podsPerTenantOnNode: number;
}

export function clusterShape(
  nodes: number,
  overrides: Partial<Omit<ClusterShape, 'nodes'>> = {},
): ClusterShape {
  const tenantsPerNode = overrides.tenantsPerNode ?? TENANTS_PER_NODE;
  return {
    nodes,
    tenants: overrides.tenants ?? Math.max(tenantsPerNode, Math.round(nodes / NODES_PER_TENANT)),
    appsPerTenant: overrides.appsPerTenant ?? APPS_PER_TENANT,
    daemonSets: overrides.daemonSets ?? DAEMONSET_PODS,
    tenantsPerNode,
    podsPerTenantOnNode: overrides.podsPerTenantOnNode ?? PODS_PER_TENANT_ON_NODE,
  };
}

export const podsPerNode = (s: ClusterShape): number =>
  s.daemonSets + s.tenantsPerNode * s.podsPerTenantOnNode;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
export const nodeName = (index: number): string => `node-${pad(index, 5)}`;
export const tenantNamespace = (tenant: number): string => `tenant-${pad(tenant, 3)}`;
/** Repository paths, without the registry. */
export const appRepository = (tenant: number, app: number): string =>
  `${tenantNamespace(tenant)}/app-${pad(app, 2)}`;
export const daemonSetRepository = (k: number): string => `platform/ds-${k}`;

export interface TenantOnNode {
  readonly tenant: number;
  readonly namespace: string;
  /** Repository paths of its pods on the node, one pod each. */
  readonly repositories: readonly string[];
}

export interface NodePlan {
  readonly index: number;
  readonly node: string;
  readonly tenants: readonly TenantOnNode[];
  /** Repository paths of the DaemonSet pods (public registry, no pull secret). */
  readonly daemonSets: readonly string[];
}

/** mulberry32: a small seeded generator, so a node's placement is the same in every run. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** k distinct numbers of 0..n-1 (a partial Fisher-Yates shuffle). */
function pickDistinct(random: () => number, n: number, k: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < Math.min(k, n); i += 1) {
    const j = i + Math.floor(random() * (n - i));
    [pool[i], pool[j]] = [pool[j] as number, pool[i] as number];
    out.push(pool[i] as number);
  }
  return out;
}

/** Which tenants run on node `index`, and from which repositories: uniform, seeded by the node. */
export function nodePlan(shape: ClusterShape, index: number): NodePlan {
  const random = generator(Math.imul(index + 1, 2654435761));
  const tenants = pickDistinct(random, shape.tenants, shape.tenantsPerNode).map((tenant) => ({
    tenant,
    namespace: tenantNamespace(tenant),
    repositories: pickDistinct(random, shape.appsPerTenant, shape.podsPerTenantOnNode).map((app) =>
      appRepository(tenant, app),
    ),
  }));
  return {
    index,
    node: nodeName(index),
    tenants,
    daemonSets: Array.from({ length: shape.daemonSets }, (_, k) => daemonSetRepository(k)),
  };
}

/**
 * The questions a node's agent asks about its registry answers (agent/core/registry-questions.ts):
 * the visibility of every cached repository, and a verdict per (credential, repository, image)
 * for each container whose pod names a secret with a credential for the image's registry.
 * Keys are comparable across nodes.
 */
export interface NodeQuestions {
  readonly publicVisibility: readonly string[];
  readonly privateVisibility: readonly string[];
  readonly verdicts: readonly string[];
}

export function questionsOf(plan: NodePlan): NodeQuestions {
  return {
    publicVisibility: plan.daemonSets,
    privateVisibility: plan.tenants.flatMap((t) => t.repositories),
    verdicts: plan.tenants.flatMap((t) =>
      t.repositories.map((repo) => `${t.namespace}/${PULL_SECRET}|${repo}`),
    ),
  };
}

/** Registry HTTP requests one probe costs, measured against the real registries. */
export interface ProbeCosts {
  /** Anonymous manifest probe of a public repository. */
  readonly publicVisibility: number;
  /** Anonymous manifest probe of a private repository. */
  readonly privateVisibility: number;
  /** Manifest probe with a tenant's credential. */
  readonly verdict: number;
}

export interface QuestionCounts {
  readonly publicVisibility: number;
  readonly privateVisibility: number;
  readonly verdicts: number;
}

export interface RegistryLoad {
  readonly shape: ClusterShape;
  /** Distinct questions in the whole cluster: what the controller probes, once per answer TTL. */
  readonly distinct: QuestionCounts;
  /** The sum over nodes of each node's distinct questions: what direct-mode agents probe. */
  readonly perNodeSum: QuestionCounts;
  /** Registry requests per hour. */
  readonly controllerPerHour: number;
  readonly directPerHour: number;
  /** directPerHour / controllerPerHour */
  readonly ratio: number;
}

const requests = (q: QuestionCounts, c: ProbeCosts): number =>
  q.publicVisibility * c.publicVisibility +
  q.privateVisibility * c.privateVisibility +
  q.verdicts * c.verdict;

/** How long each side keeps a definite answer, on average. */
export interface AnswerLifetimes {
  /** The controller's --registry-answer-ttl less its mean jitter. */
  readonly controllerMs: number;
  /** A direct-mode agent's resolver (agent/registry/visibility.ts DEFAULT_ANSWER_TTL_MS). */
  readonly directMs: number;
}

/**
 * Registry requests per hour for the whole cluster. Agents ask again every 10 minutes and are
 * answered from a cache, so each distinct question costs one probe per answer lifetime: per
 * cluster through the controller (its own, longer TTL), per node when every agent probes for
 * itself (the agent's TTL).
 */
export function registryLoad(
  shape: ClusterShape,
  costs: ProbeCosts,
  lifetimes: AnswerLifetimes,
): RegistryLoad {
  const pub = new Set<string>();
  const priv = new Set<string>();
  const verdicts = new Set<string>();
  const sum = { publicVisibility: 0, privateVisibility: 0, verdicts: 0 };
  for (let i = 0; i < shape.nodes; i += 1) {
    const q = questionsOf(nodePlan(shape, i));
    for (const k of q.publicVisibility) pub.add(k);
    for (const k of q.privateVisibility) priv.add(k);
    for (const k of q.verdicts) verdicts.add(k);
    sum.publicVisibility += new Set(q.publicVisibility).size;
    sum.privateVisibility += new Set(q.privateVisibility).size;
    sum.verdicts += new Set(q.verdicts).size;
  }
  const distinct = {
    publicVisibility: pub.size,
    privateVisibility: priv.size,
    verdicts: verdicts.size,
  };
  const controllerPerHour = (requests(distinct, costs) * 3_600_000) / lifetimes.controllerMs;
  const directPerHour = (requests(sum, costs) * 3_600_000) / lifetimes.directMs;
  return {
    shape,
    distinct,
    perNodeSum: sum,
    controllerPerHour,
    directPerHour,
    ratio: directPerHour / controllerPerHour,
  };
}

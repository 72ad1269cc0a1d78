// A fixed AgentView for the HTTP and metrics tests: a node with three cached images (one of
// them larger than 2^53 bytes, so exact bigint output is visible), findings of every rule, and
// knobs to make a source fail, go stale or the agent not ready.
import type { Finding, Rule } from '../../../agent/detect/finding.ts';
import type { TenantId } from '../../../agent/model/snapshot.ts';
import type {
  AgentView,
  ImageView,
  NodeProtection,
  SourceHealth,
  SourceName,
  SourceStatuses,
} from '../../../agent/view.ts';

const tenant = (name: string): TenantId => name as TenantId;

export const FIXED_NOW = Date.parse('2026-02-01T12:00:00.000Z');

export const PRIVATE_IMAGE_ID =
  'sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809';
export const PUBLIC_IMAGE_ID =
  'sha256:9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';
export const UNKNOWN_IMAGE_ID =
  'sha256:5555555555555555555555555555555555555555555555555555555555555555';

/** 2^53 + 1: a JavaScript number would print it as 9007199254740992. */
export const HUGE_SIZE = 9007199254740993n;

const teamAOwner = {
  tenant: tenant('team-a'),
  namespace: 'team-a',
  secret: 'team-a-pull',
} as const;

const common = {
  node: 'node-1',
  registry: 'registry.example.com',
  repository: 'team-a/billing',
  repoDigest:
    'registry.example.com/team-a/billing@sha256:0000000000000000000000000000000000000000000000000000000000000001',
  imageId: PRIVATE_IMAGE_ID,
  image: 'registry.example.com/team-a/billing:1.4',
  owners: [teamAOwner],
  remediation: 'Enable AlwaysPullImages or the kubelet AlwaysVerify policy.',
} as const;

export const FINDINGS: readonly Finding[] = [
  {
    ...common,
    rule: 'unauthorized-cached-image-use',
    id: 'f-unauthorized-b',
    severity: 'high',
    confidence: 'confirmed',
    tenant: tenant('team-b'),
    namespace: 'team-b',
    pod: 'reports-6d5f',
    container: 'main',
    pullPolicy: 'IfNotPresent',
    podUid: 'uid-reports',
    containerKind: 'regular',
    possibleOwners: [],
    evidence: ['The kubelet said the image was already present on machine.'],
    firstSeen: '2026-02-01T10:00:00.000Z',
    lastSeen: '2026-02-01T11:59:00.000Z',
  },
  {
    ...common,
    rule: 'unauthorized-cached-image-use',
    id: 'f-unauthorized-c',
    severity: 'critical',
    confidence: 'likely',
    tenant: tenant('team-c'),
    namespace: 'team-c-dev',
    pod: 'debug',
    container: 'shell',
    pullPolicy: 'Never',
    podUid: 'uid-debug',
    containerKind: 'ephemeral',
    possibleOwners: [],
    evidence: ['The image is cached and the pod may start from it.'],
    firstSeen: '2026-02-01T11:00:00.000Z',
    lastSeen: '2026-02-01T11:59:00.000Z',
  },
  {
    ...common,
    rule: 'unauthorized-cached-image-use',
    id: 'f-unauthorized-b-old',
    severity: 'high',
    confidence: 'possible',
    tenant: tenant('team-b'),
    namespace: 'team-b',
    pod: 'batch-1',
    container: 'job',
    pullPolicy: 'IfNotPresent',
    podUid: 'uid-batch',
    containerKind: 'init',
    possibleOwners: [],
    evidence: ['Tenant team-b holds a matching credential that could not be checked.'],
    firstSeen: '2026-01-31T08:00:00.000Z',
    lastSeen: '2026-02-01T11:59:00.000Z',
  },
  {
    ...common,
    rule: 'private-image-exposed',
    id: 'f-exposed',
    severity: 'medium',
    confidence: 'likely',
    exposedTenants: [tenant('team-b'), tenant('team-c')],
    evidence: ['Private image registry.example.com/team-a/billing:1.4 is in the cache.'],
    firstSeen: '2026-02-01T09:00:00.000Z',
    lastSeen: '2026-02-01T11:59:00.000Z',
  },
  {
    rule: 'always-pull-images-not-enforced',
    id: 'f-always-pull',
    severity: 'low',
    confidence: 'confirmed',
    node: 'node-1',
    containersByPolicy: { Always: 1, IfNotPresent: 4, Never: 1 },
    evidence: ['5 of 6 containers use imagePullPolicy IfNotPresent or Never.'],
    remediation: 'Enable the AlwaysPullImages admission plugin.',
    firstSeen: '2026-01-30T00:00:00.000Z',
    lastSeen: '2026-02-01T11:59:00.000Z',
  },
];

export const IMAGES: readonly ImageView[] = [
  {
    imageId: PRIVATE_IMAGE_ID,
    repoTags: ['registry.example.com/team-a/billing:1.4'],
    repoDigests: [common.repoDigest],
    sizeBytes: HUGE_SIZE,
    pinned: false,
    visibility: 'private',
    owners: [teamAOwner],
    possibleOwners: [],
    ownerPending: undefined,
    usedBy: [
      { namespace: 'team-a', pod: 'billing-0', container: 'app' },
      { namespace: 'team-b', pod: 'reports-6d5f', container: 'main' },
    ],
  },
  {
    imageId: PUBLIC_IMAGE_ID,
    repoTags: ['docker.io/library/nginx:1.27'],
    repoDigests: [
      'docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000002',
    ],
    sizeBytes: 72_000_000n,
    pinned: false,
    visibility: 'public',
    owners: [],
    possibleOwners: [],
    ownerPending: undefined,
    usedBy: [{ namespace: 'team-b', pod: 'web', container: 'nginx' }],
  },
  {
    imageId: UNKNOWN_IMAGE_ID,
    repoTags: [],
    repoDigests: [],
    sizeBytes: 1_000n,
    pinned: true,
    visibility: 'unknown',
    owners: [],
    possibleOwners: [],
    ownerPending: undefined,
    usedBy: [],
  },
];

const healthySource: SourceHealth = {
  up: true,
  lastSync: FIXED_NOW - 5_000,
  lastError: undefined,
  stale: false,
};

/** Namespaces that belong to a tenant other than their own name (as with --tenant-label). */
const TENANT_LABELS: Readonly<Record<string, string>> = { 'team-c-dev': 'team-c' };

export interface FakeViewState {
  node: string;
  findings: readonly Finding[];
  images: readonly ImageView[];
  sources: SourceStatuses;
  readiness: { readonly ready: true } | { readonly ready: false; readonly reason: string };
  protection: NodeProtection;
  lastScan: { readonly at: number; readonly durationSeconds: number } | undefined;
  findingsDetectedTotal: Map<Rule, number>;
  errorsTotal: Map<string, number>;
  registryProbesTotal: Map<string, number>;
  /** Counts calls, so tests can show which view methods a request used. */
  calls: Map<string, number>;
}

export interface FakeView extends AgentView {
  /** Mutable: tests change it between requests. */
  readonly state: FakeViewState;
  setSource(name: SourceName, health: Partial<SourceHealth>): void;
}

/** The fixture node: pods not forced to pull, the kubelet on its default policy. */
export const FAKE_PROTECTION: NodeProtection = {
  alwaysPullImages: 'not-enforced',
  kubeletVerification: 'on',
  kubeletPolicy: 'NeverVerifyPreloadedImages',
  kubeletPolicyBasis:
    "the gate is on in /var/lib/kubelet/config.yaml; imagePullCredentialsVerificationPolicy is not set, so the kubelet's default NeverVerifyPreloadedImages applies",
  preloadedImagesVerificationAllowlist: [],
  kubeletConfigFiles: ['/var/lib/kubelet/config.yaml'],
  webhook: 'unknown',
  protectedBy: 'kubelet-partial',
};

export function fakeView(overrides: Partial<FakeViewState> = {}): FakeView {
  const state: FakeViewState = {
    node: 'node-1',
    findings: FINDINGS,
    images: IMAGES,
    sources: { cri: healthySource, kubernetes: healthySource },
    readiness: { ready: true },
    protection: FAKE_PROTECTION,
    lastScan: { at: FIXED_NOW - 2_000, durationSeconds: 0.042 },
    findingsDetectedTotal: new Map<Rule, number>([
      ['unauthorized-cached-image-use', 7],
      ['private-image-exposed', 2],
      ['always-pull-images-not-enforced', 1],
    ]),
    errorsTotal: new Map([
      ['cri', 3],
      ['kubernetes', 0],
    ]),
    registryProbesTotal: new Map([
      ['readable', 12],
      ['denied', 4],
      ['not-found', 1],
      ['error', 2],
    ]),
    calls: new Map(),
    ...overrides,
  };
  const called = (name: string): void => {
    state.calls.set(name, (state.calls.get(name) ?? 0) + 1);
  };
  return {
    state,
    get node() {
      return state.node;
    },
    setSource(name, health) {
      const before = state.sources[name] ?? healthySource;
      state.sources = { ...state.sources, [name]: { ...before, ...health } };
    },
    findings() {
      called('findings');
      return state.findings;
    },
    finding(id) {
      called('finding');
      return state.findings.find((f) => f.id === id);
    },
    images() {
      called('images');
      return state.images;
    },
    sources() {
      called('sources');
      return state.sources;
    },
    readiness() {
      return state.readiness;
    },
    protection() {
      return state.protection;
    },
    lastScan() {
      return state.lastScan;
    },
    findingsDetectedTotal() {
      return state.findingsDetectedTotal;
    },
    errorsTotal() {
      return state.errorsTotal;
    },
    registryProbesTotal() {
      return state.registryProbesTotal;
    },
    tenantOf(namespace) {
      return TENANT_LABELS[namespace] ?? namespace;
    },
  };
}

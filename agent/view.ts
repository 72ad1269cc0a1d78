// What the agent knows, as the outputs (HTTP API, metrics, CLI) read it. Read-only: outputs
// never reach back into the sources.
import type { Finding, Rule } from './detect/finding.ts';
import type { Visibility } from './model/snapshot.ts';
import type { OwnerRef } from './detect/finding.ts';
import type { ProtectionMechanism } from './detect/kubelet-posture.ts';
import type { KubeletPolicyState } from './model/kubelet-config.ts';

export const SOURCES = ['cri', 'kubernetes', 'controller'] as const;
export type SourceName = (typeof SOURCES)[number];

export interface SourceHealth {
  readonly up: boolean;
  /** ms since epoch of the last complete, successful read; undefined before the first. */
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
  /** We are serving an older view because the source is failing now. */
  readonly stale: boolean;
}

/** The runtime and the API server always; the controller when secrets come from it. */
export type SourceStatuses = Readonly<Record<'cri' | 'kubernetes', SourceHealth>> & {
  readonly controller?: SourceHealth;
};

/** The sources an agent has, in SOURCES order. */
export function presentSources(
  sources: SourceStatuses,
): readonly (readonly [SourceName, SourceHealth])[] {
  return SOURCES.flatMap((name) => {
    const health = sources[name];
    return health === undefined ? [] : [[name, health] as const];
  });
}

export interface ImageView {
  readonly imageId: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  readonly sizeBytes: bigint;
  readonly pinned: boolean;
  readonly visibility: Visibility;
  readonly owners: readonly OwnerRef[];
  /** Unverified bootstrap guesses: never trusted as owners. */
  readonly possibleOwners: readonly OwnerRef[];
  /** Why the owner is not decided yet; undefined when it is. */
  readonly ownerPending: string | undefined;
  /** Pods on this node that use the image: `namespace/pod/container`. */
  readonly usedBy: readonly {
    readonly namespace: string;
    readonly pod: string;
    readonly container: string;
  }[];
}

export interface NodeProtection {
  /** Whether every container on the node is forced to pull (AlwaysPullImages or an equivalent). */
  readonly alwaysPullImages: 'enforced' | 'not-enforced' | 'unknown';
  /** What the kubelet's KEP-2535 verification appears to be from records and events. */
  readonly kubeletVerification: 'on' | 'off' | 'unknown';
  /** The kubelet's imagePullCredentialsVerificationPolicy in force, 'gate-off', or 'unknown'. */
  readonly kubeletPolicy: KubeletPolicyState;
  /** Why pullwatch believes kubeletPolicy, or why it cannot tell. */
  readonly kubeletPolicyBasis: string;
  readonly preloadedImagesVerificationAllowlist: readonly string[];
  /** The kubelet configuration files read, in the kubelet's merge order. */
  readonly kubeletConfigFiles: readonly string[];
  /** pullwatch's own admission webhook: not known from the agent's side. */
  readonly webhook: 'unknown';
  /** The strongest mechanism in force against the leak. */
  readonly protectedBy: ProtectionMechanism;
}

export interface AgentView {
  readonly node: string;
  findings(): readonly Finding[];
  finding(id: string): Finding | undefined;
  images(): readonly ImageView[];
  sources(): SourceStatuses;
  /** Ready once the first CRI listing and the first pod list are done. */
  readiness(): { readonly ready: true } | { readonly ready: false; readonly reason: string };
  protection(): NodeProtection;
  /** Seconds each reconcile took, for the scan-duration histogram; drained by the reader. */
  lastScan(): { readonly at: number; readonly durationSeconds: number } | undefined;
  findingsDetectedTotal(): ReadonlyMap<Rule, number>;
  errorsTotal(): ReadonlyMap<string, number>;
  registryProbesTotal(): ReadonlyMap<string, number>;
  tenantOf(namespace: string): string;
}

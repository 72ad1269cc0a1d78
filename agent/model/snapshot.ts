// One immutable picture of a node: everything detection needs, gathered by the sources
// (runtime, API server, state dir, registry) and handed to detect(). Nothing here does I/O.
import type { Brand } from '../brand.ts';
import type { ImageId } from '../image/digest.ts';
import type { Inventory } from '../image/inventory.ts';
import type { CredentialCheck, CredentialFingerprint, CredentialHash } from './credential.ts';
import type { RegistryKeyMatcher } from './registry-key.ts';
import type { KubeletPosture } from './kubelet-config.ts';

export type { CredentialCheck, RegistryAuthorization } from './credential.ts';

/** A namespace, or with --tenant-label, the label value shared by a team's namespaces. */
export type TenantId = Brand<string, 'TenantId'>;

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type ContainerKind = 'init' | 'regular' | 'ephemeral';

export type ContainerRunState =
  | { readonly kind: 'not-started' }
  | { readonly kind: 'waiting'; readonly reason: string }
  | { readonly kind: 'running'; readonly startedAt: number }
  | {
      readonly kind: 'terminated';
      readonly exitCode: number;
      readonly startedAt: number | undefined;
    };

export interface PodContainer {
  readonly kind: ContainerKind;
  readonly name: string;
  /** The image as written in the pod spec. */
  readonly image: string;
  /** With Kubernetes' defaulting applied (Always for :latest or no tag, else IfNotPresent). */
  readonly pullPolicy: PullPolicy;
  readonly state: ContainerRunState;
  /** status.containerStatuses[].imageID: the repo digest the runtime started, when known. */
  readonly statusImageId: string | undefined;
}

export interface PodView {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Milliseconds since the epoch (metadata.creationTimestamp). */
  readonly createdAt: number;
  readonly serviceAccountName: string;
  /** spec.imagePullSecrets (the service account's are copied in at admission). */
  readonly pullSecretNames: readonly string[];
  readonly containers: readonly PodContainer[];
  /** The pod is finished (Succeeded/Failed) or being deleted: its containers start nothing new. */
  readonly finished: boolean;
  /** The pod's controller (its ownerReference with controller: true), e.g. a ReplicaSet or Job. */
  readonly controller?: PodController;
}

/** A workload that owns a pod, in the pod's namespace (metav1.OwnerReference's fields). */
export interface PodController {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

/** A credential from a pull secret: how it is matched and how it is recognised; never its value. */
export interface CredentialView {
  readonly matcher: RegistryKeyMatcher;
  readonly fingerprint: CredentialFingerprint;
  readonly credentialHash: CredentialHash;
  /**
   * How to ask the registry whether it reads an image. Absent when verification is off or the
   * credential has no username/password.
   */
  readonly check?: CredentialCheck | undefined;
}

export type SecretView =
  | {
      readonly state: 'ok';
      readonly namespace: string;
      readonly name: string;
      readonly credentials: readonly CredentialView[];
    }
  | {
      /**
       * missing, malformed, unreadable (forbidden): failed for good, the secret gives no
       * credential. unavailable: the read failed in a way that may pass (network, 5xx): what the
       * secret holds is not known yet, which is not the same as holding nothing.
       */
      readonly state: 'missing' | 'malformed' | 'unreadable' | 'unavailable';
      readonly namespace: string;
      readonly name: string;
      /** Names the problem; never contains secret material. */
      readonly problem: string;
    };

/**
 * How we know that a tenant's credential brought an image onto this node, strongest first
 * (PROVENANCE_SOURCES). A stronger source corrects owners taken from a weaker one.
 *
 * - kubelet-record: the kubelet's KEP-2535 pulled record names the secret.
 * - observed-pull: the image appeared in a listing while a pod of the tenant was starting.
 * - pulled-event: the kubelet's "Successfully pulled image" event on a pod of the tenant.
 * - verified-bootstrap: found cached at start; a pod running it holds a credential that the
 *   registry (or a kubelet record's credentialHash) confirms can read the repository.
 * - unverified-bootstrap: found cached at start; a pod running it holds a credential matching
 *   the registry, but nobody could confirm that it reads the repository. A possible owner
 *   only: it never authorizes anyone's use of the image.
 */
export const PROVENANCE_SOURCES = [
  'kubelet-record',
  'observed-pull',
  'pulled-event',
  'verified-bootstrap',
  'unverified-bootstrap',
] as const;
export type ProvenanceSource = (typeof PROVENANCE_SOURCES)[number];

/** Lower is stronger. */
export function sourceStrength(source: ProvenanceSource): number {
  return PROVENANCE_SOURCES.indexOf(source);
}

/** An owner only a guess made: shown as a possible owner, never trusted to authorize. */
export function isPossibleOwner(owner: Pick<ImageOwner, 'source'>): boolean {
  return owner.source === 'unverified-bootstrap';
}

export interface ImageOwner {
  readonly tenant: TenantId;
  readonly namespace: string;
  /** Secret name, when the credential came from a pull secret we could name. */
  readonly secret: string | undefined;
  readonly fingerprint: CredentialFingerprint | undefined;
  readonly credentialHash: CredentialHash | undefined;
  readonly source: ProvenanceSource;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

export interface ImageProvenance {
  readonly imageId: ImageId;
  /** Earliest time the image is known to have been in the cache (ms since epoch). */
  readonly cachedSince: number | undefined;
  readonly owners: readonly ImageOwner[];
  /**
   * The kubelet recorded the image as usable by every pod of the node (node credentials,
   * a credential provider, or an anonymous pull): never a finding.
   */
  readonly nodeWide: boolean;
}

export type Visibility = 'public' | 'private' | 'unknown';

export interface RepositoryVisibility {
  readonly visibility: Visibility;
  /** Why we believe it, e.g. "anonymous manifest request answered 401". */
  readonly basis: string;
  /** Credentials the node itself holds for this registry (--node-credential-registries). */
  readonly nodeCredentials: boolean;
}

/**
 * Why a visibility is "unknown" for good: asking again gives the same answer until the agent's
 * or the controller's settings change (the registry port's own words, shared so that the
 * questions' owner can tell them from an outage).
 */
export const SETTLED_UNKNOWN = {
  probeOff: 'registry probing is off (--registry-probe=off)',
  invalidName: 'not a registry/repository name',
} as const;

/** An "unknown" that asking again within minutes cannot change. */
export function isSettledUnknown(value: RepositoryVisibility): boolean {
  return (
    value.visibility === 'unknown' &&
    (value.basis === SETTLED_UNKNOWN.probeOff || value.basis === SETTLED_UNKNOWN.invalidName)
  );
}

export type CredentialVerdict = 'can-read' | 'cannot-read' | 'unknown';

/** What the kubelet's events say about a container's image at its start. */
export type KubeletImageEvent =
  | 'already-present' // "Container image ... already present on machine"
  | 'already-present-verified' // "... and can be accessed by the pod" (KEP-2535 checked it)
  | 'pulled';

/**
 * Immutable, and so are the objects it holds: detection remembers answers per inventory, per
 * secrets map and per container object, so a source hands over new objects when something
 * changed instead of changing the ones it handed over before.
 */
export interface NodeSnapshot {
  readonly node: string;
  /** ms since epoch. */
  readonly takenAt: number;
  readonly inventory: Inventory;
  readonly pods: readonly PodView[];
  readonly tenantOfNamespace: (namespace: string) => TenantId;
  readonly ignoredNamespaces: ReadonlySet<string>;
  readonly secrets: ReadonlyMap<string, SecretView>; // key: namespace/name
  readonly provenance: ReadonlyMap<ImageId, ImageProvenance>;
  /** Key: `registry/repository` (normalized name without tag or digest). */
  readonly visibility: ReadonlyMap<string, RepositoryVisibility>;
  /** Key: verdictKey(fingerprint, name, digest-or-imageId). */
  readonly verdicts: ReadonlyMap<string, CredentialVerdict>;
  /** Key: kubeletEventKey(podUid, containerName). */
  readonly kubeletEvents: ReadonlyMap<string, KubeletImageEvent>;
  /** KEP-2535 visibly at work on this node (records on disk, or verified events). */
  readonly kubeletVerification: 'on' | 'off' | 'unknown';
  /** What the kubelet enforces, from its configuration files and that evidence. */
  readonly kubeletPosture: KubeletPosture;
  /** Images the kubelet holds a KEP-2535 pulled record of; undefined when its records cannot be read. */
  readonly pulledByKubelet: ReadonlySet<ImageId> | undefined;
  /**
   * Images whose owner is not decided yet, with why (e.g. a running pod's pull secret is still
   * being read): findings about them say so rather than guess.
   */
  readonly ownerPending: ReadonlyMap<ImageId, string>;
}

export function secretKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function verdictKey(fingerprint: string, name: string, imageId: string): string {
  return `${fingerprint}|${name}|${imageId}`;
}

export function kubeletEventKey(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`;
}

// The shapes provenance is folded from: what the loop knows about pods, their credentials, the
// registry's verdicts and the kubelet's events, and what a fold returns.
import type { ImageLocation } from '../credentials/keyring.ts';
import type { ImageId } from '../image/digest.ts';
import type { DetectionMemory } from '../detect/memory.ts';
import type { ImageIdSet, Inventory } from '../image/inventory.ts';
import type {
  CredentialVerdict,
  CredentialView,
  ImageOwner,
  ImageProvenance,
  KubeletImageEvent,
  PodView,
  ProvenanceSource,
  TenantId,
} from '../model/snapshot.ts';
import type { PulledRecord } from './kubelet-record-format.ts';

export type ProvenanceMap = ReadonlyMap<ImageId, ImageProvenance>;

/**
 * A pod credential that matches an image, as `podCredentialsFor` (agent/detect/access.ts) returns
 * them: `secret` is the secret's name, or `namespace/name`.
 */
export interface HeldCredential {
  readonly secret: string;
  readonly credential: CredentialView;
}

/** What a pod holds for an image's registry, as far as its pull secrets have been read. */
export interface PodCredentials {
  /** Matching credentials, in the order the kubelet tries them. */
  readonly matching: readonly HeldCredential[];
  /** Pull secrets (namespace/name) not read yet, or whose read failed in a way that may pass. */
  readonly unknownSecrets: readonly string[];
}

export type CredentialsOf = (pod: PodView, location: ImageLocation) => PodCredentials;

export type TenantOf = (namespace: string) => TenantId;

export interface PodEvidence {
  readonly inventory: Inventory;
  readonly pods: readonly PodView[];
  readonly credentialsOf: CredentialsOf;
  readonly tenantOfNamespace: TenantOf;
  /** ms since epoch. */
  readonly now: number;
  /** The registry's answers on tenants' credentials; key verdictKey(fingerprint, name, imageId). */
  readonly verdicts?: ReadonlyMap<string, CredentialVerdict>;
  /** What the kubelet said about containers' images; key kubeletEventKey(podUid, container). */
  readonly kubeletEvents?: ReadonlyMap<string, KubeletImageEvent>;
  /** The kubelet's pulled records by image: a recorded credentialHash vouches for a credential. */
  readonly kubeletRecords?: ReadonlyMap<ImageId, PulledRecord>;
  /**
   * Detection's memory: which cached image each container gets is asked here first and by the
   * rules right after, of the same inventory and pods; answered once.
   */
  readonly memory?: DetectionMemory;
}

/** Images whose attribution waits for missing knowledge, with the reason (for findings). */
export type PendingOwners = ReadonlyMap<ImageId, string>;

/** A provenance fold's result: the new map and the images left undecided. */
export interface Attribution {
  readonly provenance: ProvenanceMap;
  readonly pending: PendingOwners;
}

export interface PullEvidence extends PodEvidence {
  /**
   * The image IDs of the previous listing; undefined when there was none (the first listing
   * after the agent started), in which case no image counts as new.
   */
  readonly previousImageIds: ImageIdSet | undefined;
  /** How long after a container started it still counts as starting; STARTING_WINDOW_MS. */
  readonly startingWindowMs?: number;
}

/** Owners a stronger source replaced: logged by the agent, since they may have been persisted. */
export interface OwnerCorrection {
  readonly imageId: ImageId;
  readonly dropped: readonly ImageOwner[];
  readonly by: ProvenanceSource;
}

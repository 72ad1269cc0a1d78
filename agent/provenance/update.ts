// How evidence about who brought an image onto the node becomes provenance. Every function is
// pure: it takes the previous provenance and the evidence of one resync (with the time as an
// explicit `now`) and returns new provenance; nothing is mutated and nothing does I/O.
//
// Provenance is knowledge about the node's image cache, not about pods: it survives the deletion
// of the pod that pulled an image and (through the state store) agent restarts. Only the image
// leaving the cache forgets it.
import type { ImageId } from '../image/digest.ts';
import { cachedImageIn } from '../detect/container-image.ts';
import type { Inventory } from '../image/inventory.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { ImageLocation } from '../registry/keyring.ts';
import type {
  CredentialView,
  ImageOwner,
  ImageProvenance,
  PodContainer,
  PodView,
  TenantId,
} from '../detect/snapshot.ts';
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

/** The pod's credentials for an image's registry, in the order the kubelet tries them. */
export type CredentialsOf = (pod: PodView, location: ImageLocation) => readonly HeldCredential[];

export type TenantOf = (namespace: string) => TenantId;

export interface PodEvidence {
  readonly inventory: Inventory;
  readonly pods: readonly PodView[];
  readonly credentialsOf: CredentialsOf;
  readonly tenantOfNamespace: TenantOf;
  /** ms since epoch. */
  readonly now: number;
}

export interface PullEvidence extends PodEvidence {
  /**
   * The image IDs of the previous listing; undefined when there was none (the first listing
   * after the agent started), in which case no image counts as new.
   */
  readonly previousImageIds: ReadonlySet<ImageId> | undefined;
  /** How long after a container started it still counts as starting; STARTING_WINDOW_MS. */
  readonly startingWindowMs?: number;
}

/** A container that started less than this long ago may be the one whose pull we just saw. */
export const STARTING_WINDOW_MS = 5 * 60_000;

// Waiting reasons of a container whose pull failed or was refused: it did not bring the image.
// kubelet pkg/kubelet/images/types.go.
const PULL_FAILED_REASONS: ReadonlySet<string> = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'ErrImageInspect',
  'RegistryUnavailable',
  'SignatureValidationFailed',
]);

export function imageIdsOf(inventory: Inventory): ReadonlySet<ImageId> {
  return new Set(inventory.entries().map((entry) => entry.id));
}

function emptyProvenance(imageId: ImageId): ImageProvenance {
  return { imageId, cachedSince: undefined, owners: [], nodeWide: false };
}

function ownerKey(owner: ImageOwner): string {
  return [
    owner.tenant,
    owner.namespace,
    owner.secret ?? '',
    owner.fingerprint ?? owner.credentialHash ?? '',
    owner.source,
  ].join('\0');
}

/**
 * Owners with duplicates folded: one per (tenant, namespace, secret, fingerprint or
 * credentialHash, source), keeping the earliest firstSeen and the latest lastSeen, in order of
 * first appearance.
 */
export function mergeOwners(owners: readonly ImageOwner[]): ImageOwner[] {
  const merged = new Map<string, ImageOwner>();
  for (const owner of owners) {
    const key = ownerKey(owner);
    const known = merged.get(key);
    merged.set(
      key,
      known === undefined
        ? owner
        : {
            ...known,
            fingerprint: known.fingerprint ?? owner.fingerprint,
            credentialHash: known.credentialHash ?? owner.credentialHash,
            firstSeen: Math.min(known.firstSeen, owner.firstSeen),
            lastSeen: Math.max(known.lastSeen, owner.lastSeen),
          },
    );
  }
  return [...merged.values()];
}

/** Adds owners (and flags) to images, creating entries as needed. */
function withAdditions(
  prev: ProvenanceMap,
  additions: ReadonlyMap<ImageId, Addition>,
): Map<ImageId, ImageProvenance> {
  const next = new Map(prev);
  for (const [imageId, addition] of additions) {
    const known = next.get(imageId);
    const base = known ?? emptyProvenance(imageId);
    const merged: ImageProvenance = {
      imageId,
      cachedSince: base.cachedSince ?? addition.cachedSince,
      owners: mergeOwners([...base.owners, ...addition.owners]),
      nodeWide: base.nodeWide || addition.nodeWide,
    };
    // Evidence seen again (the kubelet's records are read on every resync) changes nothing:
    // the known object stays, so that what was worked out from it stays valid.
    if (known === undefined || !sameImageProvenance(known, merged)) next.set(imageId, merged);
  }
  return next;
}

function sameImageProvenance(a: ImageProvenance, b: ImageProvenance): boolean {
  return (
    a.cachedSince === b.cachedSince &&
    a.nodeWide === b.nodeWide &&
    a.owners.length === b.owners.length &&
    a.owners.every((x, i) => {
      const y = b.owners[i];
      return (
        y !== undefined &&
        x.tenant === y.tenant &&
        x.namespace === y.namespace &&
        x.secret === y.secret &&
        x.fingerprint === y.fingerprint &&
        x.credentialHash === y.credentialHash &&
        x.source === y.source &&
        x.firstSeen === y.firstSeen &&
        x.lastSeen === y.lastSeen
      );
    })
  );
}

interface Addition {
  owners: ImageOwner[];
  nodeWide: boolean;
  cachedSince: number | undefined;
}

function additionFor(additions: Map<ImageId, Addition>, imageId: ImageId): Addition {
  let addition = additions.get(imageId);
  if (addition === undefined) {
    addition = { owners: [], nodeWide: false, cachedSince: undefined };
    additions.set(imageId, addition);
  }
  return addition;
}

/**
 * The kubelet's own account (KEP-2535 ImagePulledRecord): every secret it recorded is an owner,
 * as is every service account whose token a credential provider used; nodePodsAccessible makes
 * the image node-wide. A record with an empty mapping ("verify next time") adds nothing.
 */
export function fromKubeletRecords(
  prev: ProvenanceMap,
  records: ReadonlyMap<ImageId, PulledRecord>,
  tenantOfNamespace: TenantOf,
): ProvenanceMap {
  const additions = new Map<ImageId, Addition>();
  for (const [imageId, record] of records) {
    const seen = record.lastUpdatedTime;
    for (const credentials of record.credentialMapping.values()) {
      const owners: ImageOwner[] = [
        ...credentials.kubernetesSecrets.map((secret) => ({
          tenant: tenantOfNamespace(secret.namespace),
          namespace: secret.namespace,
          secret: secret.name,
          fingerprint: undefined,
          credentialHash: secret.credentialHash,
          source: 'kubelet-record' as const,
          firstSeen: seen,
          lastSeen: seen,
        })),
        ...credentials.kubernetesServiceAccounts.map((account) => ({
          tenant: tenantOfNamespace(account.namespace),
          namespace: account.namespace,
          secret: undefined,
          fingerprint: undefined,
          credentialHash: undefined,
          source: 'kubelet-record' as const,
          firstSeen: seen,
          lastSeen: seen,
        })),
      ];
      if (owners.length === 0 && !credentials.nodePodsAccessible) continue;
      const addition = additionFor(additions, imageId);
      addition.owners.push(...owners);
      addition.nodeWide ||= credentials.nodePodsAccessible;
    }
  }
  return withAdditions(prev, additions);
}

/** The cached image a container uses: the one its status names, else what its image resolves to. */
// An image name the kubelet would reject (InvalidImageName) was never pulled nor started.
function imageIdOfContainer(inventory: Inventory, container: PodContainer): ImageId | undefined {
  return cachedImageIn(inventory, container)?.entry.id;
}

/** Whether the kubelet may have pulled this container's image just now. */
function isStarting(pod: PodView, container: PodContainer, now: number, windowMs: number): boolean {
  if (container.pullPolicy === 'Never') return false; // the kubelet never pulls for it
  const state = container.state;
  switch (state.kind) {
    case 'not-started':
      return !pod.finished;
    case 'waiting':
      return !pod.finished && !PULL_FAILED_REASONS.has(state.reason);
    case 'running':
      return now - state.startedAt <= windowMs;
    case 'terminated':
      return state.startedAt !== undefined && now - state.startedAt <= windowMs;
  }
}

/** Whether the container runs or ran from the cache (bootstrap evidence). */
function hasRun(container: PodContainer): boolean {
  return container.state.kind === 'running' || container.state.kind === 'terminated';
}

function secretName(pod: PodView, secret: string): string {
  const prefix = `${pod.namespace}/`;
  return secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
}

/** The owner a pod's first matching credential makes of it, if it holds one. */
function ownerFromPod(
  evidence: PodEvidence,
  pod: PodView,
  container: PodContainer,
  source: 'observed-pull' | 'running-pod',
): ImageOwner | undefined {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return undefined; // the kubelet rejects it: InvalidImageName
  // The kubelet tries the matching credentials in this order; the first is the one that pulls
  // whenever the registry accepts it.
  const first = evidence.credentialsOf(pod, reference.value)[0];
  if (first === undefined) return undefined;
  return {
    tenant: evidence.tenantOfNamespace(pod.namespace),
    namespace: pod.namespace,
    secret: secretName(pod, first.secret),
    fingerprint: first.credential.fingerprint,
    credentialHash: first.credential.credentialHash,
    source,
    firstSeen: evidence.now,
    lastSeen: evidence.now,
  };
}

/**
 * A pull seen happening: an image ID absent from the previous listing and present now, while a
 * starting pod (a container not started or waiting, or started within the starting window)
 * references it and holds a credential for its registry. The pod's first matching credential
 * becomes an owner. When starting pods of several tenants reference the new image, each that
 * holds a matching credential is recorded: which of them pulled cannot be told.
 */
export function fromObservedPulls(prev: ProvenanceMap, evidence: PullEvidence): ProvenanceMap {
  const { previousImageIds, inventory, now } = evidence;
  if (previousImageIds === undefined) return new Map(prev);
  const newIds = new Set(
    inventory
      .entries()
      .map((entry) => entry.id)
      .filter((id) => !previousImageIds.has(id)),
  );
  if (newIds.size === 0) return new Map(prev);
  const windowMs = evidence.startingWindowMs ?? STARTING_WINDOW_MS;
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!isStarting(pod, container, now, windowMs)) continue;
      const imageId = imageIdOfContainer(inventory, container);
      if (imageId === undefined || !newIds.has(imageId)) continue;
      const owner = ownerFromPod(evidence, pod, container, 'observed-pull');
      if (owner === undefined) continue;
      const addition = additionFor(additions, imageId);
      addition.owners.push(owner);
      addition.cachedSince = now;
    }
  }
  return withAdditions(prev, additions);
}

/**
 * Bootstrap: the agent started on a node that already had images, so for an image whose arrival
 * it never witnessed and which has no owner yet, pods running it that hold a credential for its
 * registry become owners ('running-pod').
 */
export function fromRunningPods(prev: ProvenanceMap, evidence: PodEvidence): ProvenanceMap {
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!hasRun(container)) continue;
      const imageId = imageIdOfContainer(evidence.inventory, container);
      if (imageId === undefined) continue;
      const known = prev.get(imageId);
      // Never for an image that already has owners: a tenant holding a wrong credential for
      // the same registry, running the image from the cache, would otherwise become an owner
      // and so whitewash its own unauthorized use.
      if (known !== undefined && known.owners.length > 0) continue;
      // Nor for an image we saw arrive (cachedSince set by a listing): had one of these pods
      // pulled it, fromObservedPulls would have recorded it; a pod that shows up later with a
      // credential is no evidence of who brought it.
      if (known?.cachedSince !== undefined) continue;
      const owner = ownerFromPod(evidence, pod, container, 'running-pod');
      if (owner === undefined) continue;
      additionFor(additions, imageId).owners.push(owner);
    }
  }
  return withAdditions(prev, additions);
}

/**
 * Marks images that appeared since the previous listing as cached since `now`, unless an earlier
 * time is known. With no previous listing nothing is new: those images were there before us.
 */
export function noteCacheArrivals(
  prev: ProvenanceMap,
  inventory: Inventory,
  previousImageIds: ReadonlySet<ImageId> | undefined,
  now: number,
): ProvenanceMap {
  const next = new Map(prev);
  if (previousImageIds === undefined) return next;
  for (const { id } of inventory.entries()) {
    if (previousImageIds.has(id)) continue;
    const known = next.get(id) ?? emptyProvenance(id);
    if (known.cachedSince === undefined) next.set(id, { ...known, cachedSince: now });
  }
  return next;
}

export interface RemovalTracking {
  /** When each known image was first missing from a listing; carried from call to call. */
  readonly missingSince: ReadonlyMap<ImageId, number>;
  readonly now: number;
  /** How long an image must stay missing before it is forgotten: at least one full resync. */
  readonly graceMs: number;
}

export interface Forgetting {
  readonly provenance: ProvenanceMap;
  readonly missingSince: ReadonlyMap<ImageId, number>;
  readonly forgotten: readonly ImageId[];
}

/**
 * Forgets images that left the cache. Pods coming and going never forget anything; an image
 * missing from the listing is kept for `graceMs` first, so that a transient empty or partial
 * listing (a runtime restart) does not wipe what we know.
 */
export function forgetRemoved(
  prev: ProvenanceMap,
  inventory: Inventory,
  tracking: RemovalTracking,
): Forgetting {
  const provenance = new Map(prev);
  const missingSince = new Map<ImageId, number>();
  const forgotten: ImageId[] = [];
  for (const imageId of prev.keys()) {
    if (inventory.byId(imageId) !== undefined) continue;
    const since = tracking.missingSince.get(imageId) ?? tracking.now;
    if (tracking.now - since >= tracking.graceMs) {
      provenance.delete(imageId);
      forgotten.push(imageId);
    } else {
      missingSince.set(imageId, since);
    }
  }
  return { provenance, missingSince, forgotten };
}

export interface ResyncEvidence extends PullEvidence {
  readonly kubeletRecords: ReadonlyMap<ImageId, PulledRecord>;
  readonly missingSince: ReadonlyMap<ImageId, number>;
  readonly graceMs: number;
}

/**
 * One resync, in the order that gives the better evidence precedence: the kubelet's records,
 * then arrivals and observed pulls, then the running-pod bootstrap (which only fills images no
 * one else explained), then forgetting images that left the cache.
 */
export function foldResync(prev: ProvenanceMap, evidence: ResyncEvidence): Forgetting {
  let next = fromKubeletRecords(prev, evidence.kubeletRecords, evidence.tenantOfNamespace);
  next = noteCacheArrivals(next, evidence.inventory, evidence.previousImageIds, evidence.now);
  next = fromObservedPulls(next, evidence);
  next = fromRunningPods(next, evidence);
  return forgetRemoved(next, evidence.inventory, evidence);
}

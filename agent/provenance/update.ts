// How evidence about who brought an image onto the node becomes provenance. Every function is
// pure: it takes the previous provenance and the evidence of one resync (with the time as an
// explicit `now`) and returns new provenance; nothing is mutated and nothing does I/O.
//
// Provenance is knowledge about the node's image cache, not about pods: it survives the deletion
// of the pod that pulled an image and (through the state store) agent restarts. Only the image
// leaving the cache forgets it.
//
// Two rules keep the answer independent of the order in which evidence arrives:
// - Nothing is decided from incomplete knowledge. A pod whose pull secrets are not read yet (or
//   whose read failed in a way that may pass) is "unknown", never "holds no credential"; an
//   attribution that would depend on it waits, and the image is reported as pending instead.
// - Stronger evidence wins (PROVENANCE_SOURCES, strongest first): an image's owners are those of
//   the strongest source that named any, so a later, stronger source corrects owners a weaker
//   one gave, persisted ones included.
import type { ImageId } from '../image/digest.ts';
import { cachedImageIn } from '../detect/container-image.ts';
import type { Inventory } from '../image/inventory.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { ImageLocation } from '../credentials/keyring.ts';
import type {
  CredentialVerdict,
  CredentialView,
  ImageOwner,
  ImageProvenance,
  KubeletImageEvent,
  PodContainer,
  PodView,
  ProvenanceSource,
  TenantId,
} from '../model/snapshot.ts';
import { kubeletEventKey, sourceStrength, verdictKey } from '../model/snapshot.ts';
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

/** Owners a stronger source replaced: logged by the agent, since they may have been persisted. */
export interface OwnerCorrection {
  readonly imageId: ImageId;
  readonly dropped: readonly ImageOwner[];
  readonly by: ProvenanceSource;
}

/** Only the owners of the strongest source present: a stronger source corrects weaker ones. */
export function strongestOwners(owners: readonly ImageOwner[]): readonly ImageOwner[] {
  let best = Number.POSITIVE_INFINITY;
  for (const o of owners) best = Math.min(best, sourceStrength(o.source));
  return owners.every((o) => sourceStrength(o.source) === best)
    ? owners
    : owners.filter((o) => sourceStrength(o.source) === best);
}

/** Adds owners (and flags) to images, creating entries as needed. */
function withAdditions(
  prev: ProvenanceMap,
  additions: ReadonlyMap<ImageId, Addition>,
  corrections?: OwnerCorrection[],
): Map<ImageId, ImageProvenance> {
  const next = new Map(prev);
  for (const [imageId, addition] of additions) {
    const known = next.get(imageId);
    const base = known ?? emptyProvenance(imageId);
    const owners = strongestOwners(mergeOwners([...base.owners, ...addition.owners]));
    const merged: ImageProvenance = {
      imageId,
      cachedSince: base.cachedSince ?? addition.cachedSince,
      owners,
      nodeWide: base.nodeWide || addition.nodeWide,
    };
    const dropped = base.owners.filter(
      (o) => !owners.some((kept) => ownerKey(kept) === ownerKey(o)),
    );
    const by = owners[0]?.source;
    if (dropped.length > 0 && by !== undefined) corrections?.push({ imageId, dropped, by });
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
  corrections?: OwnerCorrection[],
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
  return withAdditions(prev, additions, corrections);
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

/** An owner made of a pod and the credential that (we conclude) pulled or reads the image. */
function ownerOf(
  evidence: PodEvidence,
  pod: PodView,
  held: HeldCredential,
  source: ProvenanceSource,
): ImageOwner {
  return {
    tenant: evidence.tenantOfNamespace(pod.namespace),
    namespace: pod.namespace,
    secret: secretName(pod, held.secret),
    fingerprint: held.credential.fingerprint,
    credentialHash: held.credential.credentialHash,
    source,
    firstSeen: evidence.now,
    lastSeen: evidence.now,
  };
}

/** What a pod's credentials say about an image: who pulled it, or why that is not known yet. */
type PullerAnswer =
  | { readonly kind: 'credential'; readonly held: HeldCredential }
  | { readonly kind: 'none' }
  | { readonly kind: 'pending'; readonly reason: string };

function unknownSecretsReason(pod: PodView, unknownSecrets: readonly string[]): string {
  return `the pull secret${unknownSecrets.length > 1 ? 's' : ''} ${unknownSecrets.join(', ')} of pod ${pod.namespace}/${pod.name} ${unknownSecrets.length > 1 ? 'are' : 'is'} not read yet`;
}

/**
 * The credential a pod's pull used: the first matching one the kubelet would try that the
 * registry did not refuse (the kubelet moves on to the next when one is refused). Pending
 * while one of the pod's secrets is not known: it might hold a credential tried earlier.
 */
function pullerOf(evidence: PodEvidence, pod: PodView, container: PodContainer): PullerAnswer {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return { kind: 'none' }; // the kubelet rejects it: InvalidImageName
  const { matching, unknownSecrets } = evidence.credentialsOf(pod, reference.value);
  if (unknownSecrets.length > 0)
    return { kind: 'pending', reason: unknownSecretsReason(pod, unknownSecrets) };
  const imageId = imageIdOfContainer(evidence.inventory, container);
  const usable = matching.find(
    (held) =>
      imageId === undefined ||
      evidence.verdicts?.get(
        verdictKey(held.credential.fingerprint, reference.value.name, imageId),
      ) !== 'cannot-read',
  );
  return usable === undefined ? { kind: 'none' } : { kind: 'credential', held: usable };
}

function notePending(pending: Map<ImageId, string>, imageId: ImageId, reason: string): void {
  if (!pending.has(imageId)) pending.set(imageId, reason);
}

/**
 * A pull seen happening: an image ID absent from the previous listing and present now, while a
 * starting pod (a container not started or waiting, or started within the starting window)
 * references it and holds a credential for its registry. The pod's first matching credential
 * becomes an owner. When starting pods of several tenants reference the new image, each that
 * holds a matching credential is recorded: which of them pulled cannot be told. A starting pod
 * whose pull secrets are not read yet leaves the image pending (the caller keeps it "new").
 */
export function fromObservedPulls(
  prev: ProvenanceMap,
  evidence: PullEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const { previousImageIds, inventory, now } = evidence;
  const pending = new Map<ImageId, string>();
  if (previousImageIds === undefined) return { provenance: new Map(prev), pending };
  const newIds = new Set(
    inventory
      .entries()
      .map((entry) => entry.id)
      .filter((id) => !previousImageIds.has(id)),
  );
  if (newIds.size === 0) return { provenance: new Map(prev), pending };
  const windowMs = evidence.startingWindowMs ?? STARTING_WINDOW_MS;
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!isStarting(pod, container, now, windowMs)) continue;
      const imageId = imageIdOfContainer(inventory, container);
      if (imageId === undefined || !newIds.has(imageId)) continue;
      const puller = pullerOf(evidence, pod, container);
      if (puller.kind === 'pending') notePending(pending, imageId, puller.reason);
      if (puller.kind !== 'credential') continue;
      const addition = additionFor(additions, imageId);
      addition.owners.push(ownerOf(evidence, pod, puller.held, 'observed-pull'));
      addition.cachedSince = now;
    }
  }
  // An image waits whole: owners from the pods already known are added once all are.
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
}

/**
 * The kubelet's "Successfully pulled image" event on a pod's container: that pod's credential
 * (the first matching one the registry did not refuse) pulled the image it runs.
 */
export function fromPulledEvents(
  prev: ProvenanceMap,
  evidence: PodEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const pending = new Map<ImageId, string>();
  const events = evidence.kubeletEvents;
  if (events === undefined || events.size === 0) return { provenance: new Map(prev), pending };
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (events.get(kubeletEventKey(pod.uid, container.name)) !== 'pulled') continue;
      const imageId = imageIdOfContainer(evidence.inventory, container);
      if (imageId === undefined) continue;
      // Weaker than what is known already: nothing to add (and nothing to wait for).
      const known = prev.get(imageId)?.owners ?? [];
      if (known.some((o) => sourceStrength(o.source) < sourceStrength('pulled-event'))) continue;
      const puller = pullerOf(evidence, pod, container);
      if (puller.kind === 'pending') notePending(pending, imageId, puller.reason);
      // No matching credential: an anonymous pull or the node's own credentials.
      if (puller.kind !== 'credential') continue;
      additionFor(additions, imageId).owners.push(
        ownerOf(evidence, pod, puller.held, 'pulled-event'),
      );
    }
  }
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
}

/** How a bootstrap candidate's credentials stand against the registry, in kubelet order. */
type CandidateAnswer =
  | { readonly kind: 'verified'; readonly held: HeldCredential }
  | { readonly kind: 'unverified'; readonly held: HeldCredential }
  | { readonly kind: 'none' }
  | { readonly kind: 'pending'; readonly reason: string };

function bootstrapCandidate(
  evidence: PodEvidence,
  pod: PodView,
  container: PodContainer,
  imageId: ImageId,
): CandidateAnswer {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return { kind: 'none' };
  const { matching, unknownSecrets } = evidence.credentialsOf(pod, reference.value);
  if (unknownSecrets.length > 0)
    return { kind: 'pending', reason: unknownSecretsReason(pod, unknownSecrets) };
  const recorded = new Set<string>();
  for (const credentials of evidence.kubeletRecords?.get(imageId)?.credentialMapping.values() ?? [])
    for (const { credentialHash } of credentials.kubernetesSecrets)
      if (credentialHash !== undefined) recorded.add(credentialHash);
  let unverified: HeldCredential | undefined;
  for (const held of matching) {
    // The kubelet recorded a pull or check with this very credential: it reads the image.
    if (recorded.has(held.credential.credentialHash)) return { kind: 'verified', held };
    const verdict = evidence.verdicts?.get(
      verdictKey(held.credential.fingerprint, reference.value.name, imageId),
    );
    if (verdict === 'can-read') return { kind: 'verified', held };
    if (verdict === 'cannot-read') continue;
    if (verdict === undefined && held.credential.authorization !== undefined)
      return {
        kind: 'pending',
        reason: `the registry has not answered yet whether ${held.secret} (pod ${pod.namespace}/${pod.name}) can read ${reference.value.name}`,
      };
    // The registry could not answer, or verification is off: a guess, never an owner.
    unverified ??= held;
  }
  return unverified === undefined ? { kind: 'none' } : { kind: 'unverified', held: unverified };
}

/**
 * Bootstrap: the agent started on a node that already had images, so for an image whose arrival
 * it never witnessed and that no stronger source explained, pods running it become owners when
 * one of their credentials is verified to read its repository ('verified-bootstrap': by the
 * registry, or by a kubelet record holding the credential's hash). A credential that only
 * matches the registry's host, which nobody could check, makes a possible owner
 * ('unverified-bootstrap') that authorizes nobody; one the registry refused makes nothing.
 *
 * The decision for an image waits until every pod running it has known credentials and known
 * verdicts: deciding earlier would let the order in which secrets are read pick the owner.
 */
export function fromRunningPods(
  prev: ProvenanceMap,
  evidence: PodEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const additions = new Map<ImageId, Addition>();
  const pending = new Map<ImageId, string>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!hasRun(container)) continue;
      const imageId = imageIdOfContainer(evidence.inventory, container);
      if (imageId === undefined) continue;
      const known = prev.get(imageId);
      // Never for an image that has owners from better evidence: a tenant holding a wrong
      // credential for the same registry, running the image from the cache, would otherwise
      // become an owner and so whitewash its own unauthorized use.
      if (
        known?.owners.some(
          (o) => sourceStrength(o.source) <= sourceStrength('verified-bootstrap'),
        ) === true
      )
        continue;
      // Nor for an image we saw arrive (cachedSince set by a listing): had one of these pods
      // pulled it, fromObservedPulls would have recorded it; a pod that shows up later with a
      // credential is no evidence of who brought it.
      if (known?.cachedSince !== undefined) continue;
      const answer = bootstrapCandidate(evidence, pod, container, imageId);
      if (answer.kind === 'pending') notePending(pending, imageId, answer.reason);
      if (answer.kind === 'verified')
        additionFor(additions, imageId).owners.push(
          ownerOf(evidence, pod, answer.held, 'verified-bootstrap'),
        );
      if (answer.kind === 'unverified')
        additionFor(additions, imageId).owners.push(
          ownerOf(evidence, pod, answer.held, 'unverified-bootstrap'),
        );
    }
  }
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
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

export interface ResyncResult extends Forgetting {
  /** Images whose owner waits for knowledge not in yet; nothing about it was added. */
  readonly pending: PendingOwners;
  /** Owners replaced by a stronger source during this fold. */
  readonly corrections: readonly OwnerCorrection[];
}

/**
 * One resync, strongest evidence first: the kubelet's records, then arrivals and observed
 * pulls, then the kubelet's pulled events, then the running-pod bootstrap (which only fills
 * images no stronger source explained), then forgetting images that left the cache.
 */
export function foldResync(prev: ProvenanceMap, evidence: ResyncEvidence): ResyncResult {
  const corrections: OwnerCorrection[] = [];
  let next = fromKubeletRecords(
    prev,
    evidence.kubeletRecords,
    evidence.tenantOfNamespace,
    corrections,
  );
  next = noteCacheArrivals(next, evidence.inventory, evidence.previousImageIds, evidence.now);
  const pulls = fromObservedPulls(next, evidence, corrections);
  const events = fromPulledEvents(pulls.provenance, evidence, corrections);
  const bootstrap = fromRunningPods(events.provenance, evidence, corrections);
  const pending = new Map(pulls.pending);
  for (const part of [events.pending, bootstrap.pending])
    for (const [id, reason] of part) if (!pending.has(id)) pending.set(id, reason);
  return {
    ...forgetRemoved(bootstrap.provenance, evidence.inventory, evidence),
    pending,
    corrections,
  };
}

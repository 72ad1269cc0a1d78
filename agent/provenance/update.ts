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
import type { ImageProvenance } from '../model/snapshot.ts';
import type { ImageIdSet, Inventory, InventoryEntry } from '../image/inventory.ts';
import type { OwnerCorrection, PendingOwners, ProvenanceMap, PullEvidence } from './evidence.ts';
import { fromKubeletRecords } from './from-kubelet-records.ts';
import { fromObservedPulls, fromPulledEvents } from './from-pulls.ts';
import { fromRunningPods } from './from-running-pods.ts';
import { emptyProvenance } from './owner-merge.ts';
import type { PulledRecord } from './kubelet-record-format.ts';

export type * from './evidence.ts';
export { fromKubeletRecords } from './from-kubelet-records.ts';
export { fromObservedPulls, fromPulledEvents } from './from-pulls.ts';
export { fromRunningPods } from './from-running-pods.ts';
export { mergeOwners, OWNER_LAST_SEEN_STEP_MS, strongestOwners } from './owner-merge.ts';
export { STARTING_WINDOW_MS } from './pod-evidence.ts';

/**
 * Marks images that appeared since the previous listing as cached since `now`, unless an earlier
 * time is known. With no previous listing nothing is new: those images were there before us.
 */
export function noteCacheArrivals(
  prev: ProvenanceMap,
  inventory: Inventory,
  previousImageIds: ImageIdSet | undefined,
  now: number,
): ProvenanceMap {
  if (previousImageIds === undefined) return prev;
  // Copied on the first arrival only (the map holds every cached image's provenance).
  let next: Map<ImageId, ImageProvenance> | undefined;
  const entries = inventory.entries();
  // Indexed: run once per listing, a for-of's 5,000 iterator results would be its garbage.
  for (let i = 0; i < entries.length; i += 1) {
    const id = (entries[i] as InventoryEntry).id;
    if (previousImageIds.has(id)) continue;
    const known = (next ?? prev).get(id) ?? emptyProvenance(id);
    if (known.cachedSince === undefined)
      (next ??= new Map(prev)).set(id, { ...known, cachedSince: now });
  }
  return next ?? prev;
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
  let provenance: Map<ImageId, ImageProvenance> | undefined;
  const missingSince = new Map<ImageId, number>();
  const forgotten: ImageId[] = [];
  for (const imageId of prev.keys()) {
    if (inventory.byId(imageId) !== undefined) continue;
    const since = tracking.missingSince.get(imageId) ?? tracking.now;
    if (tracking.now - since >= tracking.graceMs) {
      (provenance ??= new Map(prev)).delete(imageId);
      forgotten.push(imageId);
    } else {
      missingSince.set(imageId, since);
    }
  }
  return { provenance: provenance ?? prev, missingSince, forgotten };
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

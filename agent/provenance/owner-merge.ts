// How owners from one fold join what was known: duplicates folded, the strongest source kept
// (a stronger source corrects weaker owners), and the same object kept when nothing changed.
import type { ImageId } from '../image/digest.ts';
import type { ImageOwner, ImageProvenance } from '../model/snapshot.ts';
import { sourceStrength } from '../model/snapshot.ts';
import type { OwnerCorrection, ProvenanceMap } from './evidence.ts';

export function emptyProvenance(imageId: ImageId): ImageProvenance {
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
 * How far an owner's lastSeen must move before it is moved. lastSeen is only kept in the state
 * file (saved at most every LAST_SEEN_SAVE_INTERVAL_MS), so finer steps say nothing more; and a
 * moved lastSeen means a new owner, provenance entry and provenance map, which every reconcile
 * under pod churn paid for each image a running pod uses, as garbage that outlives a young GC.
 */
export const OWNER_LAST_SEEN_STEP_MS = 60_000;

/**
 * Owners with duplicates folded: one per (tenant, namespace, secret, fingerprint or
 * credentialHash, source), keeping the earliest firstSeen and the latest lastSeen (moved in
 * steps of OWNER_LAST_SEEN_STEP_MS), in order of first appearance. An owner seen again with
 * nothing to add is kept as the same object.
 */
export function mergeOwners(owners: readonly ImageOwner[]): ImageOwner[] {
  const merged = new Map<string, ImageOwner>();
  for (const owner of owners) {
    const key = ownerKey(owner);
    const known = merged.get(key);
    merged.set(key, known === undefined ? owner : joinOwner(known, owner));
  }
  return [...merged.values()];
}

function joinOwner(known: ImageOwner, seen: ImageOwner): ImageOwner {
  const fingerprint = known.fingerprint ?? seen.fingerprint;
  const credentialHash = known.credentialHash ?? seen.credentialHash;
  const firstSeen = Math.min(known.firstSeen, seen.firstSeen);
  const lastSeen =
    seen.lastSeen - known.lastSeen >= OWNER_LAST_SEEN_STEP_MS ? seen.lastSeen : known.lastSeen;
  return fingerprint === known.fingerprint &&
    credentialHash === known.credentialHash &&
    firstSeen === known.firstSeen &&
    lastSeen === known.lastSeen
    ? known
    : { ...known, fingerprint, credentialHash, firstSeen, lastSeen };
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
export function withAdditions(
  prev: ProvenanceMap,
  additions: ReadonlyMap<ImageId, Addition>,
  corrections?: OwnerCorrection[],
): ProvenanceMap {
  // Copied on the first change only: most resyncs change nothing, and the map holds every
  // cached image's provenance.
  let next: Map<ImageId, ImageProvenance> | undefined;
  for (const [imageId, addition] of additions) {
    const known = (next ?? prev).get(imageId);
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
    if (known === undefined || !sameImageProvenance(known, merged))
      (next ??= new Map(prev)).set(imageId, merged);
  }
  return next ?? prev;
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

export interface Addition {
  owners: ImageOwner[];
  nodeWide: boolean;
  cachedSince: number | undefined;
}

export function additionFor(additions: Map<ImageId, Addition>, imageId: ImageId): Addition {
  let addition = additions.get(imageId);
  if (addition === undefined) {
    addition = { owners: [], nodeWide: false, cachedSince: undefined };
    additions.set(imageId, addition);
  }
  return addition;
}

export function notePending(pending: Map<ImageId, string>, imageId: ImageId, reason: string): void {
  if (!pending.has(imageId)) pending.set(imageId, reason);
}

// A new listing becomes an inventory's entries and indexes, made from the previous inventory's
// wherever the runtime listed an image exactly as before. A poll rarely changes more than a few
// images in thousands, so the work and the garbage (which a 2 MiB young generation promotes,
// and the old generation's slower GC then collects: issue 16's reconcile p99) follow the
// change, not the cache: records listed as before are taken over, and the maps are layered
// (layered-map.ts) instead of built again. inventory.test.ts checks that an inventory made
// this way answers every question as one made from scratch.
import type { CachedImageRecord } from '../model/cached-image.ts';
import { parseImageId, type ImageId } from './digest.ts';
import { isLowerHexId } from './image-id-index.ts';
import type { InventoryEntry, RejectedImage } from './inventory.ts';
import { LayeredMap } from './layered-map.ts';
import { quoteInput } from './reference-error.ts';

/** An ID's entry and the listings it was made from (a runtime lists an ID once; more are merged). */
export interface Listed {
  readonly listings: readonly CachedImageRecord[];
  readonly entry: InventoryEntry;
  /** The merge that last took this record over as it was (see mergeListing); 0 for none. */
  takenBy: number;
}

/** Names (repo tags or repo digests) to the entry listing them. */
export interface NameIndex {
  readonly byName: LayeredMap<string, InventoryEntry>;
  /** No name is listed by two entries: then changes can be applied without listing order. */
  readonly unique: boolean;
}

/** What an inventory keeps of its listing, and hands to the next one. */
export interface ListingIndexes {
  /** Records in listing order (by each ID's first listing). */
  readonly listed: readonly Listed[];
  readonly byId: LayeredMap<string, Listed>;
  readonly byRepoTag: NameIndex;
  readonly byRepoDigest: NameIndex;
  /** Every ID's hex is lowercase hex (false may also mean: not known). */
  readonly allIdsLowerHex: boolean;
}

export interface MergedListing extends ListingIndexes {
  readonly entries: readonly InventoryEntry[];
  readonly rejected: readonly RejectedImage[];
}

/** The listings of an ID that is new, changed or listed twice, gathered in the first pass. */
interface Gathered {
  readonly id: ImageId;
  readonly listings: CachedImageRecord[];
}

let merges = 0;

/**
 * Groups the listing by image ID, in listing order; an ID the previous listing held with the
 * same listings keeps its record and entry, and an ID it held is known to be valid: only new
 * IDs are checked. `entryOf` builds the entry of an ID whose listings are new.
 */
export function mergeListing(
  images: readonly CachedImageRecord[],
  previous: ListingIndexes | undefined,
  entryOf: (id: ImageId, listings: readonly CachedImageRecord[]) => InventoryEntry,
): MergedListing {
  // Marks the records this merge takes over, so that what it did not take over is known
  // without a set of the listing's IDs. Merges are synchronous: no two interleave.
  const stamp = (merges += 1);
  const before = previous?.byId;
  const slots: (Listed | Gathered)[] = [];
  let gathered: Map<string, Gathered> | undefined;
  const rejected: RejectedImage[] = [];
  // Indexed loops: this runs once per listing, often before the optimizing compiler would
  // elide a for-of's iterator results (5,000 of them).
  for (let i = 0; i < images.length; i += 1) {
    const image = images[i] as CachedImageRecord;
    const known = before?.get(image.id);
    const id = known !== undefined ? (image.id as ImageId) : parseImageId(image.id);
    if (id === undefined) {
      rejected.push({
        image,
        reason: `image id ${quoteInput(image.id)} is empty or contains whitespace`,
      });
      continue;
    }
    const group = gathered?.get(id);
    if (group !== undefined) {
      group.listings.push(image);
    } else if (known?.takenBy === stamp) {
      // Listed a second time in this listing: not taken over as it was after all.
      known.takenBy = 0;
      const regrouped: Gathered = { id, listings: [...known.listings, image] };
      slots[slots.indexOf(known)] = regrouped;
      (gathered ??= new Map()).set(id, regrouped);
    } else if (
      known !== undefined &&
      known.listings.length === 1 &&
      sameListing(known.listings[0] as CachedImageRecord, image)
    ) {
      known.takenBy = stamp;
      slots.push(known);
    } else {
      const fresh: Gathered = { id, listings: [image] };
      (gathered ??= new Map()).set(id, fresh);
      slots.push(fresh);
    }
  }

  const entries: InventoryEntry[] = [];
  const listed: Listed[] = [];
  const added: InventoryEntry[] = [];
  const idChanges = new Map<string, Listed | undefined>();
  for (let i = 0; i < slots.length; i += 1) {
    const slot = slots[i] as Listed | Gathered;
    let record: Listed;
    if ('entry' in slot) record = slot;
    else {
      const known = before?.get(slot.id);
      if (
        known !== undefined &&
        known.takenBy !== stamp &&
        sameListings(known.listings, slot.listings)
      ) {
        known.takenBy = stamp;
        record = known;
      } else {
        record = {
          listings: slot.listings,
          entry: entryOf(slot.id, slot.listings),
          takenBy: stamp,
        };
        added.push(record.entry);
        idChanges.set(slot.id, record);
      }
    }
    entries.push(record.entry);
    listed.push(record);
  }
  const removed: InventoryEntry[] = [];
  for (let i = 0; i < (previous?.listed.length ?? 0); i += 1) {
    const record = previous?.listed[i] as Listed;
    if (record.takenBy === stamp) continue;
    removed.push(record.entry);
    if (!idChanges.has(record.entry.id)) idChanges.set(record.entry.id, undefined);
  }

  return {
    entries,
    rejected,
    listed,
    byId:
      previous === undefined
        ? LayeredMap.of(new Map(listed.map((record) => [record.entry.id, record])))
        : previous.byId.with(idChanges),
    byRepoTag: nameIndex(previous?.byRepoTag, { entries, removed, added }, repoTagsOf),
    byRepoDigest: nameIndex(previous?.byRepoDigest, { entries, removed, added }, repoDigestsOf),
    allIdsLowerHex:
      previous?.allIdsLowerHex === true
        ? added.every((entry) => isLowerHexId(entry.id))
        : entries.every((entry) => isLowerHexId(entry.id)),
  };
}

const repoTagsOf = (entry: InventoryEntry): readonly string[] => entry.repoTags;
const repoDigestsOf = (entry: InventoryEntry): readonly string[] => entry.repoDigests;

interface EntryChanges {
  readonly entries: readonly InventoryEntry[];
  readonly removed: readonly InventoryEntry[];
  readonly added: readonly InventoryEntry[];
}

/**
 * containerd keys one image per name; should a runtime list a name under two IDs, the first
 * listing wins. While no name is listed twice, the previous index is patched (order does not
 * matter then); otherwise it is built again in listing order.
 */
function nameIndex(
  previous: NameIndex | undefined,
  change: EntryChanges,
  namesOf: (entry: InventoryEntry) => readonly string[],
): NameIndex {
  if (previous?.unique === true) {
    const patched = patchedNames(previous.byName, change, namesOf);
    if (patched !== undefined) return { byName: previous.byName.with(patched), unique: true };
  }
  const index = new Map<string, InventoryEntry>();
  let names = 0;
  // Walked backwards, a later set is an earlier listing: the first listing of a name wins
  // with one map operation per name.
  for (let i = change.entries.length - 1; i >= 0; i -= 1) {
    const entry = change.entries[i] as InventoryEntry;
    const listedNames = namesOf(entry);
    names += listedNames.length;
    for (let j = listedNames.length - 1; j >= 0; j -= 1) index.set(listedNames[j] as string, entry);
  }
  return { byName: LayeredMap.of(index), unique: index.size === names };
}

/** The changes to a unique index, or undefined when an added name is listed already. */
function patchedNames(
  byName: LayeredMap<string, InventoryEntry>,
  change: EntryChanges,
  namesOf: (entry: InventoryEntry) => readonly string[],
): Map<string, InventoryEntry | undefined> | undefined {
  const changes = new Map<string, InventoryEntry | undefined>();
  for (const entry of change.removed)
    for (const name of namesOf(entry)) if (byName.get(name) === entry) changes.set(name, undefined);
  for (const entry of change.added)
    for (const name of namesOf(entry)) {
      const current = changes.has(name) ? changes.get(name) : byName.get(name);
      if (current !== undefined) return undefined;
      changes.set(name, entry);
    }
  return changes;
}

function sameListings(a: readonly CachedImageRecord[], b: readonly CachedImageRecord[]): boolean {
  return a.length === b.length && a.every((x, i) => sameListing(x, b[i] as CachedImageRecord));
}

function sameListing(x: CachedImageRecord, y: CachedImageRecord): boolean {
  return (
    x.sizeBytes === y.sizeBytes &&
    x.pinned === y.pinned &&
    sameStrings(x.repoTags, y.repoTags) &&
    sameStrings(x.repoDigests, y.repoDigests)
  );
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

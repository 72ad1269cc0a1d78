// A node's image cache as the runtime listed it, indexed the way containerd's CRI
// answers ImageStatus, so that "is this pod's image present?" gets the kubelet's answer.
// https://github.com/containerd/containerd/blob/main/internal/cri/server/images/service.go (LocalResolve)
import type { CachedImageRecord } from '../model/cached-image.ts';
import { GenerationalMemo } from '../memo.ts';
import { digestOfImageId, parseDigest, type ImageId } from './digest.ts';
import { ImageIdIndex } from './image-id-index.ts';
import type { LayeredMap } from './layered-map.ts';
import { mergeListing, type Listed, type ListingIndexes } from './listing-merge.ts';
import { notARepoDigest, notARepoTag, type ReferenceError } from './reference-error.ts';
import {
  parseDockerRef,
  parseImageReference,
  parseRepoDigest,
  repoDigestOf,
  repoTagOf,
  stripRuntimePrefix,
  type ImageReference,
  type RepoDigest,
  type RepoTag,
} from './reference.ts';

/** A name the runtime listed that does not parse; kept so that nothing disappears unseen. */
export interface UnparsedName {
  readonly name: string;
  readonly listedAs: 'repoTag' | 'repoDigest';
  readonly error: ReferenceError;
}

export interface InventoryEntry {
  readonly id: ImageId;
  readonly repoTags: readonly RepoTag[];
  readonly repoDigests: readonly RepoDigest[];
  /** repoTags then repoDigests, parsed (detection asks about every name of private images). */
  readonly references: readonly ImageReference[];
  readonly unparsedNames: readonly UnparsedName[];
  readonly sizeBytes: bigint;
  readonly pinned: boolean;
}

/** A listed image without a usable ID (empty, or with whitespace or control characters). */
export interface RejectedImage {
  readonly image: CachedImageRecord;
  readonly reason: string;
}

export type PresenceMatch = 'id' | 'tag' | 'digest' | 'id-prefix';

export type Presence =
  | { readonly present: true; readonly image: InventoryEntry; readonly matchedBy: PresenceMatch }
  | { readonly present: false; readonly reason: 'empty' }
  | {
      readonly present: false;
      readonly reason: 'not-cached';
      /** Why the string was not read as an image reference, when it was not. */
      readonly referenceError?: ReferenceError;
    }
  | {
      readonly present: false;
      readonly reason: 'ambiguous-id-prefix';
      readonly candidates: readonly ImageId[];
    };

/** Which image IDs a listing held: the one question provenance asks of an earlier listing. */
export interface ImageIdSet {
  has(id: string): boolean;
}

export class Inventory implements ImageIdSet {
  /** Images whose runtime ID was unusable: reported, not indexed. */
  readonly rejectedImages: readonly RejectedImage[];
  /** Number of distinct image IDs. */
  readonly size: number;
  readonly #entries: readonly InventoryEntry[];
  /** Each ID's entry with what the runtime listed for it, the name indexes (listing-merge.ts). */
  readonly #indexes: ListingIndexes;
  readonly #byId: LayeredMap<string, Listed>;
  readonly #byRepoTag: LayeredMap<string, InventoryEntry>;
  readonly #byRepoDigest: LayeredMap<string, InventoryEntry>;
  readonly #ids: ImageIdIndex;

  /**
   * @param previous the inventory of the runtime's previous listing: entries listed exactly as
   * before are taken over instead of parsed again (a poll rarely changes more than a few images).
   */
  constructor(images: readonly CachedImageRecord[], previous?: Inventory) {
    const merged = mergeListing(
      images,
      previous === undefined ? undefined : previous.#indexes,
      entryOf,
    );
    this.#indexes = merged;
    this.#byId = merged.byId;
    this.#byRepoTag = merged.byRepoTag.byName;
    this.#byRepoDigest = merged.byRepoDigest.byName;
    this.#entries = Object.freeze(merged.entries);
    this.rejectedImages = Object.freeze(merged.rejected);
    this.size = merged.entries.length;
    this.#ids = new ImageIdIndex(this.#entries, merged.allIdsLowerHex);
  }

  /**
   * Sum of the runtime's per-image sizes (layers shared between images count once per image).
   * Worked out when asked: the agent never asks, and 5,000 BigInt sums are garbage per listing.
   */
  get totalBytes(): bigint {
    let sum = 0n;
    for (let i = 0; i < this.#entries.length; i += 1)
      sum += (this.#entries[i] as InventoryEntry).sizeBytes;
    return sum;
  }

  /** Holds exactly what `other` holds: every entry taken over from it, nothing more or less. */
  sameAs(other: Inventory): boolean {
    return (
      this.#entries.length === other.#entries.length &&
      this.#entries.every((entry) => other.#byId.get(entry.id)?.entry === entry) &&
      this.rejectedImages.length === other.rejectedImages.length &&
      this.rejectedImages.every((r, i) => r.image.id === other.rejectedImages[i]?.image.id)
    );
  }

  /** Whether the listing held this image ID. */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  byId(id: string): InventoryEntry | undefined {
    return this.#byId.get(id)?.entry;
  }

  entries(): readonly InventoryEntry[] {
    return this.#entries;
  }

  /**
   * Whether the runtime would report the image a pod names as present (CRI ImageStatus
   * in containerd). Only a name the node recorded counts: another tag of the same
   * content, or the same digest under another repository, does not.
   * The kubelet first rejects strings that are not references (InvalidImageName) and
   * appends `:latest` to untagged names, so a bare hex prefix never reaches the runtime
   * from a pod; `sha256:<prefix>` does.
   */
  resolvePresent(imageAsWrittenInPod: string): Presence {
    const query = presenceQueryOf(imageAsWrittenInPod);
    switch (query.kind) {
      case 'empty':
        return { present: false, reason: 'empty' };
      case 'id':
        return this.#presentById(query.id);
      case 'not-reference':
        return this.#presentByIdPrefix(imageAsWrittenInPod, query.error);
      case 'name': {
        const image =
          query.repoDigest !== undefined
            ? this.#byRepoDigest.get(query.repoDigest)
            : this.#byRepoTag.get(query.repoTag);
        if (image !== undefined) {
          return {
            present: true,
            image,
            matchedBy: query.repoDigest === undefined ? 'tag' : 'digest',
          };
        }
        return this.#presentByIdPrefix(imageAsWrittenInPod, undefined);
      }
    }
  }

  /**
   * The image behind a pod's `status.containerStatuses[].imageID`: a repo digest,
   * possibly behind `docker-pullable://`, or an image ID for images without one.
   */
  resolveRepoDigest(statusImageId: string): Presence {
    const query = statusQueryOf(statusImageId);
    switch (query.kind) {
      case 'empty':
        return { present: false, reason: 'empty' };
      case 'id':
        return this.#presentById(query.id, query.digest);
      case 'invalid':
        return { present: false, reason: 'not-cached', referenceError: query.error };
      case 'repo-digest': {
        const image = this.#byRepoDigest.get(query.repoDigest);
        return image === undefined
          ? { present: false, reason: 'not-cached' }
          : { present: true, image, matchedBy: 'digest' };
      }
    }
  }

  #presentById(...ids: readonly string[]): Presence {
    for (const id of ids) {
      const image = this.#byId.get(id)?.entry;
      if (image !== undefined) {
        return { present: true, image, matchedBy: 'id' };
      }
    }
    return { present: false, reason: 'not-cached' };
  }

  #presentByIdPrefix(query: string, referenceError: ReferenceError | undefined): Presence {
    const lookup = this.#ids.lookup(query);
    const image = lookup.kind === 'found' ? this.#byId.get(lookup.id)?.entry : undefined;
    if (lookup.kind === 'found' && image !== undefined) {
      return { present: true, image, matchedBy: lookup.exact ? 'id' : 'id-prefix' };
    }
    if (lookup.kind === 'ambiguous') {
      return { present: false, reason: 'ambiguous-id-prefix', candidates: lookup.candidates };
    }
    return referenceError === undefined
      ? { present: false, reason: 'not-cached' }
      : { present: false, reason: 'not-cached', referenceError };
  }
}

// What a presence question asks, worked out from the string alone: pods name the same images
// on every reconcile and against every new listing, so this is remembered (bounded) and each
// inventory only looks the answer up.
type PresenceQuery =
  | { readonly kind: 'empty' }
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'not-reference'; readonly error: ReferenceError }
  | { readonly kind: 'name'; readonly repoDigest: RepoDigest; readonly repoTag?: undefined }
  | { readonly kind: 'name'; readonly repoDigest?: undefined; readonly repoTag: RepoTag };

type StatusQuery =
  | { readonly kind: 'empty' }
  | { readonly kind: 'id'; readonly id: string; readonly digest: string }
  | { readonly kind: 'invalid'; readonly error: ReferenceError }
  | { readonly kind: 'repo-digest'; readonly repoDigest: RepoDigest };

const QUERY_MEMO_INPUT_LIMIT = 512;
const presenceQueries = new GenerationalMemo<string, PresenceQuery>(8192);
const statusQueries = new GenerationalMemo<string, StatusQuery>(8192);

function presenceQueryOf(image: string): PresenceQuery {
  return image.length > QUERY_MEMO_INPUT_LIMIT
    ? readPresenceQuery(image)
    : presenceQueries.get(image, readPresenceQuery);
}

function readPresenceQuery(image: string): PresenceQuery {
  // containerd would treat "" as a prefix of every ID; the kubelet never asks for it.
  if (image === '') return { kind: 'empty' };
  if (parseDigest(image).ok) return { kind: 'id', id: image };
  const reference = parseDockerRef(image);
  if (!reference.ok) return { kind: 'not-reference', error: reference.error };
  // ParseDockerRef leaves a tag or a digest, never both: one name is looked up.
  const repoDigest = repoDigestOf(reference.value);
  if (repoDigest !== undefined) return { kind: 'name', repoDigest };
  // Without a digest, ParseDockerRef has set a tag (`latest` by default).
  const repoTag = repoTagOf(reference.value) ?? (`${reference.value.name}:latest` as RepoTag);
  return { kind: 'name', repoTag };
}

function statusQueryOf(statusImageId: string): StatusQuery {
  return statusImageId.length > QUERY_MEMO_INPUT_LIMIT
    ? readStatusQuery(statusImageId)
    : statusQueries.get(statusImageId, readStatusQuery);
}

function readStatusQuery(statusImageId: string): StatusQuery {
  const stripped = stripRuntimePrefix(statusImageId);
  if (stripped === '') return { kind: 'empty' };
  const digest = digestOfImageId(stripped);
  if (digest !== undefined) return { kind: 'id', id: stripped, digest };
  const repoDigest = parseRepoDigest(stripped);
  return repoDigest.ok
    ? { kind: 'repo-digest', repoDigest: repoDigest.value }
    : { kind: 'invalid', error: repoDigest.error };
}

function entryOf(id: ImageId, listings: readonly CachedImageRecord[]): InventoryEntry {
  const repoTags = new Map<RepoTag, ImageReference>();
  const repoDigests = new Map<RepoDigest, ImageReference>();
  const unparsedNames = new Map<string, UnparsedName>();
  let sizeBytes = 0n;
  let pinned = false;
  for (const image of listings) {
    // One image has one size; if two listings disagree, keep the larger as an upper bound.
    if (image.sizeBytes > sizeBytes) sizeBytes = image.sizeBytes;
    pinned ||= image.pinned;
  }
  const tagNames = listings.flatMap((image) => image.repoTags);
  const digestNames = listings.flatMap((image) => image.repoDigests);
  for (const name of tagNames) {
    const parsed = parseImageReference(name);
    const repoTag = parsed.ok ? repoTagOf(parsed.value) : undefined;
    if (parsed.ok && repoTag !== undefined) {
      if (!repoTags.has(repoTag)) repoTags.set(repoTag, parsed.value);
    } else {
      const error = parsed.ok ? notARepoTag(name) : parsed.error;
      unparsedNames.set(`repoTag ${name}`, { name, listedAs: 'repoTag', error });
    }
  }
  for (const name of digestNames) {
    const parsed = parseImageReference(name);
    // A name with both tag and digest is stored verbatim by containerd: no lookup reaches it.
    const repoDigest =
      parsed.ok && parsed.value.tag === undefined ? repoDigestOf(parsed.value) : undefined;
    if (parsed.ok && repoDigest !== undefined) {
      if (!repoDigests.has(repoDigest)) repoDigests.set(repoDigest, parsed.value);
    } else {
      const error = parsed.ok ? notARepoDigest(name) : parsed.error;
      unparsedNames.set(`repoDigest ${name}`, { name, listedAs: 'repoDigest', error });
    }
  }
  return Object.freeze({
    id,
    repoTags: Object.freeze([...repoTags.keys()]),
    repoDigests: Object.freeze([...repoDigests.keys()]),
    references: Object.freeze([...repoTags.values(), ...repoDigests.values()]),
    unparsedNames: Object.freeze([...unparsedNames.values()]),
    sizeBytes,
    pinned,
  });
}

// What detection remembers from one snapshot to the next. The loop owns one DetectionMemory and
// passes it to every detect() call; detection itself keeps nothing between calls.
//
// Every entry is keyed by object identity (the inventory, a container, the secrets map, an
// image's provenance), so the contract with the sources is: an object handed over again is
// unchanged, and a change comes as a new object (NodeSnapshot says the same of its contents).
// Answers for objects that are gone are collected with them (WeakMaps); the only bounded store
// is the finding-ID memo. detect-memory.test.ts checks that a remembered answer always equals
// the answer worked out from scratch.
import type { Inventory } from '../image/inventory.ts';
import type { ImageReference } from '../image/reference.ts';
import { GenerationalMemo } from '../memo.ts';
import type { PodKeyring } from './access.ts';
import type { CachedImage } from './container-image.ts';
import type { NodeSnapshot, PodContainer } from '../model/snapshot.ts';

/** A container's cached image as last worked out, and against which inventory. */
export interface RememberedImage {
  inventory: Inventory;
  /** The container's image as a reference; null when it does not parse. */
  readonly reference: ImageReference | null;
  answer: CachedImage | null;
}

/** One private image's exposure, with what it was worked out from. */
export interface RememberedExposure<T> {
  readonly context: object;
  readonly answers: WeakMap<object, T>;
}

/** The finding-ID memo's smallest generation. */
export const MIN_FINDING_IDS = 1024;

export class DetectionMemory {
  /** Pod keyrings per (namespace, pull secrets) group, per secrets map. */
  readonly keyrings = new WeakMap<NodeSnapshot['secrets'], Map<string, PodKeyring>>();
  /**
   * The cached image each container gets, with the inventory it was worked out against. One
   * entry per container, updated in place when a new inventory comes: a map per inventory was
   * made anew on every listing, 1,500 answers that lived until the next one and so died in old
   * space (container-image.ts).
   */
  readonly cachedImages = new WeakMap<PodContainer, RememberedImage>();
  /**
   * Finding IDs (a hash each) of the findings a node has now. Each generation holds twice the
   * last snapshot's findings (at least MIN_FINDING_IDS), so the current ones always fit and,
   * under pod churn, the IDs of retired findings are dropped at that bound instead of filling a
   * fixed size made for the largest node (fitFindings).
   */
  readonly findingIds = new GenerationalMemo<string, string>(MIN_FINDING_IDS);
  /** private-image-exposed's answers for the last context it saw (see that rule). */
  exposure: RememberedExposure<unknown> | undefined;

  /** Sizes the finding-ID memo for a snapshot that had `count` findings. */
  fitFindings(count: number): void {
    this.findingIds.resize(Math.max(MIN_FINDING_IDS, 2 * count));
  }
}

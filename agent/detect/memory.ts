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
import { GenerationalMemo } from '../memo.ts';
import type { PodKeyring } from './access.ts';
import type { CachedImage } from './container-image.ts';
import type { NodeSnapshot, PodContainer } from '../model/snapshot.ts';

/** One private image's exposure, with what it was worked out from. */
export interface RememberedExposure<T> {
  readonly context: object;
  readonly answers: WeakMap<object, T>;
}

export class DetectionMemory {
  /** Pod keyrings per (namespace, pull secrets) group, per secrets map. */
  readonly keyrings = new WeakMap<NodeSnapshot['secrets'], Map<string, PodKeyring>>();
  /** The cached image each container gets, per inventory. */
  readonly cachedImages = new WeakMap<Inventory, WeakMap<PodContainer, CachedImage | null>>();
  /**
   * Finding IDs (a hash each) of the findings a node has now: two generations of 8,192, so a
   * 20,000-image node's ~5,000 findings fit in one.
   */
  readonly findingIds = new GenerationalMemo<string, string>(8192);
  /** private-image-exposed's answers for the last context it saw (see that rule). */
  exposure: RememberedExposure<unknown> | undefined;
}

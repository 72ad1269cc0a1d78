// The versioned object store: one global, monotonically increasing resourceVersion
// (like etcd's revision), the current objects of each resource, and a bounded
// per-resource history of changes (like the API server's watch cache) that watches
// replay from and that point-in-time lists are rebuilt from.

import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import type { KubeObject } from './objects.ts';
import { keyOf } from './objects.ts';
import type { ResourceType } from './resources.ts';
import { storageKeyOf } from './resources.ts';
import type { ApiError } from './status.ts';
import { tooLargeResourceVersion, tooOldResourceVersion } from './status.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  readonly type: ChangeType;
  readonly resourceVersion: number;
  /** The new state; for DELETED the last state stamped with the deletion's resourceVersion. */
  readonly object: KubeObject;
  readonly previous: KubeObject | undefined;
}

export type ChangeListener = (rt: ResourceType, change: Change) => void;

interface Bucket {
  readonly objects: Map<string, KubeObject>;
  history: Change[];
  /** Changes after this resourceVersion are all still in `history`. */
  floor: number;
}

export interface StoreOptions {
  readonly initialResourceVersion: number;
  readonly historySize: number;
}

function stamp(obj: KubeObject, resourceVersion: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(resourceVersion) } };
}

/** Stored objects are never mutated in place, so they can be shared between snapshots. */
export class VersionedStore {
  #resourceVersion: number;
  /** Where the history of a resource nobody has written yet starts. */
  #emptyFloor: number;
  readonly #historySize: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #listeners = new Set<ChangeListener>();

  constructor(options: StoreOptions) {
    this.#resourceVersion = options.initialResourceVersion;
    this.#emptyFloor = options.initialResourceVersion;
    this.#historySize = Math.max(1, options.historySize);
  }

  get resourceVersion(): number {
    return this.#resourceVersion;
  }

  #bucket(rt: ResourceType): Bucket {
    const key = storageKeyOf(rt);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { objects: new Map(), history: [], floor: this.#emptyFloor };
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  get(rt: ResourceType, key: string): KubeObject | undefined {
    return this.#bucket(rt).objects.get(key);
  }

  /** Current objects, ordered by key (namespace/name) like an etcd range read. */
  objects(rt: ResourceType): KubeObject[] {
    return sortedByKey(this.#bucket(rt).objects);
  }

  /** Writes `obj` (created or replaced) at the next resourceVersion. */
  put(rt: ResourceType, obj: KubeObject): Change {
    const bucket = this.#bucket(rt);
    const key = keyOf(obj);
    const previous = bucket.objects.get(key);
    const resourceVersion = ++this.#resourceVersion;
    const object = stamp(obj, resourceVersion);
    bucket.objects.set(key, object);
    return this.#record(rt, bucket, {
      type: previous ? 'MODIFIED' : 'ADDED',
      resourceVersion,
      object,
      previous,
    });
  }

  remove(rt: ResourceType, key: string): Change | undefined {
    const bucket = this.#bucket(rt);
    const previous = bucket.objects.get(key);
    if (!previous) return undefined;
    bucket.objects.delete(key);
    const resourceVersion = ++this.#resourceVersion;
    return this.#record(rt, bucket, {
      type: 'DELETED',
      resourceVersion,
      object: stamp(previous, resourceVersion),
      previous,
    });
  }

  #record(rt: ResourceType, bucket: Bucket, change: Change): Change {
    bucket.history.push(change);
    while (bucket.history.length > this.#historySize) {
      const dropped = bucket.history.shift();
      if (dropped) bucket.floor = dropped.resourceVersion;
    }
    for (const listener of this.#listeners) listener(rt, change);
    return change;
  }

  /** Changes after `resourceVersion`, or 410 when history no longer reaches back that far. */
  changesAfter(rt: ResourceType, resourceVersion: number): Result<Change[], ApiError> {
    const bucket = this.#bucket(rt);
    if (resourceVersion < bucket.floor) {
      return err(tooOldResourceVersion(resourceVersion, bucket.floor + 1));
    }
    return ok(bucket.history.filter((c) => c.resourceVersion > resourceVersion));
  }

  /** The objects as they were at `resourceVersion`, rebuilt by undoing later changes. */
  snapshotAt(rt: ResourceType, resourceVersion: number): Result<KubeObject[], ApiError> {
    if (resourceVersion > this.#resourceVersion) {
      return err(tooLargeResourceVersion(resourceVersion, this.#resourceVersion));
    }
    const later = this.changesAfter(rt, resourceVersion);
    if (!later.ok) return later;
    const objects = new Map(this.#bucket(rt).objects);
    for (const change of later.value.toReversed()) {
      const key = keyOf(change.object);
      if (change.previous) objects.set(key, change.previous);
      else objects.delete(key);
    }
    return ok(sortedByKey(objects));
  }

  /**
   * Forgets all history, as a compaction would: the resourceVersion moves on by one
   * so that every version handed out so far is now too old to watch from.
   */
  expireHistory(): void {
    this.#resourceVersion++;
    this.#emptyFloor = this.#resourceVersion;
    for (const bucket of this.#buckets.values()) {
      bucket.history = [];
      bucket.floor = this.#resourceVersion;
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

function sortedByKey(objects: ReadonlyMap<string, KubeObject>): KubeObject[] {
  return [...objects.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, obj]) => obj);
}

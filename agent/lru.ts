// A bounded map that forgets what was used least recently: caches must not grow with the
// number of images a busy node has ever seen.

/** Map-backed LRU: a Map iterates in insertion order, so re-inserting on use keeps it ordered. */
export class LruCache<K, V> {
  readonly maxSize: number;
  readonly #entries = new Map<K, V>();

  constructor(maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1) {
      throw new RangeError(`an LRU cache needs a positive integer size, got ${maxSize}`);
    }
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, marking the key as just used. */
  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key) as V;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** The value without marking the key as used. */
  peek(key: K): V | undefined {
    return this.#entries.get(key);
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Stores the value as the most recently used; evicts the least recently used beyond maxSize. */
  set(key: K, value: V): this {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.maxSize) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Keys from least to most recently used. */
  keys(): IterableIterator<K> {
    return this.#entries.keys();
  }
}

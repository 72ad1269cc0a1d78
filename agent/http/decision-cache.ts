// A bounded cache whose entries expire: auth decisions must not be asked of the API server on
// every scrape, and must not grow with the number of tokens an attacker can make up.
// Least recently used entries go first when it is full.

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export class ExpiringCache<V> {
  readonly maxEntries: number;
  readonly #entries = new Map<string, Entry<V>>();
  readonly #now: () => number;

  /** `now` returns milliseconds (Date.now by default). */
  constructor(maxEntries: number, now: () => number = Date.now) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`a cache needs a positive integer size, got ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value while it has not expired, marking it as just used. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    // A Map iterates in insertion order: re-inserting keeps the least recently used first.
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

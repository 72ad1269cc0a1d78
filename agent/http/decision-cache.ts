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

/** A token bucket: at most `perSecond` takes per second on average, `burst` at once. */
export class RateBudget {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  constructor(perSecond: number, burst: number, now: () => number = Date.now) {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new RangeError(`a rate needs to be positive, got ${perSecond}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`a burst needs to be at least 1, got ${burst}`);
    }
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#updatedAt = now();
  }

  /** Takes one token if there is one; never waits. */
  tryTake(): boolean {
    return this.reserve(0) === 0;
  }

  /**
   * Reserves the next token: 0 when one is there now, else how many milliseconds until it
   * is (the caller waits that long), or undefined when that would be more than `maxWaitMs`.
   * Tokens reserved ahead are owed: the bucket goes below zero and refills from there, so
   * callers that wait are served in order at the budget's rate, never faster.
   */
  reserve(maxWaitMs: number): number | undefined {
    const now = this.#now();
    // A clock stepping backwards must neither drain nor overfill the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs);
    this.#updatedAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    const waitMs = (1 - this.#tokens) / this.#perMs;
    if (waitMs > maxWaitMs) return undefined;
    this.#tokens -= 1;
    return waitMs;
  }
}

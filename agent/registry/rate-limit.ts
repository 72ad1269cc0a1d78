// How often the agent may ask registries: a token bucket, so a node that starts with hundreds
// of cached images spreads its probes out instead of hitting a registry (and Docker Hub's
// pull limits) all at once. Time comes from an injected clock, so tests need no sleeping.

export interface RateLimit {
  /** Tokens added per second (sustained probes per second). */
  readonly perSecond: number;
  /** Bucket size: how many probes may go out at once after a quiet period. */
  readonly burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 10, burst: 20 };

export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  /** Starts full. `now` returns milliseconds (Date.now by default). */
  constructor(limit: RateLimit, now: () => number = Date.now) {
    if (!(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
      throw new RangeError(`a rate limit needs a positive rate, got ${limit.perSecond}`);
    }
    if (!(limit.burst >= 1) || !Number.isFinite(limit.burst)) {
      throw new RangeError(`a rate limit needs a burst of at least 1, got ${limit.burst}`);
    }
    this.#perMs = limit.perSecond / 1000;
    this.#burst = limit.burst;
    this.#now = now;
    this.#tokens = limit.burst;
    this.#updatedAt = now();
  }

  /** Takes one token if there is one; never waits. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole tokens available now. */
  available(): number {
    this.#refill();
    return Math.floor(this.#tokens);
  }

  #refill(): void {
    const now = this.#now();
    // A clock that steps backwards (NTP) must not drain or overfill the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs);
    this.#updatedAt = now;
  }
}

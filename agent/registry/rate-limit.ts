// How often pullwatch may ask a registry: per registry host, a token bucket, so a node that
// starts with hundreds of cached images (or a controller that a whole cluster asks at once)
// spreads its probes out instead of hitting one registry (and Docker Hub's pull limits) all at
// once, and a cap on the probes in flight, so a slow registry is not asked ever more in
// parallel. One host's limit never holds back another's. Time comes from an injected clock, so
// tests need no sleeping.
import { LruCache } from '../lru.ts';

export interface RateLimit {
  /** Tokens added per second (sustained probes per second). */
  readonly perSecond: number;
  /** Bucket size: how many probes may go out at once after a quiet period. */
  readonly burst: number;
}

/** A registry host's limit: its rate, and how many of its probes may be in flight at once. */
export interface HostLimit extends RateLimit {
  readonly concurrency: number;
}

/** A node agent's (--secrets-from direct): what one node asks of one registry. */
export const DEFAULT_RATE_LIMIT: HostLimit = { perSecond: 10, burst: 20, concurrency: 4 };

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

  /**
   * Takes one token now, or on credit when the next one is due within `maxWaitMs`: answers how
   * long to wait before using it (0: at once), or undefined (nothing taken) when it is due later.
   * Credit makes waiters line up: each one taken pushes the next one's turn back by 1/rate.
   */
  reserve(maxWaitMs: number): number | undefined {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    const waitMs = (1 - this.#tokens) / this.#perMs;
    if (waitMs > maxWaitMs) return undefined;
    this.#tokens -= 1;
    return waitMs;
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

/** Give back a probe's place when it is done. */
export type Release = () => void;

interface HostState {
  readonly bucket: TokenBucket;
  active: number;
  readonly waiting: (() => void)[];
}

/** Hosts whose limits are remembered; a host forgotten starts again with a full bucket. */
const MAX_HOSTS = 1024;

export class RegistryHostLimits {
  readonly #limit: HostLimit;
  readonly #now: () => number;
  readonly #hosts = new LruCache<string, HostState>(MAX_HOSTS);

  constructor(limit: HostLimit, now: () => number = Date.now) {
    if (!Number.isInteger(limit.concurrency) || limit.concurrency < 1) {
      throw new RangeError(`a concurrency cap needs to be at least 1, got ${limit.concurrency}`);
    }
    new TokenBucket(limit, now); // validates the rate and burst
    this.#limit = limit;
    this.#now = now;
  }

  /**
   * A place to probe `host`: at once while fewer than the cap are in flight, else (a promise)
   * when one of those is done, in order. Undefined (not probed) when the host's rate is spent, or when as
   * many are already waiting as the burst (a registry that answers slower than the rate).
   */
  acquire(host: string): Release | Promise<Release> | undefined {
    const state = this.#stateOf(host.toLowerCase());
    if (state.waiting.length >= this.#limit.burst || !state.bucket.tryTake()) return undefined;
    return this.#place(state);
  }

  /**
   * As acquire, but a probe whose host's rate is spent waits for its turn when that comes
   * within `maxWaitMs`, instead of not being probed: for callers that hold an answer open (the
   * controller answering an agent or an admission review), where "not probed" would cost a
   * forced pull or a question asked again 10 minutes later.
   */
  acquireWithin(host: string, maxWaitMs: number): Release | Promise<Release> | undefined {
    const state = this.#stateOf(host.toLowerCase());
    if (state.waiting.length >= this.#limit.burst) return undefined;
    const waitMs = state.bucket.reserve(maxWaitMs);
    if (waitMs === undefined) return undefined;
    if (waitMs === 0) return this.#place(state);
    return new Promise((resolve) => {
      setTimeout(() => {
        resolve(this.#place(state));
      }, Math.ceil(waitMs)).unref();
    });
  }

  #place(state: HostState): Release | Promise<Release> {
    let released = false;
    const release: Release = () => {
      if (released) return;
      released = true;
      const next = state.waiting.shift();
      if (next === undefined) state.active -= 1;
      else next();
    };
    if (state.active < this.#limit.concurrency) {
      state.active += 1;
      return release;
    }
    return new Promise((resolve) =>
      state.waiting.push(() => {
        resolve(release);
      }),
    );
  }

  #stateOf(host: string): HostState {
    const known = this.#hosts.get(host);
    if (known !== undefined) return known;
    const state: HostState = {
      bucket: new TokenBucket(this.#limit, this.#now),
      active: 0,
      waiting: [],
    };
    this.#hosts.set(host, state);
    return state;
  }
}

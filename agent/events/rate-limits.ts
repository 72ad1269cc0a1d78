// How many Event writes the agent allows itself: per pod and per agent, as token buckets with
// client-go's defaults. A pod that is flagged again and again (a crash-looping container whose
// finding retires and returns) must not fill its namespace's event stream, and a node full of
// flagged pods must not flood the API server that 5,000 agents share.
import { LruCache } from '../lru.ts';
import type { RateLimit } from '../registry/rate-limit.ts';
import { TokenBucket } from '../registry/rate-limit.ts';

/**
 * client-go's EventSourceObjectSpamFilter (tools/record/events_cache.go): a source may write 25
 * Events about one object at once, then one every 5 minutes (defaultSpamBurst,
 * defaultSpamQPS = 1/300).
 */
export const POD_EVENT_LIMIT: RateLimit = { perSecond: 1 / 300, burst: 25 };

/**
 * client-go's rest.Config defaults (DefaultQPS 5, DefaultBurst 10): what a controller's events
 * recorder gets from the client it writes through, unless it raises them.
 */
export const AGENT_EVENT_LIMIT: RateLimit = { perSecond: 5, burst: 10 };

/** Pods whose buckets are kept: client-go's spam filter keeps 4,096 (maxLruCacheEntries). */
const MAX_TRACKED_PODS = 4096;

export type RateLimitVerdict = 'admitted' | 'pod-rate-limit' | 'agent-rate-limit';

export interface EventRateLimitOptions {
  readonly perPod?: RateLimit;
  readonly perAgent?: RateLimit;
  /** Milliseconds; Date.now by default. */
  readonly now?: () => number;
}

export class EventRateLimits {
  readonly #perPod: RateLimit;
  readonly #now: () => number;
  readonly #agent: TokenBucket;
  // A pod forgotten here starts again with a full bucket, as in client-go's LRU.
  readonly #pods = new LruCache<string, TokenBucket>(MAX_TRACKED_PODS);

  constructor(options: EventRateLimitOptions = {}) {
    this.#perPod = options.perPod ?? POD_EVENT_LIMIT;
    this.#now = options.now ?? Date.now;
    this.#agent = new TokenBucket(options.perAgent ?? AGENT_EVENT_LIMIT, this.#now);
  }

  /** Takes a token from the pod's bucket and the agent's, or from neither. */
  admit(podUid: string): RateLimitVerdict {
    let pod = this.#pods.get(podUid);
    if (pod === undefined) {
      pod = new TokenBucket(this.#perPod, this.#now);
      this.#pods.set(podUid, pod);
    }
    if (pod.available() < 1) return 'pod-rate-limit';
    if (!this.#agent.tryTake()) return 'agent-rate-limit';
    pod.tryTake();
    return 'admitted';
  }
}

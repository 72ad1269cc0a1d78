// Injected failures for reliability tests: request latency and one-shot (or
// n-shot) error answers for requests whose path matches a pattern.

import type { ApiError } from './status.ts';
import { errorForCode } from './status.ts';

export interface FailNextOptions {
  /** How many matching requests fail (default 1). */
  readonly times?: number;
  /** Only requests with this HTTP method (GET, POST...). */
  readonly method?: string;
  /** Only watch requests (true) or only non-watch requests (false). */
  readonly watch?: boolean;
  readonly message?: string;
}

interface FailureRule {
  readonly pattern: RegExp;
  readonly error: ApiError;
  readonly method: string | undefined;
  readonly watch: boolean | undefined;
  remaining: number;
}

export interface RequestShape {
  readonly method: string;
  readonly path: string;
  readonly watch: boolean;
}

/** Where a delay applies: requests whose path (without the query) matches, optionally one method. */
export interface DelayOptions {
  readonly method?: string;
  /** Only watch requests (true) or only non-watch requests (false). */
  readonly watch?: boolean;
}

interface DelayRule {
  readonly pattern: RegExp;
  readonly ms: () => number;
  readonly method: string | undefined;
  readonly watch: boolean | undefined;
}

export class FaultState {
  latencyMs = 0;
  #rules: FailureRule[] = [];
  #delays: DelayRule[] = [];

  /**
   * Answers to requests for one object (or any path matching) come `ms` later: a test puts
   * the answers of concurrent requests in the order it wants. A function is asked per request
   * (random latencies). The first matching rule wins.
   */
  delay(pattern: RegExp | string, ms: number | (() => number), options: DelayOptions = {}): void {
    this.#delays.push({
      pattern: typeof pattern === 'string' ? new RegExp(pattern) : pattern,
      ms: typeof ms === 'number' ? () => ms : ms,
      method: options.method?.toUpperCase(),
      watch: options.watch,
    });
  }

  /** The extra delay of this request: the global latency plus the first matching rule's. */
  delayFor(request: RequestShape): number {
    const rule = this.#delays.find(
      (r) =>
        (r.method === undefined || r.method === request.method) &&
        (r.watch === undefined || r.watch === request.watch) &&
        matchesPath(r.pattern, request.path),
    );
    return this.latencyMs + Math.max(0, rule?.ms() ?? 0);
  }

  failNext(pattern: RegExp | string, status: number, options: FailNextOptions = {}): void {
    this.#rules.push({
      pattern: typeof pattern === 'string' ? new RegExp(pattern) : pattern,
      error: errorForCode(status, options.message),
      method: options.method?.toUpperCase(),
      watch: options.watch,
      remaining: options.times ?? 1,
    });
  }

  /** The injected error for this request, if a rule matches; consumes one use of it. */
  take(request: RequestShape): ApiError | undefined {
    const rule = this.#rules.find(
      (r) =>
        r.remaining > 0 &&
        (r.method === undefined || r.method === request.method) &&
        (r.watch === undefined || r.watch === request.watch) &&
        matchesPath(r.pattern, request.path),
    );
    if (!rule) return undefined;
    rule.remaining--;
    this.#rules = this.#rules.filter((r) => r.remaining > 0);
    return rule.error;
  }

  clear(): void {
    this.latencyMs = 0;
    this.#rules = [];
    this.#delays = [];
  }
}

function matchesPath(pattern: RegExp, path: string): boolean {
  // A /g or /y pattern keeps state between test() calls; start each match afresh.
  pattern.lastIndex = 0;
  return pattern.test(path);
}

// Gives the heap's slack back to the node after the first sync, and after each burst of work
// since. V8 grows its heap to a multiple of what is live while the agent works (the first sync
// decodes a 5,000-image listing and every pod at once; a burst of pod updates decodes each),
// and its ordinary full GCs keep the pages they free for later: a 5,000-image node stayed at
// 145-168 MiB resident after ready with about 54 MiB live. A memory-reducing collection (V8's
// "last resort" flavour: it compacts every sparse page and releases the pooled ones) brings it
// to about 118-127 MiB, for one pause of 60-90 ms (BENCHMARKS.md, footprint). The agent runs
// one when it is first ready, and one when a burst is over: the event loop was busy since the
// last reduction (at least 5 % of a second) and is quiet again, and the heap grew by
// `growthBytes` meanwhile. Growth alone, with the loop quiet (scrapes, polls), is left to V8.
// On an idle 5,000-image node each resync (once a minute) counts as a burst: about one pause of
// 65 ms a minute, 1.3 millicores, for RSS about 7 MiB lower (scratch A/B, 2026-12-03).
//
// Node offers the collection only as the global `gc` of `--expose-gc`, which the container
// image's NODE_OPTIONS sets (Dockerfile); without it, v8Heap() is undefined and nothing runs.
import v8 from 'node:v8';
import type { Logger } from './log.ts';

/** What the reducer needs of the JavaScript engine. */
export interface HeapPort {
  /** Bytes the heap holds from the system (V8's total_heap_size). */
  committedBytes(): number;
  /** A full, memory-reducing collection. */
  collect(): void;
}

type GcFunction = (options: {
  readonly type: 'major';
  readonly execution: 'sync';
  readonly flavor: 'last-resort';
}) => void;

/** V8's heap, when the process runs with --expose-gc. */
export function v8Heap(): HeapPort | undefined {
  const gc: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') return undefined;
  const collect = gc as GcFunction;
  return {
    committedBytes: () => v8.getHeapStatistics().total_heap_size,
    collect: () => {
      collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    },
  };
}

export interface HeapReducerOptions {
  /** Growth of the committed heap since the last reduction that a burst must leave (4 MiB). */
  readonly growthBytes?: number;
  /** Least time between two reductions (10 s). */
  readonly minIntervalMs?: number;
  readonly now?: () => number;
}

/** One reduction: the committed heap before and after, and how long the pause was. */
export interface Reduction {
  readonly reason: 'ready' | 'burst';
  readonly beforeBytes: number;
  readonly afterBytes: number;
  readonly pauseMs: number;
}

/** What the agent did over the interval since the last check. */
export type Activity = 'busy' | 'quiet';

export class HeapReducer {
  readonly #heap: HeapPort;
  readonly #growthBytes: number;
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  /** The committed heap right after the last reduction, and when it ran (none yet: undefined). */
  #last: { readonly bytes: number; readonly at: number } | undefined;
  /** The agent was busy since the last reduction. */
  #worked = false;

  constructor(heap: HeapPort, options: HeapReducerOptions = {}) {
    this.#heap = heap;
    this.#growthBytes = options.growthBytes ?? 4 * 1024 * 1024;
    this.#minIntervalMs = options.minIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The first reduction, once the agent is ready; later calls do nothing. */
  ready(): Reduction | undefined {
    return this.#last === undefined ? this.#reduce('ready') : undefined;
  }

  /**
   * A reduction once a burst of work is over: the agent was busy since the last reduction, is
   * quiet now (during the burst the heap would only grow again), the heap grew by growthBytes,
   * and minIntervalMs have passed. Growth while the loop stayed quiet (scrapes, polls) is left
   * to V8.
   */
  check(activity: Activity): Reduction | undefined {
    const last = this.#last;
    if (last === undefined) return undefined; // not ready yet: the first sync is still growing it
    if (activity === 'busy') {
      this.#worked = true;
      return undefined;
    }
    if (!this.#worked) return undefined;
    if (this.#now() - last.at < this.#minIntervalMs) return undefined;
    if (this.#heap.committedBytes() - last.bytes < this.#growthBytes) return undefined;
    return this.#reduce('burst');
  }

  #reduce(reason: Reduction['reason']): Reduction {
    const beforeBytes = this.#heap.committedBytes();
    const started = performance.now();
    this.#heap.collect();
    const pauseMs = performance.now() - started;
    const afterBytes = this.#heap.committedBytes();
    this.#last = { bytes: afterBytes, at: this.#now() };
    this.#worked = false;
    return { reason, beforeBytes, afterBytes, pauseMs };
  }
}

/**
 * The event loop's busy share from which a check interval counts as busy. On an idle
 * 5,000-image node a cache poll or a scrape is 1-3 % of the second it falls in and a resync
 * 8-13 %; a burst of 1,000 pod updates is tens of percent.
 */
export const BUSY_UTILIZATION = 0.05;

/** The event loop's busy share since the last call (the first call: since this one). */
export function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const since = performance.eventLoopUtilization(last);
    last = performance.eventLoopUtilization();
    return since.utilization;
  };
}

export interface HeapReductionDeps {
  /** The heap (default: v8Heap(), which is undefined without --expose-gc: then nothing runs). */
  readonly heap?: HeapPort;
  /** The busy share since the last call (default: the event loop's). */
  readonly utilization?: () => number;
  /**
   * How often activity and growth are looked at (1 s: a read of the loop's and the heap's
   * statistics), so that a burst's reduction comes a second or two after it.
   */
  readonly checkIntervalMs?: number;
  readonly reducer?: HeapReducerOptions;
}

/**
 * The agent's reductions, logged at debug: the first once it is ready (published() is called
 * after each publish; the first that finds it ready schedules it), then after bursts of work
 * (check() every checkIntervalMs). Undefined when there is no heap to reduce.
 */
export function startHeapReductions(
  ready: () => boolean,
  logger: Logger,
  deps: HeapReductionDeps = {},
): { published(): void; stop(): void } | undefined {
  const port = deps.heap ?? v8Heap();
  if (port === undefined) return undefined;
  const reducer = new HeapReducer(port, deps.reducer);
  const utilization = deps.utilization ?? loopUtilization();
  const log = (reduction: Reduction | undefined): void => {
    if (reduction === undefined) return;
    const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
    logger.debug(
      {
        source: 'heap',
        reason: reduction.reason,
        beforeMiB: mib(reduction.beforeBytes),
        afterMiB: mib(reduction.afterBytes),
        pauseMs: Math.round(reduction.pauseMs),
      },
      'heap reduced',
    );
  };
  let readyScheduled = false;
  const timer = setInterval(() => {
    log(reducer.check(utilization() >= BUSY_UTILIZATION ? 'busy' : 'quiet'));
  }, deps.checkIntervalMs ?? 1_000);
  timer.unref();
  return {
    published: () => {
      if (readyScheduled || !ready()) return;
      readyScheduled = true;
      // After the outputs of the publish that made the agent ready have had their turn.
      setImmediate(() => {
        log(reducer.ready());
      }).unref();
    },
    stop: () => {
      clearInterval(timer);
    },
  };
}

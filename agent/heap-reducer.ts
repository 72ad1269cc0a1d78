// Gives the heap's slack back to the node after the first sync, and after the heap has grown
// since. V8 grows its heap to a multiple of what is live while the agent works (the first sync
// decodes a 5,000-image listing and every pod at once), and its ordinary full GCs keep the
// pages they free for later: a 5,000-image node stayed at 145-168 MiB resident after ready with
// about 54 MiB live. A memory-reducing collection (V8's "last resort" flavour: it compacts every
// sparse page and releases the pooled ones) brings it to about 127-131 MiB, for one pause of
// about 90 ms (BENCHMARKS.md, footprint). The agent runs
// one when it is first ready, and again when the heap has grown by `growthBytes` since the last,
// no more often than `minIntervalMs`, so that an idle node keeps its figure and a node under
// churn pays at most one such pause in that interval.
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
  /** Growth of the committed heap since the last reduction that calls for another (16 MiB). */
  readonly growthBytes?: number;
  /** Least time between two reductions that check() starts (30 s). */
  readonly minIntervalMs?: number;
  readonly now?: () => number;
}

/** One reduction: the committed heap before and after, and how long the pause was. */
export interface Reduction {
  readonly reason: 'ready' | 'grown';
  readonly beforeBytes: number;
  readonly afterBytes: number;
  readonly pauseMs: number;
}

export class HeapReducer {
  readonly #heap: HeapPort;
  readonly #growthBytes: number;
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  /** The committed heap right after the last reduction, and when it ran (none yet: undefined). */
  #last: { readonly bytes: number; readonly at: number } | undefined;

  constructor(heap: HeapPort, options: HeapReducerOptions = {}) {
    this.#heap = heap;
    this.#growthBytes = options.growthBytes ?? 16 * 1024 * 1024;
    this.#minIntervalMs = options.minIntervalMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** The first reduction, once the agent is ready; later calls do nothing. */
  ready(): Reduction | undefined {
    return this.#last === undefined ? this.#reduce('ready') : undefined;
  }

  /** A reduction if the heap grew by growthBytes since the last and minIntervalMs have passed. */
  check(): Reduction | undefined {
    const last = this.#last;
    if (last === undefined) return undefined; // not ready yet: the first sync is still growing it
    if (this.#now() - last.at < this.#minIntervalMs) return undefined;
    if (this.#heap.committedBytes() - last.bytes < this.#growthBytes) return undefined;
    return this.#reduce('grown');
  }

  #reduce(reason: Reduction['reason']): Reduction {
    const beforeBytes = this.#heap.committedBytes();
    const started = performance.now();
    this.#heap.collect();
    const pauseMs = performance.now() - started;
    const afterBytes = this.#heap.committedBytes();
    this.#last = { bytes: afterBytes, at: this.#now() };
    return { reason, beforeBytes, afterBytes, pauseMs };
  }
}

/** How often the heap's growth is looked at (a read of V8's heap statistics). */
const HEAP_CHECK_INTERVAL_MS = 5_000;

/**
 * The agent's reductions, logged at debug: the first once it is ready (published() is called
 * after each publish; the first that finds it ready schedules it), then check() every
 * HEAP_CHECK_INTERVAL_MS. Undefined without --expose-gc.
 */
export function startHeapReductions(
  ready: () => boolean,
  logger: Logger,
): { published(): void; stop(): void } | undefined {
  const port = v8Heap();
  if (port === undefined) return undefined;
  const reducer = new HeapReducer(port);
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
    log(reducer.check());
  }, HEAP_CHECK_INTERVAL_MS);
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

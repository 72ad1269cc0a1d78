// Writes the Warning Event of each newly flagged pod, and turns repeats into an event series
// the way client-go's events recorder does (k8s.io/client-go/tools/events): the first
// observation creates the Event; a repeat (the finding retired and raised again) counts it
// and patches `series {count, lastObservedTime}` of the same object. Writing runs beside the
// agent's loop: record() only notes what happened and returns, so a slow or absent API server
// never holds detection back.
import type { Logger } from '../log.ts';
import { Backoff, sleepUnlessAborted } from '../backoff.ts';
import { LruCache } from '../lru.ts';
import type { FindingsChange } from '../findings/store.ts';
import type { EventFinding, EventSeries, PodEvent } from './event.ts';
import { eventName, isEventFinding, microTime, podEvent } from './event.ts';
import type { EventRateLimitOptions } from './rate-limits.ts';
import { EventRateLimits } from './rate-limits.ts';
import type { EventSink, SinkFailure } from './sink.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

export const EVENT_WRITES = ['create', 'series'] as const;
export type EventWrite = (typeof EVENT_WRITES)[number];

/**
 * Why an Event write was not made: a rate limit held it back (its count is kept and goes out
 * with the pod's next write), the server refused it, or it kept failing until the retries ran
 * out.
 */
export const EVENT_DROPS = [
  'pod-rate-limit',
  'agent-rate-limit',
  'rejected',
  'retries-exhausted',
] as const;
export type EventDrop = (typeof EVENT_DROPS)[number];

/** The last Event write that failed (even if a later one succeeded). */
export interface EventWriteError {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly message: string;
}

export interface EventCounts {
  readonly written: Readonly<Record<EventWrite, number>>;
  readonly dropped: Readonly<Record<EventDrop, number>>;
}

/** client-go gives up on an Event after 12 tries (tools/events maxTriesPerEvent). */
export const MAX_ATTEMPTS = 12;

/** Events whose series is remembered: client-go's event cache holds 4,096 (maxLruCacheEntries). */
const MAX_TRACKED_EVENTS = 4096;

export interface EventWriterOptions {
  readonly sink: EventSink;
  readonly logger: Logger;
  /** Milliseconds since the epoch, with fractions for MicroTime. */
  readonly now?: () => number;
  readonly limits?: EventRateLimitOptions;
  /** Waits between tries; resolves early when the signal aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** One Event the agent wrote or is writing, and how many times its finding was raised. */
interface Tracked {
  readonly event: PodEvent;
  readonly podUid: string;
  count: number;
  lastObservedTime: string;
  /** The API server holds the Event (as far as this agent knows). */
  stored: boolean;
}

const preciseNow = (): number => performance.timeOrigin + performance.now();

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export class EventWriter {
  readonly #o: EventWriterOptions;
  readonly #now: () => number;
  readonly #limits: EventRateLimits;
  readonly #tracked = new LruCache<string, Tracked>(MAX_TRACKED_EVENTS);
  /** Events being written now; a repeat meanwhile asks for one more write after. */
  readonly #writing = new Map<string, { again: boolean; done: Promise<void> }>();
  readonly #stopping = new AbortController();
  readonly #written = zeros(EVENT_WRITES);
  readonly #dropped = zeros(EVENT_DROPS);
  #lastError: EventWriteError | undefined;

  constructor(options: EventWriterOptions) {
    this.#o = options;
    this.#now = options.now ?? preciseNow;
    this.#limits = new EventRateLimits({ now: this.#now, ...options.limits });
  }

  /** The agent's onPublished hook: an Event for each newly raised finding about a pod. */
  record(change: FindingsChange): void {
    if (this.#stopping.signal.aborted) return;
    for (const finding of change.added) {
      if (isEventFinding(finding)) this.#observe(finding);
    }
    for (const finding of change.retired) {
      if (isEventFinding(finding)) this.#forget(eventName(finding));
    }
  }

  counts(): EventCounts {
    return { written: { ...this.#written }, dropped: { ...this.#dropped } };
  }

  /** The last failed write, for /api/v1/status. */
  lastError(): EventWriteError | undefined {
    return this.#lastError;
  }

  /** Stops retrying and waits for the writes under way. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.all([...this.#writing.values()].map((w) => w.done));
  }

  #observe(finding: EventFinding): void {
    const name = eventName(finding);
    const at = this.#now();
    const tracked = this.#tracked.get(name);
    if (tracked === undefined) {
      this.#tracked.set(name, {
        event: podEvent(finding, at),
        podUid: finding.podUid,
        count: 1,
        lastObservedTime: microTime(at),
        stored: false,
      });
    } else {
      tracked.count += 1;
      tracked.lastObservedTime = microTime(at);
    }
    const writing = this.#writing.get(name);
    if (writing !== undefined) {
      writing.again = true;
      return;
    }
    const state = { again: false, done: Promise.resolve() };
    state.done = this.#flush(name, state).finally(() => this.#writing.delete(name));
    this.#writing.set(name, state);
  }

  /**
   * A retired finding's Event is not remembered (unless a write of it is under way): its pod is
   * usually gone, and the Event's name holds the pod's UID, so its series cannot continue. Under
   * pod churn, the cache then holds the node's current findings instead of the last 4,096
   * pods'. Should the same pod raise the finding again, the create meets the stored Event (409)
   * and continues its series from the server's count, as after a restart.
   */
  #forget(name: string): void {
    if (!this.#writing.has(name)) this.#tracked.delete(name);
  }

  /** Writes the Event's current state, again as long as repeats arrive during a write. */
  async #flush(name: string, state: { again: boolean }): Promise<void> {
    do {
      state.again = false;
      const tracked = this.#tracked.peek(name);
      if (tracked === undefined || this.#stopping.signal.aborted) return;
      const verdict = this.#limits.admit(tracked.podUid);
      if (verdict !== 'admitted') {
        this.#drop(verdict, tracked, 'rate limit');
        continue;
      }
      await this.#writeWithRetries(tracked);
    } while (state.again);
  }

  async #writeWithRetries(tracked: Tracked): Promise<void> {
    // client-go sleeps about 10 s between tries; growing waits spread 5,000 agents out better.
    const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
    const sleep = this.#o.sleep ?? sleepUnlessAborted;
    for (let attempt = 1; ; attempt++) {
      const written = await this.#writeOnce(tracked);
      if (written.ok) {
        this.#written[written.value]++;
        return;
      }
      const failure = written.error;
      const { namespace, name } = tracked.event.metadata;
      this.#lastError = {
        at: this.#now(),
        message: `Event ${namespace}/${name}: ${describe(failure)}`,
      };
      if (failure.kind !== 'unavailable') {
        this.#drop('rejected', tracked, describe(failure));
        return;
      }
      if (attempt >= MAX_ATTEMPTS || this.#stopping.signal.aborted) {
        this.#drop('retries-exhausted', tracked, failure.message);
        return;
      }
      await sleep(backoff.next(), this.#stopping.signal);
    }
  }

  /**
   * One write of the Event as it stands: a create while the server does not hold it, else a
   * patch of its series. The name is the same after a restart, so a create that meets the
   * Event already there (409) continues its series; a patch that finds it gone (expired after
   * the API server's --event-ttl) creates it again with the series so far, as client-go does.
   */
  async #writeOnce(tracked: Tracked): Promise<Result<EventWrite, SinkFailure>> {
    const { sink } = this.#o;
    const { namespace, name } = tracked.event.metadata;
    if (!tracked.stored) {
      const created = await sink.create(withSeries(tracked));
      if (created.ok) {
        tracked.stored = true;
        return ok('create');
      }
      if (created.error.kind !== 'already-exists') return created;
      const stored = await sink.seriesCount(namespace, name);
      if (!stored.ok) return stored;
      // What the Event counted before this agent's observations (a restart without state).
      tracked.count += stored.value;
      tracked.stored = true;
    }
    const patched = await sink.patchSeries(namespace, name, seriesOf(tracked));
    if (patched.ok) return ok('series');
    if (patched.error.kind !== 'not-found') return patched;
    tracked.stored = false;
    const created = await sink.create(withSeries(tracked));
    if (created.ok) {
      tracked.stored = true;
      return ok('create');
    }
    // Created meanwhile by another write: worth one more try, which patches it.
    return created.error.kind === 'already-exists'
      ? err({ kind: 'unavailable', message: 'the Event reappeared while being created' })
      : created;
  }

  #drop(reason: EventDrop, tracked: Tracked, why: string): void {
    this.#dropped[reason]++;
    const { namespace, name } = tracked.event.metadata;
    const fields = { source: 'events', namespace, event: name, count: tracked.count, reason };
    if (reason === 'pod-rate-limit' || reason === 'agent-rate-limit') {
      this.#o.logger.debug(fields, `Event not written: ${why}`);
    } else {
      this.#o.logger.warn(fields, `Event not written: ${why}`);
    }
  }
}

function seriesOf(tracked: Tracked): EventSeries {
  return { count: tracked.count, lastObservedTime: tracked.lastObservedTime };
}

/** The Event with its series once it counts two observations (the API's minimum series). */
function withSeries(tracked: Tracked): PodEvent {
  return tracked.count < 2 ? tracked.event : { ...tracked.event, series: seriesOf(tracked) };
}

function describe(failure: SinkFailure): string {
  switch (failure.kind) {
    case 'already-exists':
      return 'it exists already';
    case 'not-found':
      return 'not found (404): the namespace is gone, or the API server serves no events.k8s.io/v1';
    case 'rejected':
    case 'unavailable':
      return failure.message;
  }
}

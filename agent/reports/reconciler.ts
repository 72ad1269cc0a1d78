// Keeps a node's report objects equal to its findings, level-triggered as controller-runtime's
// reconcilers and Kyverno's reports controller are: every published reconcile recomputes the
// desired objects whole (desired.ts) and marks those that differ from what was last written
// dirty; a writer applies the latest desired state of each dirty object with server-side
// apply, at most once per object per write interval (so a burst of pod events costs one write
// per object), deletes objects that became empty, and retries failures with backoff. Nothing
// here blocks the agent's loop: published() only marks and schedules.
//
// On start the record of written objects comes from the state dir, or, when that is missing,
// from the controller (or a label-selector list in direct mode); what it names that is no
// longer desired is deleted, and what is unchanged is not written again, so a restart neither
// duplicates nor rewrites (the findings keep their first-seen times across it: the agent's
// findings.json, agent/findings/times-file.ts, so a result's timestamp is the same).
import type { Logger } from '../log.ts';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import type { Finding } from '../detect/finding.ts';
import type { Result } from '../result.ts';
import type { ObjectRef, ReportObject } from './desired.ts';
import { desiredReports, refKey, refOf, stampWrittenAt } from './desired.ts';
import type { ReportFlavor } from './kinds.ts';
import type { WorkloadOf } from './results.ts';
import type { ReportSink, ReportSinkFailure } from './sink.ts';
import type { WrittenObject, WrittenSet, WrittenSetLoad } from './written-set.ts';
import { contentDigest } from './written-set.ts';

export const REPORT_OPERATIONS = ['apply', 'delete'] as const;
export type ReportOperation = (typeof REPORT_OPERATIONS)[number];
export const REPORT_WRITE_RESULTS = ['ok', 'rejected', 'unavailable', 'kind-not-served'] as const;
export type ReportWriteResult = (typeof REPORT_WRITE_RESULTS)[number];

/** Writes made, by object kind, operation and result (pullwatch_report_writes_total). */
export type ReportWriteCounts = ReadonlyMap<string, number>;

export function writeCountKey(
  kind: string,
  operation: ReportOperation,
  result: ReportWriteResult,
): string {
  return `${kind}\0${operation}\0${result}`;
}

export interface ReportsStatus {
  /**
   * starting: reading the record of written objects and the Node's uid; waiting: the agent is
   * not ready yet; writing: in step or catching up; kind-not-served: the API server does not
   * serve the report kind (CRDs missing), retried every minute.
   */
  readonly state: 'starting' | 'waiting' | 'writing' | 'kind-not-served';
  readonly problem: string | null;
  /** Objects the agent holds written. */
  readonly objects: number;
  /** Objects whose write or delete is still to come. */
  readonly pending: number;
  /** The last write (or start-up read) that failed, even if a later one succeeded. */
  readonly lastError: WriteError | undefined;
}

export interface WriteError {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly message: string;
}

export interface WrittenSetStore {
  load(): Promise<WrittenSetLoad>;
  save(set: WrittenSet): Promise<Result<void, string>>;
}

export interface ReportReconcilerOptions {
  readonly flavor: ReportFlavor;
  readonly node: string;
  readonly sink: ReportSink;
  readonly store: WrittenSetStore;
  /** The objects labeled for this node, when the state dir has no record (controller or list). */
  readonly ownReports: () => Promise<Result<readonly ObjectRef[], string>>;
  /** The agent's current findings. */
  readonly findings: () => readonly Finding[];
  /** Findings are complete (the agent's readiness): nothing is written from a partial view. */
  readonly ready: () => boolean;
  /**
   * No registry answer is outstanding (the agent's settled()): findings about to change with an
   * answer are not written half-way. Without it a restarted agent would write its findings as
   * they stand before the registry's answers, then again after. Waited for at most
   * SETTLE_WAIT_MS, so a registry that never answers delays reports, never stops them.
   */
  readonly settled?: () => boolean;
  readonly workloadOf?: WorkloadOf;
  /** At most one write per object per this many milliseconds. */
  readonly writeIntervalMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly backoff?: BackoffOptions;
}

/** How long to wait before asking again whether the report kind is served. */
const KIND_RETRY_MS = 60_000;

/** The longest writes wait for outstanding registry answers. */
export const SETTLE_WAIT_MS = 30_000;

interface Desired {
  readonly object: ReportObject;
  readonly digest: string;
}

export class ReportReconciler {
  readonly #o: ReportReconcilerOptions;
  readonly #now: () => number;
  readonly #backoff: Backoff;
  readonly #written = new Map<string, WrittenObject>();
  #desired = new Map<string, Desired>();
  readonly #dirty = new Set<string>();
  readonly #lastWrite = new Map<string, number>();
  /** Keys whose write was refused, with the digest (or 'delete') refused: not retried unchanged. */
  readonly #refused = new Map<string, string>();
  readonly #counts = new Map<string, number>();
  #retryAt = 0;
  #state: ReportsStatus['state'] = 'starting';
  #problem: string | null = null;
  #lastError: WriteError | undefined;
  #started = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  /** When the desired objects were last built, and the timer of the next build that is due. */
  #recomputedAt = -Infinity;
  #recomputeTimer: NodeJS.Timeout | undefined;
  /** Since when publishes found registry answers outstanding. */
  #unsettledSince: number | undefined;
  #pumping: Promise<void> | undefined;
  #again = false;
  #nodeUid = '';
  #startup: Promise<void> | undefined;
  /** Ends a wait between start-up tries early, on stop. */
  #wake: (() => void) | undefined;

  constructor(options: ReportReconcilerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#backoff = new Backoff(options.backoff);
  }

  start(): void {
    this.#startup ??= this.#start();
  }

  status(): ReportsStatus {
    return {
      state: this.#state,
      problem: this.#problem,
      objects: this.#written.size,
      pending: this.#dirty.size,
      lastError: this.#lastError,
    };
  }

  counts(): ReportWriteCounts {
    return this.#counts;
  }

  /** The agent published a reconcile: recompute the desired objects and write what differs. */
  published(): void {
    if (!this.#started || this.#stopped) return;
    if (!this.#o.ready()) {
      if (this.#state !== 'kind-not-served') this.#state = 'waiting';
      return;
    }
    if (this.#state === 'waiting') this.#state = 'writing';
    if (!this.#settledOrWaitedEnough()) return;
    // Building every object and hashing it costs milliseconds at a thousand findings, and the
    // agent publishes on every pod event: build at most once per write interval, which is as
    // often as an object may be written anyway. The timer builds what the last publish asked.
    const waitMs = this.#recomputedAt + this.#o.writeIntervalMs - this.#now();
    if (waitMs > 0) {
      this.#recomputeTimer ??= setTimeout(() => {
        this.#recomputeTimer = undefined;
        this.published();
      }, waitMs);
      this.#recomputeTimer.unref();
      return;
    }
    this.#recomputedAt = this.#now();
    this.#recompute();
    this.#pump();
  }

  /** Registry answers are in, or were waited for long enough; else a publish is due later. */
  #settledOrWaitedEnough(): boolean {
    if (this.#o.settled?.() ?? true) {
      this.#unsettledSince = undefined;
      return true;
    }
    const now = this.#now();
    this.#unsettledSince ??= now;
    const until = this.#unsettledSince + SETTLE_WAIT_MS;
    if (now >= until) return true;
    // The answer's reconcile publishes again; this is for an answer that never comes.
    this.#settleTimer ??= setTimeout(() => {
      this.#settleTimer = undefined;
      this.published();
    }, until - now);
    this.#settleTimer.unref();
    return false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#settleTimer !== undefined) clearTimeout(this.#settleTimer);
    if (this.#recomputeTimer !== undefined) clearTimeout(this.#recomputeTimer);
    this.#wake?.();
    await this.#startup;
    await this.#pumping;
  }

  async #start(): Promise<void> {
    await this.#loadWritten();
    const uid = await this.#retrying('read the Node uid', () => this.#o.sink.nodeUid(this.#o.node));
    if (uid === undefined) return;
    this.#nodeUid = uid;
    this.#started = true;
    this.#state = 'writing';
    this.published();
  }

  async #loadWritten(): Promise<void> {
    const loaded = await this.#o.store.load();
    if (loaded.kind === 'loaded') {
      for (const o of loaded.set.objects) this.#written.set(refKey(o.ref), o);
      return;
    }
    if (loaded.kind === 'unusable') this.#o.logger.warn({ source: 'reports' }, loaded.problem);
    // Without a record, every object labeled for this node is ours to reconcile: unchanged
    // ones are written once more (their content is not known), the others deleted.
    const own = await this.#retrying('learn which reports exist for this node', async () => {
      const asked = await this.#o.ownReports();
      return asked.ok ? asked : { ok: false, error: { kind: 'unavailable', message: asked.error } };
    });
    for (const ref of own ?? []) this.#written.set(refKey(ref), { ref, digest: undefined });
  }

  /** Calls until it succeeds (undefined once stopped), waiting with backoff between tries. */
  async #retrying<T>(
    what: string,
    call: () => Promise<Result<T, ReportSinkFailure>>,
  ): Promise<T | undefined> {
    const backoff = new Backoff(this.#o.backoff);
    let logged = false;
    while (!this.#stopped) {
      const result = await call();
      if (result.ok) {
        this.#problem = null;
        return result.value;
      }
      this.#problem = `cannot ${what}: ${result.error.message}`;
      this.#lastError = { at: this.#now(), message: this.#problem };
      if (!logged) this.#o.logger.warn({ source: 'reports' }, `${this.#problem}; retrying`);
      logged = true;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, backoff.next());
        this.#timer.unref();
      });
      this.#wake = undefined;
    }
    return undefined;
  }

  #recompute(): void {
    const objects = desiredReports({
      flavor: this.#o.flavor,
      node: this.#o.node,
      nodeUid: this.#nodeUid,
      findings: this.#o.findings(),
      ...(this.#o.workloadOf === undefined ? {} : { workloadOf: this.#o.workloadOf }),
    });
    this.#desired = new Map(
      objects.map((object) => [refKey(refOf(object)), { object, digest: contentDigest(object) }]),
    );
    this.#dirty.clear();
    for (const [key, { digest }] of this.#desired) {
      if (this.#written.get(key)?.digest !== digest && this.#refused.get(key) !== digest)
        this.#dirty.add(key);
    }
    for (const key of this.#written.keys()) {
      if (!this.#desired.has(key) && this.#refused.get(key) !== 'delete') this.#dirty.add(key);
    }
  }

  #pump(): void {
    if (this.#pumping !== undefined) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#writeDue().finally(() => {
      this.#pumping = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.#pump();
      }
    });
  }

  /** One pass over the dirty objects whose interval has passed; schedules the next pass. */
  async #writeDue(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let changed = false;
    for (const key of [...this.#dirty].sort()) {
      if (this.#stopped) return;
      const now = this.#now();
      if (now < this.#retryAt) break;
      if (now < (this.#lastWrite.get(key) ?? -Infinity) + this.#o.writeIntervalMs) continue;
      // Level-triggered: whatever is desired now, not what was desired when it turned dirty.
      const desired = this.#desired.get(key);
      const written = this.#written.get(key);
      const ref = desired === undefined ? written?.ref : refOf(desired.object);
      if (ref === undefined) {
        this.#dirty.delete(key);
        continue;
      }
      const operation: ReportOperation = desired === undefined ? 'delete' : 'apply';
      this.#lastWrite.set(key, now);
      const result =
        desired === undefined
          ? await this.#o.sink.delete(ref)
          : await this.#o.sink.apply(stampWrittenAt(desired.object, new Date(now).toISOString()));
      const outcome = result.ok ? 'ok' : result.error.kind;
      this.#count(ref.kind, operation, outcome);
      if (result.ok) {
        this.#backoff.reset();
        if (this.#state === 'kind-not-served') this.#state = 'writing';
        this.#problem = null;
        this.#refused.delete(key);
        if (desired === undefined) this.#written.delete(key);
        else this.#written.set(key, { ref, digest: desired.digest });
        // A recompute during the write may have changed what is desired: dirty again if so.
        if (this.#desired.get(key)?.digest === desired?.digest) this.#dirty.delete(key);
        else this.#dirty.add(key);
        changed = true;
        continue;
      }
      this.#failed(key, ref, operation, desired, result.error);
      if (result.error.kind !== 'rejected') break;
    }
    if (changed) await this.#save();
    this.#schedule();
  }

  #failed(
    key: string,
    ref: ObjectRef,
    operation: ReportOperation,
    desired: Desired | undefined,
    failure: ReportSinkFailure,
  ): void {
    const log = this.#o.logger;
    const where = `${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;
    this.#lastError = { at: this.#now(), message: `${operation} ${where}: ${failure.message}` };
    switch (failure.kind) {
      case 'rejected':
        this.#refused.set(key, desired?.digest ?? 'delete');
        this.#dirty.delete(key);
        log.warn(
          { source: 'reports', error: failure.message },
          `the API server refused to ${operation} ${where}`,
        );
        return;
      case 'kind-not-served':
        if (this.#state !== 'kind-not-served')
          log.error(
            { source: 'reports', error: failure.message },
            `the API server does not serve ${ref.apiVersion} ${ref.kind}: install the report CRDs (README "Reports"), or run with --reports off; retrying every minute`,
          );
        this.#state = 'kind-not-served';
        this.#problem = `the API server does not serve ${ref.apiVersion} ${ref.kind} (CRDs not installed)`;
        this.#retryAt = this.#now() + KIND_RETRY_MS;
        this.#lastWrite.delete(key);
        return;
      case 'unavailable':
        this.#problem = `${operation} ${where} failed: ${failure.message}`;
        this.#retryAt = this.#now() + this.#backoff.next();
        this.#lastWrite.delete(key);
        log.warn(
          { source: 'reports', error: failure.message },
          `could not ${operation} ${where}; retrying`,
        );
        return;
    }
  }

  #count(kind: string, operation: ReportOperation, result: ReportWriteResult): void {
    const key = writeCountKey(kind, operation, result);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  async #save(): Promise<void> {
    const saved = await this.#o.store.save({
      node: this.#o.node,
      objects: [...this.#written.values()],
    });
    if (!saved.ok) this.#o.logger.warn({ source: 'reports' }, saved.error);
  }

  #schedule(): void {
    if (this.#stopped || this.#dirty.size === 0) return;
    let next = Infinity;
    for (const key of this.#dirty)
      next = Math.min(next, (this.#lastWrite.get(key) ?? -Infinity) + this.#o.writeIntervalMs);
    next = Math.max(next, this.#retryAt);
    this.#timer = setTimeout(
      () => {
        this.#pump();
      },
      Math.max(0, next - this.#now()),
    );
    this.#timer.unref();
  }
}

// The pull secrets the node's pods reference, read one by one by name (never a cluster-wide
// list or watch of secrets: the agent must not hold every tenant's credentials) and kept only
// as SecretViews. Read when a pod referencing one appears, again when the view is older than
// the TTL while a pod that can still start containers references it, and forgotten when no pod
// references it any more.
//
// The TTL is long (30 min) because pod starts already re-read their secrets: what it bounds is
// how late a credential rotated under pods that keep running is noticed. Each refresh falls at
// a random point of the TTL's last fifth so that one agent's secrets, and a DaemonSet's agents
// started together, do not all ask in the same second.
import type { Logger } from 'pino';
import type { SecretView } from '../model/snapshot.ts';
import { secretKey } from '../model/snapshot.ts';
import type { Limiter } from './limiter.ts';
import type { SecretRef } from './secret-view.ts';

export const DEFAULT_SECRET_TTL_MS = 30 * 60_000;
/** A refresh falls due between (1 - this) × TTL and the TTL after the last read. */
export const SECRET_TTL_JITTER = 0.2;
export const DEFAULT_SECRET_MIN_REFETCH_MS = 10_000;
/** Views that say a secret is missing, forbidden or malformed are read again this soon. */
export const DEFAULT_SECRET_PROBLEM_TTL_MS = 5 * 60_000;

export interface SecretFetch {
  readonly view: SecretView;
  /** The failure may pass by itself (5xx, network): a previous good view is kept meanwhile. */
  readonly transient: boolean;
}

/**
 * Why a secret is read: `first` (a pod references it and no view is kept) or `pod-start` (a
 * new pod references it) need the latest state; `refresh` (the TTL ran out) may be answered
 * from the API server's watch cache.
 */
export type SecretReadReason = 'first' | 'pod-start' | 'refresh';

/** Reads and parses one secret; must not throw, and must not keep the Secret object. */
export type SecretFetcher = (
  ref: SecretRef,
  reason: SecretReadReason,
  /** A pod of the node that names the secret (the controller checks it is ours). */
  pod: string,
) => Promise<SecretFetch>;

/** A secret some pod on the node references. */
export interface SecretReference {
  readonly ref: SecretRef;
  /** A pod that names it (a live one when there is one). */
  readonly pod: string;
  /** A pod that is not finished references it: refreshing its view can matter. */
  readonly live: boolean;
}

export interface PullSecretCacheOptions {
  readonly fetch: SecretFetcher;
  readonly limit: Limiter;
  /** A good view is read again at most this long after the last read (default 30 min). */
  readonly ttlMs?: number;
  /** A missing, forbidden or malformed secret's view (default 5 min, at most the TTL). */
  readonly problemTtlMs?: number;
  /** A new pod re-reads a secret only if its view is older than this (default 10 s). */
  readonly minRefetchMs?: number;
  /** After a transient failure, the next attempt (default 30 s, at most the TTL). */
  readonly retryMs?: number;
  /** Secrets kept at most (default 1000); more references than that are not read. */
  readonly maxEntries?: number;
  readonly onChange: () => void;
  readonly now?: () => number;
  /** In [0, 1), for the refresh jitter. */
  readonly random?: () => number;
  readonly logger?: Logger;
}

interface Entry {
  readonly ref: SecretRef;
  pod: string;
  live: boolean;
  view: SecretView | undefined;
  /** The last read failed in a way that may pass (network, 5xx). */
  transient: boolean;
  fetchedAt: number;
  nextFetchAt: number;
  fetching: boolean;
}

export class PullSecretCache {
  readonly #options: PullSecretCacheOptions;
  readonly #ttlMs: number;
  readonly #problemTtlMs: number;
  readonly #minRefetchMs: number;
  readonly #retryMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #overflowReported = false;
  #stopped = false;
  #lastViews: ReadonlyMap<string, SecretView> | undefined;

  constructor(options: PullSecretCacheOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.#problemTtlMs = Math.min(
      options.problemTtlMs ?? DEFAULT_SECRET_PROBLEM_TTL_MS,
      this.#ttlMs,
    );
    this.#minRefetchMs = options.minRefetchMs ?? DEFAULT_SECRET_MIN_REFETCH_MS;
    this.#retryMs = Math.min(options.retryMs ?? 30_000, this.#ttlMs);
    this.#maxEntries = options.maxEntries ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    // Checks which views expired; costs no request unless one has. A read happens at most a
    // sixtieth of the TTL after it fell due (30 s at the default).
    const tickMs = Math.max(
      250,
      Math.min(this.#retryMs, this.#problemTtlMs / 4, this.#ttlMs / 60, 30_000),
    );
    this.#timer = setInterval(() => {
      this.#refreshExpired();
    }, tickMs);
    this.#timer.unref();
  }

  /**
   * The secrets the node's pods reference now (key: namespace/name), and among them those a
   * pod that just appeared references.
   */
  update(referenced: ReadonlyMap<string, SecretReference>, appeared: ReadonlySet<string>): void {
    if (this.#stopped) return;
    let changed = false;
    for (const key of this.#entries.keys()) {
      if (!referenced.has(key)) {
        this.#entries.delete(key);
        changed = true;
      }
    }
    const now = this.#now();
    for (const [key, { ref, live, pod }] of referenced) {
      const entry = this.#entries.get(key);
      if (entry === undefined) {
        if (this.#entries.size >= this.#maxEntries) {
          if (!this.#overflowReported) {
            this.#overflowReported = true;
            this.#options.logger?.warn(
              { maxEntries: this.#maxEntries },
              'more pull secrets are referenced on this node than the cache holds; the rest are not read',
            );
          }
          continue;
        }
        const created: Entry = {
          ref,
          pod,
          live,
          view: undefined,
          transient: false,
          fetchedAt: 0,
          nextFetchAt: 0,
          fetching: false,
        };
        this.#entries.set(key, created);
        this.#fetch(key, created, 'first');
        continue;
      }
      entry.live = live;
      entry.pod = pod;
      if (appeared.has(key) && now - entry.fetchedAt >= this.#minRefetchMs) {
        this.#fetch(key, entry, 'pod-start');
      }
    }
    if (changed) this.#options.onChange();
  }

  /**
   * The views of the secrets read so far: the same Map while none changed, since detection
   * remembers what it worked out per secrets map (DetectionMemory).
   */
  views(): ReadonlyMap<string, SecretView> {
    const last = this.#lastViews;
    let count = 0;
    let same = last !== undefined;
    for (const [key, entry] of this.#entries) {
      if (entry.view === undefined) continue;
      count += 1;
      if (same && last?.get(key) !== entry.view) same = false;
    }
    if (same && last !== undefined && last.size === count) return last;
    const views = new Map<string, SecretView>();
    for (const [key, entry] of this.#entries) if (entry.view) views.set(key, entry.view);
    this.#lastViews = views;
    return views;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#inFlight]);
  }

  #refreshExpired(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      // Only finished pods reference it: no container will start with it again, so the view
      // from when they ran is the one that counts.
      if (!entry.live && entry.view !== undefined && !entry.transient) continue;
      if (entry.nextFetchAt <= now) this.#fetch(key, entry, 'refresh');
    }
  }

  #fetch(key: string, entry: Entry, reason: SecretReadReason): void {
    if (entry.fetching || this.#stopped) return;
    entry.fetching = true;
    const task = this.#read(key, entry, reason).finally(() => {
      entry.fetching = false;
      this.#inFlight.delete(task);
    });
    this.#inFlight.add(task);
  }

  #current(key: string, entry: Entry): boolean {
    return !this.#stopped && this.#entries.get(key) === entry;
  }

  async #read(key: string, entry: Entry, reason: SecretReadReason): Promise<void> {
    let fetched: SecretFetch | undefined;
    try {
      fetched = await this.#options.limit(async () =>
        // No pod references it any more by the time its turn came: not read at all.
        this.#current(key, entry) ? this.#options.fetch(entry.ref, reason, entry.pod) : undefined,
      );
    } catch (e) {
      this.#options.logger?.error({ err: e, secret: key }, 'the pull secret reader threw');
      entry.nextFetchAt = this.#now() + this.#retryMs;
      return;
    }
    // Dropped or replaced while the read was under way: the answer is nobody's.
    if (fetched === undefined || !this.#current(key, entry)) return;
    const { view, transient } = fetched;
    const now = this.#now();
    entry.fetchedAt = now;
    entry.transient = transient;
    entry.nextFetchAt = now + this.#nextReadInMs(view, transient);
    if (transient && entry.view?.state === 'ok') {
      this.#options.logger?.warn(
        { secret: key, problem: view.state === 'ok' ? '' : view.problem },
        'reading a pull secret failed; keeping the last good view',
      );
      return;
    }
    const before = entry.view;
    entry.view = view;
    if (before === undefined || !sameView(before, view)) this.#options.onChange();
  }

  #nextReadInMs(view: SecretView, transient: boolean): number {
    if (transient) return this.#retryMs;
    const ttl = view.state === 'ok' ? this.#ttlMs : this.#problemTtlMs;
    return ttl * (1 - SECRET_TTL_JITTER * this.#random());
  }
}

function sameView(a: SecretView, b: SecretView): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function secretRefsOf(
  pods: Iterable<{
    readonly namespace: string;
    readonly name: string;
    readonly pullSecretNames: readonly string[];
    readonly finished: boolean;
  }>,
): Map<string, SecretReference> {
  const refs = new Map<string, SecretReference>();
  for (const pod of pods) {
    for (const name of pod.pullSecretNames) {
      const key = secretKey(pod.namespace, name);
      const known = refs.get(key);
      // The pod named with it: a live one, if any pod that names the secret is.
      if (known !== undefined && (known.live || pod.finished)) continue;
      refs.set(key, {
        ref: { namespace: pod.namespace, name },
        live: !pod.finished,
        pod: pod.name,
      });
    }
  }
  return refs;
}

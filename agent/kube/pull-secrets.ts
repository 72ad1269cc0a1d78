// The pull secrets the node's pods reference, read one by one by name (never a cluster-wide
// list or watch of secrets: the agent must not hold every tenant's credentials) and kept only
// as SecretViews. Read when a pod referencing one appears, again when the view is older than
// the TTL, and forgotten when no pod references it any more.
import type { Logger } from 'pino';
import type { SecretView } from '../detect/snapshot.ts';
import { secretKey } from '../detect/snapshot.ts';
import type { Limiter } from './limiter.ts';
import type { SecretRef } from './secret-view.ts';

export interface SecretFetch {
  readonly view: SecretView;
  /** The failure may pass by itself (5xx, network): a previous good view is kept meanwhile. */
  readonly transient: boolean;
}

/** Reads and parses one secret; must not throw, and must not keep the Secret object. */
export type SecretFetcher = (ref: SecretRef) => Promise<SecretFetch>;

export interface PullSecretCacheOptions {
  readonly fetch: SecretFetcher;
  readonly limit: Limiter;
  /** A view older than this is read again (default 5 min). */
  readonly ttlMs?: number;
  /** A new pod re-reads a secret only if its view is older than this (default 10 s). */
  readonly minRefetchMs?: number;
  /** After a transient failure, the next attempt (default 30 s, at most the TTL). */
  readonly retryMs?: number;
  /** Secrets kept at most (default 1000); more references than that are not read. */
  readonly maxEntries?: number;
  readonly onChange: () => void;
  readonly now?: () => number;
  readonly logger?: Logger;
}

interface Entry {
  readonly ref: SecretRef;
  view: SecretView | undefined;
  fetchedAt: number;
  nextFetchAt: number;
  fetching: boolean;
}

export class PullSecretCache {
  readonly #options: PullSecretCacheOptions;
  readonly #ttlMs: number;
  readonly #minRefetchMs: number;
  readonly #retryMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #overflowReported = false;
  #stopped = false;

  constructor(options: PullSecretCacheOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#minRefetchMs = options.minRefetchMs ?? 10_000;
    this.#retryMs = Math.min(options.retryMs ?? 30_000, this.#ttlMs);
    this.#maxEntries = options.maxEntries ?? 1000;
    this.#now = options.now ?? Date.now;
    // Checks which views expired; costs no request unless one has.
    const tickMs = Math.max(250, Math.min(this.#retryMs, this.#ttlMs / 4, 30_000));
    this.#timer = setInterval(() => {
      this.#refreshExpired();
    }, tickMs);
    this.#timer.unref();
  }

  /**
   * The secrets the node's pods reference now (key: namespace/name), and among them those a
   * pod that just appeared references.
   */
  update(referenced: ReadonlyMap<string, SecretRef>, appeared: ReadonlySet<string>): void {
    if (this.#stopped) return;
    let changed = false;
    for (const key of this.#entries.keys()) {
      if (!referenced.has(key)) {
        this.#entries.delete(key);
        changed = true;
      }
    }
    const now = this.#now();
    for (const [key, ref] of referenced) {
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
          view: undefined,
          fetchedAt: 0,
          nextFetchAt: 0,
          fetching: false,
        };
        this.#entries.set(key, created);
        this.#fetch(key, created);
      } else if (appeared.has(key) && now - entry.fetchedAt >= this.#minRefetchMs) {
        this.#fetch(key, entry);
      }
    }
    if (changed) this.#options.onChange();
  }

  views(): Map<string, SecretView> {
    const views = new Map<string, SecretView>();
    for (const [key, entry] of this.#entries) if (entry.view) views.set(key, entry.view);
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
      if (entry.nextFetchAt <= now) this.#fetch(key, entry);
    }
  }

  #fetch(key: string, entry: Entry): void {
    if (entry.fetching || this.#stopped) return;
    entry.fetching = true;
    const task = this.#read(key, entry).finally(() => {
      entry.fetching = false;
      this.#inFlight.delete(task);
    });
    this.#inFlight.add(task);
  }

  async #read(key: string, entry: Entry): Promise<void> {
    let fetched: SecretFetch;
    try {
      fetched = await this.#options.limit(() => this.#options.fetch(entry.ref));
    } catch (e) {
      this.#options.logger?.error({ err: e, secret: key }, 'the pull secret reader threw');
      entry.nextFetchAt = this.#now() + this.#retryMs;
      return;
    }
    // Dropped or replaced while the read was under way: the answer is nobody's.
    if (this.#stopped || this.#entries.get(key) !== entry) return;
    const { view, transient } = fetched;
    const now = this.#now();
    entry.fetchedAt = now;
    entry.nextFetchAt = now + (transient ? this.#retryMs : this.#ttlMs);
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
}

function sameView(a: SecretView, b: SecretView): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function secretRefsOf(
  pods: Iterable<{ readonly namespace: string; readonly pullSecretNames: readonly string[] }>,
): Map<string, SecretRef> {
  const refs = new Map<string, SecretRef>();
  for (const pod of pods) {
    for (const name of pod.pullSecretNames) {
      refs.set(secretKey(pod.namespace, name), { namespace: pod.namespace, name });
    }
  }
  return refs;
}

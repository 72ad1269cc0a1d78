// The controller's pull secrets: read by name when an agent asks (never listed or watched),
// parsed at once into views that hold fingerprints, credentialHashes and the sealed check
// capability, and kept a short while so that the agents of many nodes asking about the same
// secret cost one read. A read that fails in a way that may pass keeps the last good view.
import type { KubeConfig } from '@kubernetes/client-node';
import type { FingerprintKey } from '../credentials/pull-secret.ts';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson, type KubeRequestError } from '../kube/kube-http.ts';
import { createLimiter, type Limiter } from '../kube/limiter.ts';
import { secretViewForReadFailure, secretViewFromObject } from '../kube/secret-view.ts';
import { LruCache } from '../lru.ts';
import type { SecretView } from '../model/snapshot.ts';

export interface SecretCacheOptions {
  readonly kubeConfig: KubeConfig;
  readonly fingerprintKey: FingerprintKey;
  readonly connections?: ApiServerConnections;
  /** How long a view answers without a new read (default 60 s): a rotation shows by then. */
  readonly ttlMs?: number;
  /** Secrets kept (default 10,000). */
  readonly maxEntries?: number;
  /** Concurrent reads (default 8). */
  readonly concurrency?: number;
  readonly requestTimeoutMs?: number;
  readonly now?: () => number;
  /**
   * Told the fingerprints a secret held at its last read and no longer holds (a rotated
   * credential): answers kept about them can go.
   */
  readonly onCredentialsDropped?: (fingerprints: readonly string[]) => void;
}

/** Fingerprints `before` held that `after` does not. Pure. */
export function droppedFingerprints(
  before: SecretView | undefined,
  after: SecretView,
): readonly string[] {
  if (before?.state !== 'ok') return [];
  const kept = new Set(after.state === 'ok' ? after.credentials.map((c) => c.fingerprint) : []);
  return [...new Set(before.credentials.map((c) => c.fingerprint))].filter((f) => !kept.has(f));
}

interface Entry {
  readonly view: SecretView;
  readonly at: number;
}

export class SecretCache {
  readonly #o: SecretCacheOptions;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #entries: LruCache<string, Entry>;
  readonly #inFlight = new Map<string, Promise<SecretView>>();
  readonly #limit: Limiter;
  readonly #stopping = new AbortController();
  #reads = 0;

  constructor(options: SecretCacheOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#entries = new LruCache(options.maxEntries ?? 10_000);
    this.#limit = createLimiter(options.concurrency ?? 8);
  }

  /** Reads from the API server so far. */
  reads(): number {
    return this.#reads;
  }

  size(): number {
    return this.#entries.size;
  }

  /** The view while its read is fresh, without waiting; undefined when it must be read. */
  viewNow(namespace: string, name: string): SecretView | undefined {
    const known = this.#entries.get(`${namespace}/${name}`);
    return known !== undefined && this.#now() - known.at < this.#ttlMs ? known.view : undefined;
  }

  view(namespace: string, name: string): Promise<SecretView> {
    const key = `${namespace}/${name}`;
    const known = this.#entries.get(key);
    if (known !== undefined && this.#now() - known.at < this.#ttlMs)
      return Promise.resolve(known.view);
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    const read = this.#limit(() => this.#read(namespace, name, known?.view))
      .then((view) => {
        this.#entries.set(key, { view, at: this.#now() });
        const dropped = droppedFingerprints(known?.view, view);
        if (dropped.length > 0) this.#o.onCredentialsDropped?.(dropped);
        return view;
      })
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, read);
    return read;
  }

  stop(): void {
    this.#stopping.abort();
  }

  async #read(namespace: string, name: string, last: SecretView | undefined): Promise<SecretView> {
    this.#reads += 1;
    const ref = { namespace, name };
    const answer = await getJson(
      this.#o.kubeConfig,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      {},
      {
        signal: this.#stopping.signal,
        timeoutMs: this.#o.requestTimeoutMs ?? 10_000,
        ...(this.#o.connections ? { connections: this.#o.connections } : {}),
      },
    );
    if (answer.ok) return secretViewFromObject(ref, answer.value, this.#o.fingerprintKey);
    const { status, cause } = failureOf(answer.error);
    const view = secretViewForReadFailure(ref, status, cause);
    // A failure that may pass does not replace what we knew.
    return view.state === 'unavailable' && last?.state === 'ok' ? last : view;
  }
}

/** A short cause that never quotes a server body (which might hold secret material). */
function failureOf(error: KubeRequestError): { status: number | undefined; cause: string } {
  return error.kind === 'http'
    ? { status: error.status, cause: `HTTP ${error.status}` }
    : { status: undefined, cause: error.message };
}

// The labels of a namespace, for the admission webhook's per-namespace mode: read by name
// (`get namespaces`), kept a short while so that a burst of pods in one namespace costs one
// read. A read that fails answers undefined, and the cluster's mode applies.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson } from '../kube/kube-http.ts';
import { ExpiringCache } from '../http/decision-cache.ts';

export type Labels = Readonly<Record<string, string>>;

export interface NamespaceLabelsOptions {
  readonly kubeConfig: KubeConfig;
  readonly connections?: ApiServerConnections;
  /** How long labels answer without a new read (default 30 s): a relabel shows by then. */
  readonly ttlMs?: number;
  readonly requestTimeoutMs?: number;
}

export class NamespaceLabels {
  readonly #o: NamespaceLabelsOptions;
  readonly #cache = new ExpiringCache<Labels>(10_000);
  readonly #inFlight = new Map<string, Promise<Labels | undefined>>();
  readonly #stopping = new AbortController();

  constructor(options: NamespaceLabelsOptions) {
    this.#o = options;
  }

  /** The labels while a read is fresh, without waiting (the webhook's cache-hit path). */
  labelsNow(namespace: string): Labels | undefined {
    return this.#cache.get(namespace);
  }

  labels(namespace: string): Promise<Labels | undefined> {
    const known = this.#cache.get(namespace);
    if (known !== undefined) return Promise.resolve(known);
    const pending = this.#inFlight.get(namespace);
    if (pending !== undefined) return pending;
    const read = this.#read(namespace).finally(() => this.#inFlight.delete(namespace));
    this.#inFlight.set(namespace, read);
    return read;
  }

  stop(): void {
    this.#stopping.abort();
  }

  async #read(namespace: string): Promise<Labels | undefined> {
    const answer = await getJson(
      this.#o.kubeConfig,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}`,
      {},
      {
        signal: this.#stopping.signal,
        timeoutMs: this.#o.requestTimeoutMs ?? 2_000,
        ...(this.#o.connections ? { connections: this.#o.connections } : {}),
      },
    );
    if (!answer.ok) return undefined;
    const raw = (answer.value as { metadata?: { labels?: unknown } }).metadata?.labels;
    const labels: Record<string, string> = {};
    if (typeof raw === 'object' && raw !== null)
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
    this.#cache.set(namespace, labels, this.#o.ttlMs ?? 30_000);
    return labels;
  }
}

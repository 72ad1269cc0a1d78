// Which pods are bound to which node, and which pull secrets they name: the controller's own
// view of the cluster (a list-watch of every pod), so that an agent is answered only about its
// own node's pods, as the Node authorizer answers a kubelet. When the watch has not seen a pod
// yet (an agent's watch may be ahead of ours), the pod is read by name before saying no.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson } from '../kube/kube-http.ts';
import {
  startListWatch,
  type ListWatch,
  type ListWatchChange,
  type ListWatchStatus,
} from '../kube/list-watch.ts';

export interface PodBinding {
  readonly namespace: string;
  readonly name: string;
  /** spec.nodeName; '' while unscheduled. */
  readonly node: string;
  /** spec.imagePullSecrets[].name (the service account's are copied in at admission). */
  readonly pullSecrets: readonly string[];
}

/** Reduces a Pod to its binding; nothing else of it is kept. Never throws. */
export function podBindingOf(object: unknown): PodBinding {
  const o = (typeof object === 'object' && object !== null ? object : {}) as {
    metadata?: { namespace?: unknown; name?: unknown };
    spec?: { nodeName?: unknown; imagePullSecrets?: unknown };
  };
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  const secrets = Array.isArray(o.spec?.imagePullSecrets) ? o.spec.imagePullSecrets : [];
  return {
    namespace: text(o.metadata?.namespace),
    name: text(o.metadata?.name),
    node: text(o.spec?.nodeName),
    pullSecrets: secrets
      .map((s: unknown) => text((s as { name?: unknown } | null)?.name))
      .filter((n) => n !== ''),
  };
}

export type BindingAnswer = 'bound' | 'not-bound';

export interface PodIndexOptions {
  readonly kubeConfig: KubeConfig;
  readonly connections?: ApiServerConnections;
  readonly logger?: Logger;
  readonly requestTimeoutMs?: number;
}

export class PodIndex {
  readonly #o: PodIndexOptions;
  readonly #watch: ListWatch<PodBinding>;
  readonly #stopping = new AbortController();
  readonly #byUid = new Map<string, PodBinding>();
  /** namespace/name -> binding. */
  readonly #byName = new Map<string, PodBinding>();
  /** node -> namespace/secret -> how many of the node's pods name it. */
  readonly #secretsOnNode = new Map<string, Map<string, number>>();

  constructor(options: PodIndexOptions) {
    this.#o = options;
    this.#watch = startListWatch<PodBinding>({
      kubeConfig: options.kubeConfig,
      ...(options.connections ? { connections: options.connections } : {}),
      path: '/api/v1/pods',
      decode: podBindingOf,
      onChange: (change) => {
        this.#apply(change);
      },
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  status(): ListWatchStatus {
    return this.#watch.status();
  }

  /** Pods known, cluster-wide. */
  size(): number {
    return this.#byUid.size;
  }

  /**
   * Whether pod namespace/name is bound to `node` and names pull secret `secret` (when given).
   * A pod the watch does not know is read by name: a new pod may reach an agent first.
   */
  async check(
    node: string,
    namespace: string,
    pod: string,
    secret?: string,
  ): Promise<BindingAnswer> {
    const binding = this.#byName.get(`${namespace}/${pod}`) ?? (await this.#read(namespace, pod));
    if (binding === undefined || binding.node === '' || binding.node !== node) return 'not-bound';
    if (secret !== undefined && !binding.pullSecrets.includes(secret)) return 'not-bound';
    return 'bound';
  }

  /** Whether any pod bound to `node` names pull secret namespace/secret (as the watch sees). */
  namedOnNode(node: string, namespace: string, secret: string): boolean {
    return (this.#secretsOnNode.get(node)?.get(`${namespace}/${secret}`) ?? 0) > 0;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#watch.stop();
  }

  #apply(change: ListWatchChange<PodBinding>): void {
    if (change.type === 'resync') {
      // A relist: what it holds replaces what we had.
      this.#byUid.clear();
      this.#byName.clear();
      this.#secretsOnNode.clear();
      for (const [uid, binding] of this.#watch.items()) this.#add(uid, binding);
      return;
    }
    this.#remove(change.uid);
    if (change.type !== 'deleted') this.#add(change.uid, change.object);
  }

  #add(uid: string, binding: PodBinding): void {
    this.#byUid.set(uid, binding);
    this.#byName.set(`${binding.namespace}/${binding.name}`, binding);
    if (binding.node === '') return;
    let counts = this.#secretsOnNode.get(binding.node);
    if (counts === undefined) {
      counts = new Map();
      this.#secretsOnNode.set(binding.node, counts);
    }
    for (const secret of new Set(binding.pullSecrets)) {
      const key = `${binding.namespace}/${secret}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }

  #remove(uid: string): void {
    const binding = this.#byUid.get(uid);
    if (binding === undefined) return;
    this.#byUid.delete(uid);
    const key = `${binding.namespace}/${binding.name}`;
    if (this.#byName.get(key) === binding) this.#byName.delete(key);
    const counts = this.#secretsOnNode.get(binding.node);
    if (counts === undefined) return;
    for (const secret of new Set(binding.pullSecrets)) {
      const k = `${binding.namespace}/${secret}`;
      const n = (counts.get(k) ?? 0) - 1;
      if (n > 0) counts.set(k, n);
      else counts.delete(k);
    }
    if (counts.size === 0) this.#secretsOnNode.delete(binding.node);
  }

  async #read(namespace: string, pod: string): Promise<PodBinding | undefined> {
    const answer = await getJson(
      this.#o.kubeConfig,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`,
      {},
      {
        signal: this.#stopping.signal,
        timeoutMs: this.#o.requestTimeoutMs ?? 10_000,
        ...(this.#o.connections ? { connections: this.#o.connections } : {}),
      },
    );
    return answer.ok ? podBindingOf(answer.value) : undefined;
  }
}

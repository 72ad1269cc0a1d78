// Everything pullwatch learns from the API server about one node: its pods (a watch narrowed
// to spec.nodeName), the namespaces' labels (for tenancy), the pull secrets those pods name
// (read by name, kept only as SecretViews) and what the kubelet said about each container's
// image (targeted event queries). Sources only gather; detection happens elsewhere. Every
// request goes over one pool of keep-alive connections to the API server.
import { isDeepStrictEqual } from 'node:util';
import type { ClusterAccess } from './cluster-access.ts';
import type { Logger } from 'pino';
import {
  secretKey,
  type KubeletImageEvent,
  type PodView,
  type SecretView,
} from '../model/snapshot.ts';
import type { FingerprintKey } from '../credentials/pull-secret.ts';
import { err, ok, type Result } from '../result.ts';
import { ApiServerConnections } from './connections.ts';
import { getJson, type KubeRequestError } from './kube-http.ts';
import { createLimiter } from './limiter.ts';
import { startListWatch, type ListWatchStatus, type ListWatchTuning } from './list-watch.ts';
import { KubeletEventTracker } from './pod-events.ts';
import { podViewFromObject } from './pod-view.ts';
import {
  PullSecretCache,
  secretRefsOf,
  type SecretFetch,
  type SecretFetcher,
  type SecretReadReason,
} from './pull-secrets.ts';
import { secretViewForReadFailure, secretViewFromObject, type SecretRef } from './secret-view.ts';

export interface KubeSourceTuning {
  /** Pods and namespaces list-watch knobs (watch timeout, backoff...). */
  readonly listWatch?: ListWatchTuning;
  /** A pull secret still in use is read again at most this long after the last read (default 30 min). */
  readonly secretTtlMs?: number;
  /** kube-apiserver --event-ttl: containers started before it have no events left to read. */
  readonly eventTtlMs?: number;
  /** A new pod re-reads a secret read less than this long ago only if older (default 10 s). */
  readonly secretMinRefetchMs?: number;
  /** At most this many pull secrets are kept (default 1000). */
  readonly maxSecrets?: number;
  /** Concurrent secret reads and event queries, each (default 4). */
  readonly concurrency?: number;
  /** Bound on one secret read or event query (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Event queries repeated for started containers still without an answer (default 5 s, 30 s). */
  readonly eventRetryDelaysMs?: readonly number[];
}

export interface KubeSourceOptions extends KubeSourceTuning {
  readonly kubeConfig: ClusterAccess;
  /** This node's name (--node-name / NODE_NAME): only its pods and its kubelet's events count. */
  readonly nodeName: string;
  /** Used by the direct read only (the controller fingerprints brokered secrets). */
  readonly fingerprintKey: FingerprintKey;
  /**
   * How a pull secret is learnt: through the controller (the default deployment). Without it
   * the agent reads the Secret itself (--secrets-from direct).
   */
  readonly fetchSecret?: SecretFetcher;
  /** Something changed (coalesced: at most once per turn of the event loop). */
  readonly onChange?: () => void;
  readonly logger?: Logger;
  /**
   * The agent's one pool of connections to the API server, shared with its Event and report
   * writers; its owner closes it. Without it the source has a pool of its own.
   */
  readonly connections?: ApiServerConnections;
}

export interface KubeSourceStatus {
  readonly pods: ListWatchStatus;
  readonly namespaces: ListWatchStatus;
}

export interface KubeSource {
  /** The node's pods that could be read. */
  pods(): PodView[];
  /** Pods that could not be read as a PodView, by uid: why. */
  podProblems(): Map<string, string>;
  /** Namespace name -> labels. */
  namespaces(): Map<string, Record<string, string>>;
  /** Key: secretKey(namespace, name); only secrets the node's pods reference. */
  secrets(): ReadonlyMap<string, SecretView>;
  /** Key: kubeletEventKey(podUid, containerName). */
  kubeletEvents(): Map<string, KubeletImageEvent>;
  status(): KubeSourceStatus;
  stop(): Promise<void>;
}

interface NamespaceEntry {
  readonly name: string;
  readonly labels: Record<string, string>;
}

function namespaceOf(object: unknown): NamespaceEntry {
  const metadata = (object as { metadata?: { name?: unknown; labels?: unknown } }).metadata ?? {};
  const labels: Record<string, string> = {};
  if (typeof metadata.labels === 'object' && metadata.labels !== null) {
    for (const [key, value] of Object.entries(metadata.labels)) {
      if (typeof value === 'string') labels[key] = value;
    }
  }
  return { name: typeof metadata.name === 'string' ? metadata.name : '', labels };
}

/** A short cause that never quotes a server body (which might hold secret material). */
function failureOf(error: KubeRequestError): { status: number | undefined; cause: string } {
  return error.kind === 'http'
    ? { status: error.status, cause: `HTTP ${error.status}` }
    : // Our own words (e.g. "connect ECONNREFUSED 10.0.0.1:443"); only 'http' carries server text.
      { status: undefined, cause: error.message };
}

const segment = encodeURIComponent;

export function startKubeSource(options: KubeSourceOptions): KubeSource {
  const { kubeConfig, nodeName, fingerprintKey, logger } = options;
  // `spec.nodeName=` with no name selects the cluster's unscheduled pods: a wiring bug.
  if (nodeName === '') throw new RangeError('startKubeSource needs the node name');
  const log = logger?.child({ component: 'kube-source', node: nodeName });
  const connections = options.connections ?? new ApiServerConnections();
  const stopping = new AbortController();
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const concurrency = options.concurrency ?? 4;

  let notifyScheduled = false;
  // The node's pod list is looked over (secrets to read, events to ask about) once per turn of
  // the event loop, not once per watch event: one chunk of a busy watch carries many events.
  let podsDirty = false;
  const notify = (): void => {
    if (notifyScheduled || stopping.signal.aborted) return;
    notifyScheduled = true;
    setImmediate(() => {
      notifyScheduled = false;
      if (stopping.signal.aborted) return;
      try {
        if (podsDirty) {
          podsDirty = false;
          podsChanged();
        }
        options.onChange?.();
      } catch (e) {
        log?.error({ err: e }, 'the kube source change handler threw');
      }
    });
  };

  const request = { signal: stopping.signal, timeoutMs, connections };

  const readSecretDirectly = async (
    ref: SecretRef,
    reason: SecretReadReason,
  ): Promise<SecretFetch> => {
    const secret = await getJson(
      kubeConfig,
      `/api/v1/namespaces/${segment(ref.namespace)}/secrets/${segment(ref.name)}`,
      // resourceVersion=0: the API server may answer from its watch cache instead of a quorum
      // read from etcd; fine for a periodic refresh, not for a secret a new pod just named.
      reason === 'refresh' ? { resourceVersion: '0' } : {},
      request,
    );
    if (!secret.ok) {
      const { status, cause } = failureOf(secret.error);
      const view = secretViewForReadFailure(ref, status, cause);
      return { view, transient: view.state === 'unavailable' };
    }
    // Parsed here and dropped: only the view leaves this function.
    return { view: secretViewFromObject(ref, secret.value, fingerprintKey), transient: false };
  };

  const readPulledEvents = async (pod: PodView): Promise<Result<readonly unknown[], string>> => {
    const events = await getJson(
      kubeConfig,
      `/api/v1/namespaces/${segment(pod.namespace)}/events`,
      // There is no selector on the node: source.host is checked on our side.
      { fieldSelector: `involvedObject.uid=${pod.uid},reason=Pulled` },
      request,
    );
    if (!events.ok) return err(failureOf(events.error).cause);
    const items = (events.value as { items?: unknown }).items;
    return Array.isArray(items) ? ok(items as unknown[]) : err('the event list has no items');
  };

  const secrets = new PullSecretCache({
    // Through the controller by default; reading Secrets here is the opt-in direct mode.
    fetch: options.fetchSecret ?? readSecretDirectly,
    limit: createLimiter(concurrency),
    ...(options.secretTtlMs !== undefined ? { ttlMs: options.secretTtlMs } : {}),
    ...(options.secretMinRefetchMs !== undefined
      ? { minRefetchMs: options.secretMinRefetchMs }
      : {}),
    ...(options.maxSecrets !== undefined ? { maxEntries: options.maxSecrets } : {}),
    onChange: notify,
    ...(log ? { logger: log } : {}),
  });
  const events = new KubeletEventTracker({
    nodeName,
    fetch: readPulledEvents,
    limit: createLimiter(concurrency),
    ...(options.eventRetryDelaysMs ? { retryDelaysMs: options.eventRetryDelaysMs } : {}),
    ...(options.eventTtlMs !== undefined ? { eventTtlMs: options.eventTtlMs } : {}),
    onChange: notify,
    ...(log ? { logger: log } : {}),
  });

  const knownPods = new Set<string>();
  const reportedProblems = new Map<string, string>();

  const podWatch = startListWatch<Result<PodView, string>>({
    ...options.listWatch,
    kubeConfig,
    connections,
    path: '/api/v1/pods',
    fieldSelector: `spec.nodeName=${nodeName}`,
    decode: podViewFromObject,
    // A new version whose view is the same (a status heartbeat, a label) changes nothing here.
    same: isDeepStrictEqual,
    onChange: () => {
      podsDirty = true;
      notify();
    },
    ...(log ? { logger: log } : {}),
  });
  const namespaceWatch = startListWatch<NamespaceEntry>({
    ...options.listWatch,
    kubeConfig,
    connections,
    path: '/api/v1/namespaces',
    decode: namespaceOf,
    same: isDeepStrictEqual,
    onChange: notify,
    ...(log ? { logger: log } : {}),
  });

  function podsChanged(): void {
    const views: PodView[] = [];
    const present = new Set<string>();
    const appeared = new Set<string>();
    for (const [uid, view] of podWatch.items()) {
      present.add(uid);
      if (!view.ok) {
        if (reportedProblems.get(uid) !== view.error) {
          reportedProblems.set(uid, view.error);
          log?.warn({ uid, problem: view.error }, 'a pod on this node cannot be read');
        }
        continue;
      }
      reportedProblems.delete(uid);
      views.push(view.value);
      if (!knownPods.has(uid)) {
        knownPods.add(uid);
        for (const name of view.value.pullSecretNames)
          appeared.add(secretKey(view.value.namespace, name));
      }
    }
    for (const uid of knownPods) if (!present.has(uid)) knownPods.delete(uid);
    for (const uid of reportedProblems.keys()) if (!present.has(uid)) reportedProblems.delete(uid);
    secrets.update(secretRefsOf(views), appeared);
    events.update(views);
  }

  return {
    pods: () => [...podWatch.items().values()].flatMap((view) => (view.ok ? [view.value] : [])),
    podProblems: () => {
      const problems = new Map<string, string>();
      for (const [uid, view] of podWatch.items()) if (!view.ok) problems.set(uid, view.error);
      return problems;
    },
    namespaces: () =>
      new Map([...namespaceWatch.items().values()].map((ns) => [ns.name, { ...ns.labels }])),
    secrets: () => secrets.views(),
    kubeletEvents: () => events.answers(),
    status: () => ({ pods: podWatch.status(), namespaces: namespaceWatch.status() }),
    stop: async () => {
      stopping.abort();
      await Promise.all([podWatch.stop(), namespaceWatch.stop(), secrets.stop(), events.stop()]);
      if (options.connections === undefined) connections.close();
    },
  };
}

// Everything pullwatch learns from the API server about one node: its pods (a watch narrowed
// to spec.nodeName), the namespaces' labels (for tenancy), the pull secrets those pods name
// (read by name, kept only as SecretViews) and what the kubelet said about each container's
// image (targeted event queries). Sources only gather; detection happens elsewhere.
import {
  ApiException,
  CoreV1Api,
  Observable,
  type KubeConfig,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  secretKey,
  type KubeletImageEvent,
  type PodView,
  type SecretView,
} from '../detect/snapshot.ts';
import type { FingerprintKey } from '../registry/pull-secret.ts';
import { err, ok, type Result } from '../result.ts';
import { createLimiter } from './limiter.ts';
import { startListWatch, type ListWatchStatus, type ListWatchTuning } from './list-watch.ts';
import { KubeletEventTracker } from './pod-events.ts';
import { podViewFromObject } from './pod-view.ts';
import { PullSecretCache, secretRefsOf, type SecretFetch } from './pull-secrets.ts';
import { secretViewForReadFailure, secretViewFromObject, type SecretRef } from './secret-view.ts';

export interface KubeSourceTuning {
  /** Pods and namespaces list-watch knobs (watch timeout, backoff...). */
  readonly listWatch?: ListWatchTuning;
  /** Pull secret views are read again after this long (default 5 min). */
  readonly secretTtlMs?: number;
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
  readonly kubeConfig: KubeConfig;
  /** This node's name (--node-name / NODE_NAME): only its pods and its kubelet's events count. */
  readonly nodeName: string;
  readonly fingerprintKey: FingerprintKey;
  /** Something changed (coalesced: at most once per turn of the event loop). */
  readonly onChange?: () => void;
  readonly logger?: Logger;
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
  secrets(): Map<string, SecretView>;
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
function failureOf(e: unknown): { status: number | undefined; cause: string } {
  if (e instanceof ApiException) return { status: e.code, cause: `HTTP ${e.code}` };
  if (e instanceof Error) {
    const cause = e.cause as { code?: unknown } | undefined;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    return { status: undefined, cause: code ?? e.name };
  }
  return { status: undefined, cause: 'unknown error' };
}

/** Per-request options for client-node calls: a deadline, and cancellation on stop. */
function requestOptions(stop: AbortSignal, timeoutMs: number) {
  const bound: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [bound], middlewareMergeStrategy: 'append' as const };
}

export function startKubeSource(options: KubeSourceOptions): KubeSource {
  const { kubeConfig, nodeName, fingerprintKey, logger } = options;
  // `spec.nodeName=` with no name selects the cluster's unscheduled pods: a wiring bug.
  if (nodeName === '') throw new RangeError('startKubeSource needs the node name');
  const log = logger?.child({ component: 'kube-source', node: nodeName });
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const stopping = new AbortController();
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const concurrency = options.concurrency ?? 4;

  let notifyScheduled = false;
  const notify = (): void => {
    if (notifyScheduled || stopping.signal.aborted) return;
    notifyScheduled = true;
    setImmediate(() => {
      notifyScheduled = false;
      if (stopping.signal.aborted) return;
      try {
        options.onChange?.();
      } catch (e) {
        log?.error({ err: e }, 'the kube source change handler threw');
      }
    });
  };

  const readSecret = async (ref: SecretRef): Promise<SecretFetch> => {
    try {
      const secret = await core.readNamespacedSecret(
        { namespace: ref.namespace, name: ref.name },
        requestOptions(stopping.signal, timeoutMs),
      );
      // Parsed here and dropped: only the view leaves this function.
      return { view: secretViewFromObject(ref, secret, fingerprintKey), transient: false };
    } catch (e) {
      const { status, cause } = failureOf(e);
      const authoritative = status === 404 || status === 403;
      return { view: secretViewForReadFailure(ref, status, cause), transient: !authoritative };
    }
  };

  const readPulledEvents = async (pod: PodView): Promise<Result<readonly unknown[], string>> => {
    try {
      const events = await core.listNamespacedEvent(
        {
          namespace: pod.namespace,
          // There is no selector on the node: source.host is checked on our side.
          fieldSelector: `involvedObject.uid=${pod.uid},reason=Pulled`,
        },
        requestOptions(stopping.signal, timeoutMs),
      );
      return ok(events.items);
    } catch (e) {
      return err(failureOf(e).cause);
    }
  };

  const secrets = new PullSecretCache({
    fetch: readSecret,
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
    onChange: notify,
    ...(log ? { logger: log } : {}),
  });

  const knownPods = new Set<string>();
  const reportedProblems = new Map<string, string>();

  const podWatch = startListWatch<Result<PodView, string>>({
    ...options.listWatch,
    kubeConfig,
    path: '/api/v1/pods',
    fieldSelector: `spec.nodeName=${nodeName}`,
    decode: podViewFromObject,
    onChange: () => {
      podsChanged();
    },
    ...(log ? { logger: log } : {}),
  });
  const namespaceWatch = startListWatch<NamespaceEntry>({
    ...options.listWatch,
    kubeConfig,
    path: '/api/v1/namespaces',
    decode: namespaceOf,
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
    notify();
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
    },
  };
}

// A supervised list+watch of one collection, kept in memory by uid. Our own rather than
// client-node's informer: that one stops for good on any error other than 410 and asks for no
// bookmarks. The loop follows client-go's reflector
// (staging/src/k8s.io/client-go/tools/cache/reflector.go): list, watch from the list's
// resourceVersion with bookmarks, re-watch from the last resourceVersion when a stream ends,
// relist only when the server says that resourceVersion is gone (410), and back off on errors,
// for as long as the process runs.
import type { ClusterAccess } from './cluster-access.ts';
import type { Logger } from 'pino';
import { Backoff, sleepUnlessAborted, type BackoffOptions } from '../backoff.ts';
import type { ApiServerConnections } from './connections.ts';
import {
  describeKubeError,
  getJson,
  streamWatch,
  type KubeRequestError,
  type Query,
  type WatchEvent,
} from './kube-http.ts';

export interface ListWatchStatus {
  /** The first list has been applied. */
  readonly synced: boolean;
  /** The last request succeeded (a list answered, or a watch is streaming). */
  readonly up: boolean;
  /** When the cache was last known current (ms since epoch): a list, or any watch event. */
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
  /** Lists after the first one (410 Gone). */
  readonly relists: number;
  /** Watches started again from the last resourceVersion (stream end, drop or error). */
  readonly watchRestarts: number;
}

export type ListWatchChange<T> =
  | {
      readonly type: 'added' | 'modified' | 'deleted';
      readonly uid: string;
      readonly object: T;
    }
  | {
      /** A list replaced the whole cache: what it added, changed and removed. */
      readonly type: 'resync';
      readonly added: readonly T[];
      readonly modified: readonly T[];
      readonly deleted: readonly T[];
    };

export interface ListWatchTuning {
  /** timeoutSeconds of a watch (default 300)... */
  readonly watchTimeoutSeconds?: number;
  /** ...plus up to this many seconds at random (default 60), so that agents spread out. */
  readonly watchTimeoutJitterSeconds?: number;
  /** A watch that sends nothing (not even a bookmark) this long is dead (default 150 s). */
  readonly idleTimeoutMs?: number;
  /** Bound on a list request (default 60 s). */
  readonly listTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface ListWatchOptions<T> extends ListWatchTuning {
  readonly kubeConfig: ClusterAccess;
  /** Keep-alive sockets shared with the caller's other requests (default: one per request). */
  readonly connections?: ApiServerConnections;
  /** The collection, e.g. `/api/v1/pods` or `/api/v1/namespaces`. */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** Reduces a raw object to what is kept (the raw object is not retained). Must not throw. */
  readonly decode: (object: unknown) => T;
  /**
   * Tells a new version of an object that decodes to what is kept already: it keeps the kept
   * value (consumers compare by identity) and emits no change. A pod's status heartbeat is a
   * new version that most decodings cannot see.
   */
  readonly same?: (kept: T, decoded: T) => boolean;
  readonly onChange?: (change: ListWatchChange<T>) => void;
  readonly logger?: Logger;
}

export interface ListWatch<T> {
  /** The objects, keyed by metadata.uid. */
  items(): ReadonlyMap<string, T>;
  status(): ListWatchStatus;
  /** Ends the loop and any open request; resolves when it has. */
  stop(): Promise<void>;
}

interface Entry<T> {
  readonly resourceVersion: string;
  readonly value: T;
}

interface ObjectMeta {
  readonly uid: string;
  readonly resourceVersion: string;
}

function metaOf(object: unknown): ObjectMeta | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const fields = metadata as Record<string, unknown>;
  const text = (field: string): string => (typeof fields[field] === 'string' ? fields[field] : '');
  // Every stored object has a uid; a name stands in only for malformed fixtures.
  const uid = text('uid') || `${text('namespace')}/${text('name')}`;
  return { uid, resourceVersion: text('resourceVersion') };
}

type WatchOutcome =
  | { readonly kind: 'ended'; readonly healthy: boolean }
  | { readonly kind: 'expired'; readonly healthy: boolean; readonly message: string }
  | { readonly kind: 'failed'; readonly healthy: boolean; readonly error: string }
  | { readonly kind: 'stopped' };

// A watch that delivered events or stayed open this long proves the connection works: the
// next attempt starts from the shortest backoff again.
const HEALTHY_WATCH_MS = 5_000;

export function startListWatch<T>(options: ListWatchOptions<T>): ListWatch<T> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const backoff = new Backoff({ random, ...options.backoff });
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const jitterSeconds = options.watchTimeoutJitterSeconds ?? 60;
  const idleTimeoutMs = options.idleTimeoutMs ?? 150_000;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  const log = options.logger?.child({ component: 'list-watch', path: options.path });
  const selectors: Query = {
    fieldSelector: options.fieldSelector,
    labelSelector: options.labelSelector,
  };

  const entries = new Map<string, Entry<T>>();
  /** The decoding of `object`, or the kept value when it decodes to the same. */
  const decodeAgainst = (previous: Entry<T> | undefined, object: unknown): T => {
    const value = options.decode(object);
    return previous !== undefined && options.same?.(previous.value, value) === true
      ? previous.value
      : value;
  };
  const stopping = new AbortController();
  let resourceVersion = '';
  let synced = false;
  let up = false;
  let lastSync: number | undefined;
  let lastError: string | undefined;
  let lists = 0;
  let watchRestarts = 0;

  const emit = (change: ListWatchChange<T>): void => {
    try {
      options.onChange?.(change);
    } catch (e) {
      log?.error({ err: e }, 'a list-watch change handler threw');
    }
  };

  const recordError = (message: string): void => {
    lastError = message;
    if (up) log?.warn({ error: message }, 'the API server connection failed');
    else log?.debug({ error: message }, 'the API server is still unreachable');
    up = false;
  };

  // afterExpiry: the server forgot our resourceVersion, so ask for the latest state (a
  // consistent read) instead of resourceVersion=0, which the watch cache answers and which may
  // be older than what we saw.
  const list = async (afterExpiry: boolean): Promise<KubeRequestError | undefined> => {
    const answer = await getJson(
      options.kubeConfig,
      options.path,
      { ...selectors, ...(afterExpiry ? {} : { resourceVersion: '0' }) },
      { signal: stopping.signal, timeoutMs: listTimeoutMs, connections: options.connections },
    );
    if (!answer.ok) return answer.error;
    const body = answer.value as { metadata?: { resourceVersion?: unknown }; items?: unknown };
    const listVersion = body.metadata?.resourceVersion;
    if (!Array.isArray(body.items) || typeof listVersion !== 'string' || listVersion === '') {
      return {
        kind: 'protocol',
        message: `the list of ${options.path} has no items or resourceVersion`,
      };
    }
    const fresh = new Map<string, Entry<T>>();
    for (const item of body.items as unknown[]) {
      const meta = metaOf(item);
      if (meta === undefined) continue;
      const previous = entries.get(meta.uid);
      // An unchanged object keeps its decoded value: consumers can compare by identity.
      const value =
        previous !== undefined && previous.resourceVersion === meta.resourceVersion
          ? previous.value
          : decodeAgainst(previous, item);
      fresh.set(meta.uid, { resourceVersion: meta.resourceVersion, value });
    }
    const added: T[] = [];
    const modified: T[] = [];
    const deleted: T[] = [];
    for (const [uid, entry] of fresh) {
      const previous = entries.get(uid);
      if (previous === undefined) added.push(entry.value);
      else if (previous.value !== entry.value) modified.push(entry.value);
    }
    for (const [uid, entry] of entries) if (!fresh.has(uid)) deleted.push(entry.value);
    entries.clear();
    for (const [uid, entry] of fresh) entries.set(uid, entry);
    resourceVersion = listVersion;
    if (synced) lists++;
    synced = true;
    up = true;
    lastSync = now();
    log?.debug(
      { items: entries.size, resourceVersion, added: added.length, deleted: deleted.length },
      'listed',
    );
    emit({ type: 'resync', added, modified, deleted });
    return undefined;
  };

  const applyEvent = (event: WatchEvent): 'expired' | 'failed' | undefined => {
    const meta = metaOf(event.object);
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        if (meta === undefined) return 'failed';
        const previous = entries.get(meta.uid);
        const value = decodeAgainst(previous, event.object);
        entries.set(meta.uid, { resourceVersion: meta.resourceVersion, value });
        if (previous === undefined) emit({ type: 'added', uid: meta.uid, object: value });
        else if (previous.value !== value) emit({ type: 'modified', uid: meta.uid, object: value });
        break;
      }
      case 'DELETED': {
        if (meta === undefined) return 'failed';
        const previous = entries.get(meta.uid);
        entries.delete(meta.uid);
        if (previous !== undefined) {
          emit({ type: 'deleted', uid: meta.uid, object: previous.value });
        }
        break;
      }
      case 'BOOKMARK':
        if (meta === undefined) return 'failed';
        break;
      case 'ERROR': {
        const status = event.object as { code?: unknown };
        return status.code === 410 ? 'expired' : 'failed';
      }
      default:
        return 'failed';
    }
    if (meta.resourceVersion !== '') resourceVersion = meta.resourceVersion;
    lastSync = now();
    return undefined;
  };

  const watch = async (): Promise<WatchOutcome> => {
    const timeoutSeconds = watchTimeoutSeconds + Math.floor(random() * (jitterSeconds + 1));
    const startedAt = now();
    let events = 0;
    let problem: { kind: 'expired' | 'failed'; message: string } | undefined;
    const result = await streamWatch(
      options.kubeConfig,
      options.path,
      { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      {
        signal: stopping.signal,
        connections: options.connections,
        idleTimeoutMs,
        // The server ends the watch at timeoutSeconds; this only catches a server that does not.
        deadlineMs: (timeoutSeconds + 30) * 1000,
        onOpen: () => {
          up = true;
        },
        onEvent: (event) => {
          const verdict = applyEvent(event);
          if (verdict === undefined) {
            events++;
            return undefined;
          }
          const status = event.object as { message?: unknown };
          problem = {
            kind: verdict,
            message:
              event.type === 'ERROR'
                ? `watch ERROR event: ${typeof status.message === 'string' ? status.message : JSON.stringify(event.object)}`
                : `unexpected watch event ${JSON.stringify(event.type)}`,
          };
          return 'stop';
        },
      },
    );
    if (stopping.signal.aborted) return { kind: 'stopped' };
    const healthy = events > 0 || now() - startedAt >= HEALTHY_WATCH_MS;
    if (problem !== undefined) {
      return problem.kind === 'expired'
        ? { kind: 'expired', healthy, message: problem.message }
        : { kind: 'failed', healthy, error: problem.message };
    }
    if (result.ok) return { kind: 'ended', healthy };
    const error = result.error;
    if (error.kind === 'http' && error.status === 410) {
      return { kind: 'expired', healthy, message: describeKubeError(error) };
    }
    return { kind: 'failed', healthy, error: describeKubeError(error) };
  };

  const run = async (): Promise<void> => {
    let needList = true;
    let afterExpiry = false;
    while (!stopping.signal.aborted) {
      if (needList) {
        const failure = await list(afterExpiry);
        if (stopping.signal.aborted) break;
        if (failure !== undefined) {
          recordError(`list: ${describeKubeError(failure)}`);
          await sleepUnlessAborted(backoff.next(), stopping.signal);
          continue;
        }
        // A relist forced by a watch that expired at once must not reset the backoff, or a
        // server that keeps expiring fresh resourceVersions is hit in a tight loop.
        if (!afterExpiry) backoff.reset();
        needList = false;
        afterExpiry = false;
      }
      const outcome = await watch();
      if (outcome.kind === 'stopped') break;
      if (outcome.healthy) backoff.reset();
      if (outcome.kind === 'expired') {
        log?.info({ reason: outcome.message }, 'watch resourceVersion expired: relisting');
        needList = true;
        afterExpiry = true;
        // A relist right after a healthy watch is the normal path; a server that keeps
        // expiring fresh resourceVersions is waited out.
        if (!outcome.healthy) await sleepUnlessAborted(backoff.next(), stopping.signal);
        continue;
      }
      watchRestarts++;
      if (outcome.kind === 'failed') recordError(`watch: ${outcome.error}`);
      // After a healthy stream the backoff is at its shortest: a quick re-watch.
      await sleepUnlessAborted(
        outcome.kind === 'ended' && outcome.healthy ? 0 : backoff.next(),
        stopping.signal,
      );
    }
  };

  const loop = run().catch((e: unknown) => {
    // Only a bug gets here (every I/O failure is a value): make it loud.
    log?.fatal({ err: e }, 'the list-watch loop crashed');
    lastError = `crashed: ${e instanceof Error ? e.message : String(e)}`;
    up = false;
  });

  return {
    items: () => new Map([...entries].map(([uid, entry]) => [uid, entry.value])),
    status: () => ({
      synced,
      up,
      lastSync,
      lastError,
      relists: lists,
      watchRestarts,
    }),
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}

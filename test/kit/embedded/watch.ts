// One watch stream: newline-delimited JSON events over a chunked HTTP response, with
// the watch cache's semantics (staging/src/k8s.io/apiserver/pkg/storage/cacher):
// replay from a resourceVersion or send the current state as ADDED, translate
// changes through the selectors (an object leaving the selection is DELETED, one
// entering it ADDED), optional bookmarks, and 410 in an ERROR event when the
// requested resourceVersion is older than the kept history.

import type { ServerResponse } from 'node:http';
import type { KubeObject } from './objects.ts';
import type { ResourceType } from './resources.ts';
import { apiVersionOf, presentAs, storageKeyOf } from './resources.ts';
import type { ObjectFilter } from './selectors.ts';
import { matchesFilter } from './selectors.ts';
import type { ApiError, StatusObject } from './status.ts';
import { statusOf } from './status.ts';
import type { Change, VersionedStore } from './store.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject | StatusObject;
}

export interface WatchRequest {
  readonly rt: ResourceType;
  readonly filter: ObjectFilter;
  /** undefined or 0: start with the current state as ADDED events. */
  readonly resourceVersion: number | undefined;
  /**
   * Watch-list (KEP-3157, `sendInitialEvents=true`): the current state as ADDED,
   * then a BOOKMARK annotated `k8s.io/initial-events-end`, then changes.
   */
  readonly sendInitialEvents: boolean;
  readonly allowBookmarks: boolean;
  readonly bookmarkIntervalMs: number;
  readonly timeoutMs: number;
}

export interface OpenWatch {
  readonly rt: ResourceType;
  /** Ends the stream: cleanly (chunked terminator) or by resetting the connection. */
  drop(graceful: boolean): void;
}

function withResourceVersion(obj: KubeObject, resourceVersion: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(resourceVersion) } };
}

/** How one stored change looks to a watcher with this filter (cacheWatcher.convertToWatchEvent). */
export function eventForWatcher(
  rt: ResourceType,
  filter: ObjectFilter,
  change: Change,
): WatchEvent | undefined {
  const nowMatches = change.type !== 'DELETED' && matchesFilter(rt, filter, change.object);
  const matchedBefore = change.previous !== undefined && matchesFilter(rt, filter, change.previous);
  if (nowMatches && matchedBefore) {
    return { type: 'MODIFIED', object: presentAs(rt, change.object) };
  }
  if (nowMatches) return { type: 'ADDED', object: presentAs(rt, change.object) };
  if (matchedBefore && change.previous) {
    // The last state the watcher was entitled to see, at the version that removed it.
    return {
      type: 'DELETED',
      object: presentAs(rt, withResourceVersion(change.previous, change.resourceVersion)),
    };
  }
  return undefined;
}

export function startWatch(
  res: ServerResponse,
  store: VersionedStore,
  request: WatchRequest,
  openWatches: Set<OpenWatch>,
): void {
  const { rt, filter } = request;
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
  });
  res.flushHeaders();
  const send = (event: WatchEvent): void => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
  };
  const sendError = (error: ApiError): void => {
    send({ type: 'ERROR', object: statusOf(error) });
    res.end();
  };

  const start = request.resourceVersion ?? 0;
  const bookmark = (annotations?: Record<string, string>): WatchEvent => ({
    type: 'BOOKMARK',
    object: {
      kind: rt.kind,
      apiVersion: apiVersionOf(rt),
      metadata: {
        resourceVersion: String(Math.max(start, store.resourceVersion)),
        ...(annotations ? { annotations } : {}),
      },
    },
  });
  let backlog: WatchEvent[];
  if (start === 0 || request.sendInitialEvents) {
    backlog = store
      .objects(rt)
      .filter((obj) => matchesFilter(rt, filter, obj))
      .map((object) => ({ type: 'ADDED', object: presentAs(rt, object) }));
    if (request.sendInitialEvents) {
      backlog.push(bookmark({ 'k8s.io/initial-events-end': 'true' }));
    }
  } else {
    const changes = store.changesAfter(rt, start);
    if (!changes.ok) {
      sendError(changes.error);
      return;
    }
    backlog = changes.value.flatMap((c) => eventForWatcher(rt, filter, c) ?? []);
  }

  const unsubscribe = store.subscribe((changed, change) => {
    // Types that share a store (core and events.k8s.io Events, a CRD's versions) see each other's writes.
    if (storageKeyOf(changed) !== storageKeyOf(rt)) return;
    const event = eventForWatcher(rt, filter, change);
    if (event) send(event);
  });
  const timers: NodeJS.Timeout[] = [];
  const watch: OpenWatch = {
    rt,
    drop: (graceful) => {
      if (graceful) res.end();
      else res.destroy();
    },
  };
  const cleanUp = (): void => {
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
    openWatches.delete(watch);
  };
  openWatches.add(watch);
  res.on('close', cleanUp);
  res.on('finish', cleanUp);

  for (const event of backlog) send(event);
  if (request.allowBookmarks) {
    timers.push(
      setInterval(() => {
        send(bookmark());
      }, request.bookmarkIntervalMs),
    );
  }
  timers.push(setTimeout(() => res.end(), request.timeoutMs));
}

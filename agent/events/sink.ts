// Where Events go: the port the writer talks to, and its adapter on the API server's
// events.k8s.io/v1, on the agent's pooled connections (kube/api-requests.ts says why not
// client-node's typed client). Failures are values, sorted into what
// a retry may fix (the server is away or busy) and what it cannot (the request is refused).
import type { ClusterAccess } from '../kube/cluster-access.ts';
import { apiFailureOf, type ApiFailure } from '../kube/api-requests.ts';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson, sendJson, type KubeRequestError } from '../kube/kube-http.ts';
import type { Result } from '../result.ts';
import { ok } from '../result.ts';
import type { EventSeries, PodEvent } from './event.ts';

export type SinkFailure =
  | { readonly kind: 'already-exists' }
  | { readonly kind: 'not-found' }
  /** Refused for good (invalid, forbidden): the same request would be refused again. */
  | { readonly kind: 'rejected'; readonly message: string }
  /** The server did not answer, or answered 429 or 5xx: worth another try later. */
  | { readonly kind: 'unavailable'; readonly message: string };

export interface EventSink {
  create(event: PodEvent): Promise<Result<void, SinkFailure>>;
  /** The count of the stored Event's series: 1 when it has none yet. */
  seriesCount(namespace: string, name: string): Promise<Result<number, SinkFailure>>;
  /** Sets the stored Event's series; everything else of an Event is immutable. */
  patchSeries(
    namespace: string,
    name: string,
    series: EventSeries,
  ): Promise<Result<void, SinkFailure>>;
}

/** Bounds each request: a write that hangs must not hold its Event's later repeats. */
const REQUEST_TIMEOUT_MS = 10_000;

/** What a failed request means to the writer. */
export function failureOf(error: KubeRequestError): SinkFailure {
  return sinkFailureOf(apiFailureOf(error));
}

function sinkFailureOf({ status, message }: ApiFailure): SinkFailure {
  if (status === 409) return { kind: 'already-exists' };
  if (status === 404) return { kind: 'not-found' };
  return status === undefined || status === 429 || status >= 500
    ? { kind: 'unavailable', message }
    : { kind: 'rejected', message };
}

const eventsPath = (namespace: string, name?: string): string =>
  `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events` +
  (name === undefined ? '' : `/${encodeURIComponent(name)}`);

/** events.k8s.io/v1 on the agent's pooled connections (kube-http.ts). */
export function apiServerEventSink(
  kubeConfig: ClusterAccess,
  connections?: ApiServerConnections,
): EventSink {
  const options = {
    timeoutMs: REQUEST_TIMEOUT_MS,
    ...(connections === undefined ? {} : { connections }),
  };
  return {
    create: async (event) => {
      // MicroTime fields go out as written: JSON carries the microseconds a Date would lose.
      const created = await sendJson(
        kubeConfig,
        'POST',
        eventsPath(event.metadata.namespace),
        event,
        options,
      );
      return created.ok ? ok(undefined) : { ok: false, error: failureOf(created.error) };
    },
    seriesCount: async (namespace, name) => {
      const read = await getJson(kubeConfig, eventsPath(namespace, name), {}, options);
      if (!read.ok) return { ok: false, error: failureOf(read.error) };
      const count = (read.value as { series?: { count?: unknown } } | null)?.series?.count;
      return ok(typeof count === 'number' ? count : 1);
    },
    // client-go patches a series with the part that changed (createPatchBytesForSeries); a
    // JSON merge patch of `series` is the same change.
    patchSeries: async (namespace, name, series) => {
      const patched = await sendJson(
        kubeConfig,
        'PATCH',
        eventsPath(namespace, name),
        { series },
        {
          ...options,
          contentType: 'application/merge-patch+json',
        },
      );
      return patched.ok ? ok(undefined) : { ok: false, error: failureOf(patched.error) };
    },
  };
}

// Where Events go: the port the writer talks to, and its adapter on the API server's
// events.k8s.io/v1 through client-node's typed client. Failures are values, sorted into what
// a retry may fix (the server is away or busy) and what it cannot (the request is refused).
import type { KubeConfig } from '@kubernetes/client-node';
import { EventsV1Api, PatchStrategy } from '@kubernetes/client-node';
import type { ConfigurationOptions, EventsV1Event } from '@kubernetes/client-node';
import {
  apiFailureOf,
  apiRequestOptions,
  attemptApi,
  type ApiFailure,
} from '../kube/api-requests.ts';
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
export function failureOf(error: unknown): SinkFailure {
  return sinkFailureOf(apiFailureOf(error));
}

function sinkFailureOf({ status, message }: ApiFailure): SinkFailure {
  if (status === 409) return { kind: 'already-exists' };
  if (status === 404) return { kind: 'not-found' };
  return status === undefined || status === 429 || status >= 500
    ? { kind: 'unavailable', message }
    : { kind: 'rejected', message };
}

const attempt = <T>(call: () => Promise<T>): Promise<Result<T, SinkFailure>> =>
  attemptApi(call, sinkFailureOf);

const requestOptions = (contentType?: string): ConfigurationOptions =>
  apiRequestOptions(REQUEST_TIMEOUT_MS, contentType);

export function apiServerEventSink(kubeConfig: KubeConfig): EventSink {
  const api = kubeConfig.makeApiClient(EventsV1Api);
  const options = requestOptions();
  // client-go patches a series with the part that changed (createPatchBytesForSeries); a JSON
  // merge patch of `series` is the same change.
  const mergePatch = requestOptions(PatchStrategy.MergePatch);
  return {
    create: async (event) => {
      // MicroTime fields go out as written: client-node's serializer passes strings through,
      // where its Date-based V1MicroTime would lose the microseconds.
      const body = event as unknown as EventsV1Event;
      const created = await attempt(() =>
        api.createNamespacedEvent({ namespace: event.metadata.namespace, body }, options),
      );
      return created.ok ? ok(undefined) : created;
    },
    seriesCount: async (namespace, name) => {
      const read = await attempt(() => api.readNamespacedEvent({ namespace, name }, options));
      return read.ok ? ok(read.value.series?.count ?? 1) : read;
    },
    patchSeries: async (namespace, name, series) => {
      const patched = await attempt(() =>
        api.patchNamespacedEvent({ namespace, name, body: { series } }, mergePatch),
      );
      return patched.ok ? ok(undefined) : patched;
    },
  };
}

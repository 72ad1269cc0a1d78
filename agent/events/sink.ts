// Where Events go: the port the writer talks to, and its adapter on the API server's
// events.k8s.io/v1 through client-node's typed client. Failures are values, sorted into what
// a retry may fix (the server is away or busy) and what it cannot (the request is refused).
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiException, EventsV1Api, Observable, PatchStrategy } from '@kubernetes/client-node';
import type {
  ConfigurationOptions,
  EventsV1Event,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
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

export function failureOf(error: unknown): SinkFailure {
  if (error instanceof ApiException) {
    const code = (error as ApiException<unknown>).code;
    if (code === 409) return { kind: 'already-exists' };
    if (code === 404) return { kind: 'not-found' };
    const message = `HTTP ${code}: ${messageOf((error as ApiException<unknown>).body)}`;
    return code === 429 || code >= 500
      ? { kind: 'unavailable', message }
      : { kind: 'rejected', message };
  }
  return { kind: 'unavailable', message: error instanceof Error ? error.message : String(error) };
}

function messageOf(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return messageOf(JSON.parse(body) as unknown);
    } catch {
      return body.slice(0, 200);
    }
  }
  if (typeof body === 'object' && body !== null && 'message' in body) {
    return String(body.message);
  }
  return 'no message';
}

async function attempt<T>(call: () => Promise<T>): Promise<Result<T, SinkFailure>> {
  try {
    return ok(await call());
  } catch (error) {
    return err(failureOf(error));
  }
}

/**
 * Request options: an abort timeout on every request and, for patches, the content type (the
 * typed client sends a JSON Patch otherwise). client-node's object-style methods run
 * middleware of its observable kind, as its own setHeaderOptions makes.
 */
function requestOptions(contentType?: string): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
      if (contentType !== undefined) context.setHeaderParam('Content-Type', contentType);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

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

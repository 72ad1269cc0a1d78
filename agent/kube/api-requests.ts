// What every writer to the API server through client-node's typed clients needs: a timeout on
// each request (and a content type for patches), and a failed request read as its HTTP status
// and the Status message, for the writer to sort into "try again" and "refused for good".
import { ApiException, Observable } from '@kubernetes/client-node';
import type {
  ConfigurationOptions,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

/**
 * Request options: an abort timeout on every request and, for patches, the content type (the
 * typed clients send a JSON Patch otherwise). client-node's object-style methods run
 * middleware of its observable kind, as its own setHeaderOptions makes.
 */
export function apiRequestOptions(timeoutMs: number, contentType?: string): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      if (contentType !== undefined) context.setHeaderParam('Content-Type', contentType);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** A request that failed: the server's answer (status, Status body), or none (undefined status). */
export interface ApiFailure {
  readonly status: number | undefined;
  /** `HTTP <status>: <Status message>`, or the network error's message. */
  readonly message: string;
  /** The answer's body, parsed when it is JSON. */
  readonly body: unknown;
}

export function apiFailureOf(error: unknown): ApiFailure {
  if (error instanceof ApiException) {
    const { code, body } = error as ApiException<unknown>;
    const parsed = typeof body === 'string' ? parseJson(body) : body;
    return { status: code, message: `HTTP ${code}: ${messageOf(parsed ?? body)}`, body: parsed };
  }
  return {
    status: undefined,
    message: error instanceof Error ? error.message : String(error),
    body: undefined,
  };
}

/** Runs a client call, its failure sorted by `classify`. */
export async function attemptApi<T, F>(
  call: () => Promise<T>,
  classify: (failure: ApiFailure) => F,
): Promise<Result<T, F>> {
  try {
    return ok(await call());
  } catch (error) {
    return err(classify(apiFailureOf(error)));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function messageOf(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, 200);
  if (typeof body === 'object' && body !== null && 'message' in body) return String(body.message);
  return 'no message';
}

// What every writer to the API server (Events, reports) needs of a failed request: its HTTP
// status and the Status message, for the writer to sort into "try again" and "refused for
// good". The writes go through kube-http.ts on the agent's pooled keep-alive connections:
// client-node's typed clients build a new HTTP agent, and so a new TLS connection, for every
// request, which then idles open until the server closes it (BENCHMARKS.md, section 3: 126
// open fds against 30 during 10,000 pod events).
import type { KubeRequestError } from './kube-http.ts';

/** A request that failed: the server's answer (status, Status details), or none. */
export interface ApiFailure {
  /** undefined: no answer (network, timeout, cancelled, unusable kubeconfig). */
  readonly status: number | undefined;
  /** `HTTP <status>: <Status message>`, or what went wrong before any answer. */
  readonly message: string;
  /** The Status object's details.kind, when the server named what it did not find. */
  readonly detailsKind?: string;
}

export function apiFailureOf(error: KubeRequestError): ApiFailure {
  if (error.kind !== 'http') return { status: undefined, message: error.message };
  return {
    status: error.status,
    message: `HTTP ${error.status}: ${error.message}`,
    ...(error.detailsKind === undefined ? {} : { detailsKind: error.detailsKind }),
  };
}

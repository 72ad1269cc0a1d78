import { status as GrpcStatus } from '@grpc/grpc-js';

// What went wrong talking to the runtime, as a value callers can branch on.
export type CriErrorKind =
  | 'unavailable' // socket missing, runtime down or restarting: retry later
  | 'deadline-exceeded'
  | 'unimplemented' // the runtime does not speak this CRI version
  | 'not-found'
  | 'permission-denied'
  | 'resource-exhausted' // e.g. a response larger than the receive limit
  | 'invalid-response'
  | 'internal';

export interface CriError {
  readonly kind: CriErrorKind;
  readonly endpoint: string;
  readonly method: string;
  readonly message: string;
}

const kindByStatus = new Map<number, CriErrorKind>([
  [GrpcStatus.UNAVAILABLE, 'unavailable'],
  [GrpcStatus.DEADLINE_EXCEEDED, 'deadline-exceeded'],
  [GrpcStatus.UNIMPLEMENTED, 'unimplemented'],
  [GrpcStatus.NOT_FOUND, 'not-found'],
  [GrpcStatus.PERMISSION_DENIED, 'permission-denied'],
  [GrpcStatus.UNAUTHENTICATED, 'permission-denied'],
  [GrpcStatus.RESOURCE_EXHAUSTED, 'resource-exhausted'],
  [GrpcStatus.CANCELLED, 'unavailable'],
]);

interface GrpcLikeError {
  readonly code?: unknown;
  readonly details?: unknown;
  readonly message?: unknown;
}

export function criErrorFromGrpc(endpoint: string, method: string, error: unknown): CriError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as GrpcLikeError;
  const code = typeof e.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
  const detail =
    typeof e.details === 'string' && e.details !== ''
      ? e.details
      : typeof e.message === 'string'
        ? e.message
        : String(error);
  return { kind: kindByStatus.get(code) ?? 'internal', endpoint, method, message: detail };
}

/**
 * The runtime answered, and asking again at once would only get the same answer at the same
 * cost: a response over the size limit, or one that cannot be decoded. Worth retrying at the
 * usual pace, not within seconds.
 */
export function isLastingError(error: CriError): boolean {
  return error.kind === 'resource-exhausted' || error.kind === 'invalid-response';
}

/** One line an SRE can act on: what failed, where, and what to check. */
export function describeCriError(error: CriError): string {
  const where = `${error.method} on ${error.endpoint}`;
  switch (error.kind) {
    case 'unavailable':
      return `container runtime unavailable (${where}): ${error.message}. Check that the runtime is running and the socket path is right (--cri-endpoint).`;
    case 'permission-denied':
      return `permission denied (${where}): ${error.message}. The agent needs read/write access to the socket file (root, or the socket's group).`;
    case 'deadline-exceeded':
      return `container runtime did not answer in time (${where}). The runtime may be overloaded.`;
    case 'unimplemented':
      return `container runtime does not implement ${error.method} (${error.endpoint}): ${error.message}. Is this a CRI socket?`;
    default:
      return `CRI call failed (${where}): ${error.kind}: ${error.message}`;
  }
}

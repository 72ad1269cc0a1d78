// Bound service-account tokens as the API server issues them to a pod through a projected
// volume (TokenRequest with a boundObjectRef): a TokenReview of one answers the service
// account as the user and, since Kubernetes 1.30 (ServiceAccountTokenPodNodeInfo), the pod and
// the node it is bound to as user.extra. The embedded API server then answers reviews so.
import { randomBytes } from 'node:crypto';
import type { EmbeddedApiServer } from './embedded/kube-apiserver.ts';

export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
/** What a token is issued for when the TokenRequest names no audience: the API server itself. */
export const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface BoundTokenRequest {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The pod the token is bound to. */
  readonly pod?: string;
  /** The node that pod runs on; omit for a token without the node claim (before 1.30). */
  readonly node?: string;
  /** The audience the token is issued for (default: the API server's own). */
  readonly audience?: string;
}

/** A new token registered with the API server; returns the token. */
export function issueBoundToken(api: EmbeddedApiServer, request: BoundTokenRequest): string {
  const token = `bound-${randomBytes(24).toString('base64url')}`;
  const extra: Record<string, string[]> = {
    'authentication.kubernetes.io/credential-id': [`JTI=${randomBytes(8).toString('hex')}`],
  };
  if (request.pod !== undefined) {
    extra['authentication.kubernetes.io/pod-name'] = [request.pod];
    extra['authentication.kubernetes.io/pod-uid'] = [`uid-${request.pod}`];
  }
  if (request.node !== undefined) {
    extra[NODE_NAME_EXTRA] = [request.node];
    extra['authentication.kubernetes.io/node-uid'] = [`uid-${request.node}`];
  }
  api.auth.setToken(token, {
    username: `system:serviceaccount:${request.namespace}:${request.serviceAccount}`,
    groups: [
      'system:serviceaccounts',
      `system:serviceaccounts:${request.namespace}`,
      'system:authenticated',
    ],
    extra,
    audiences: [request.audience ?? API_SERVER_AUDIENCE],
  });
  return token;
}

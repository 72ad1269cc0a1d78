// Who is asking the controller, as the kubelet's Node authorizer would judge it: the caller must
// present a bound service-account token of the agent's service account, and the token's node
// claim (authentication.kubernetes.io/node-name, Kubernetes 1.30+, ServiceAccountTokenPodNodeInfo)
// names the only node it may ask about. Never the caller's own word.
import { parseBearerToken } from '../http/auth.ts';
import { sha256, type ReviewedUser, type TokenReviewer } from '../http/token-review.ts';

export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** An agent the controller answers: the node it runs on, from its token. */
export interface AgentCaller {
  readonly node: string;
  /** The agent's pod, when the token was bound to one. */
  readonly pod: string | undefined;
}

export type CallerDecision =
  | { readonly ok: true; readonly caller: AgentCaller }
  | {
      readonly ok: false;
      readonly status: 401 | 403 | 429 | 503;
      /** Safe to show the caller: never holds the token. */
      readonly reason: string;
    };

const single = (values: readonly string[] | undefined): string | undefined =>
  values?.length === 1 && values[0] !== '' ? values[0] : undefined;

/** Whether a reviewed user is the agent, and on which node. Pure. */
export function agentCallerOf(user: ReviewedUser, agent: ServiceAccountRef): CallerDecision {
  const expected = `system:serviceaccount:${agent.namespace}:${agent.name}`;
  if (user.username !== expected) {
    return {
      ok: false,
      status: 403,
      reason: `only the agent's service account (${expected}) may ask the controller; this token belongs to ${user.username}`,
    };
  }
  const node = single(user.extra?.[NODE_NAME_EXTRA]);
  if (node === undefined) {
    return {
      ok: false,
      status: 403,
      reason: `the token carries no node claim (${NODE_NAME_EXTRA}): mount a projected service-account token bound to the agent's pod (Kubernetes 1.30+)`,
    };
  }
  return { ok: true, caller: { node, pod: single(user.extra?.[POD_NAME_EXTRA]) } };
}

/** Authenticates a request's Authorization header as an agent (TokenReview, cached). */
export class CallerAuthenticator {
  readonly #reviewer: TokenReviewer;
  readonly #agent: ServiceAccountRef;

  constructor(reviewer: TokenReviewer, agent: ServiceAccountRef) {
    this.#reviewer = reviewer;
    this.#agent = agent;
  }

  async authenticate(authorization: string | undefined): Promise<CallerDecision> {
    const token = parseBearerToken(authorization);
    if (token === undefined) {
      return {
        ok: false,
        status: 401,
        reason: 'authentication required: send Authorization: Bearer <bound service-account token>',
      };
    }
    const review = await this.#reviewer.identify(token, sha256(token));
    if (review.kind === 'unavailable')
      return {
        ok: false,
        status: 503,
        reason: 'the Kubernetes API server could not review the token; try again later',
      };
    if (review.kind === 'over-budget')
      return {
        ok: false,
        status: 429,
        reason: 'too many token reviews right now; try again shortly',
      };
    if (!review.value.authenticated)
      return {
        ok: false,
        status: 401,
        reason: 'invalid bearer token (or not meant for the controller)',
      };
    return agentCallerOf(review.value.user, this.#agent);
  }
}

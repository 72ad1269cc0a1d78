// Who may read the agent's HTTP endpoints. `--auth kubernetes` delegates both questions to the
// API server, as kubelet and kube-rbac-proxy do: a TokenReview says who a bearer token belongs
// to, a SubjectAccessReview whether that user may `get` the request's non-resource path, so
// plain RBAC decides (`nonResourceURLs: ["/metrics"]` for Prometheus, `["/api/*"]` for a
// security team). It fails closed: 401 without a valid token, 403 when RBAC says no, 503 when
// the API server cannot answer, 429 past the global review budget.
//
// Protecting the API server: requests without a well-formed bearer token never cause a review;
// decisions are cached (bounded, keyed by a SHA-256 of the token, never the token); identical
// concurrent reviews share one request; and all reviews together stay under a rate budget
// (token-review.ts, shared with the controller's broker).
//
// The reviews go through the agent's one Kubernetes client stack (kube/kube-http.ts), the same
// credentials and error values as its lists, watches and secret reads.

import { ExpiringCache } from './decision-cache.ts';
import {
  TokenReviewer,
  sha256,
  stringAt,
  type Review,
  type ReviewedUser,
  type TokenReviewOptions,
} from './token-review.ts';

/** Probes must work without credentials: the kubelet sends none. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/livez', '/healthz', '/readyz']);

export interface AuthRequest {
  /** The request's path without the query: the SubjectAccessReview's non-resource path. */
  readonly path: string;
  /** The Authorization header as received. */
  readonly authorization: string | undefined;
}

export type AuthOutcome =
  | { readonly allowed: true; readonly user: string | null }
  | {
      readonly allowed: false;
      readonly status: 401 | 403 | 429 | 503;
      /** Safe to show the client: never contains the token. */
      readonly reason: string;
    };

export interface RequestAuthorizer {
  readonly mode: 'none' | 'kubernetes';
  authorize(request: AuthRequest): Promise<AuthOutcome>;
}

/** `--auth none`: everything is allowed. The caller logs a warning when it starts like this. */
export function allowAll(): RequestAuthorizer {
  const allowed: AuthOutcome = { allowed: true, user: null };
  return { mode: 'none', authorize: () => Promise.resolve(allowed) };
}

// Service account tokens are 1-2 KB and OIDC tokens rarely pass 4 KB: longer is not a token,
// and is refused before anything is hashed or reviewed.
const MAX_TOKEN_LENGTH = 8 * 1024;
// The API server's own bearer authenticator takes any run of non-space characters after a
// case-insensitive "Bearer"; we also refuse control and non-ASCII characters.
const bearerHeader = /^bearer +([\x21-\x7e]+) *$/i;

/** The token of an `Authorization: Bearer <token>` header, or undefined when malformed. */
export function parseBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_TOKEN_LENGTH + 16) return undefined;
  return bearerHeader.exec(header)?.[1];
}

/** The reviewer's options (TokenReview caching and budget) also bound the SubjectAccessReviews. */
export type KubernetesAuthOptions = TokenReviewOptions;

const unauthenticated = (reason: string): AuthOutcome => ({ allowed: false, status: 401, reason });

const noAnswer: Readonly<Record<'unavailable' | 'over-budget', AuthOutcome>> = {
  unavailable: {
    allowed: false,
    status: 503,
    reason: 'the Kubernetes API server could not review the request; try again later',
  },
  'over-budget': {
    allowed: false,
    status: 429,
    reason: 'too many authentication reviews right now; try again shortly',
  },
};

const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export function kubernetesAuthorizer(options: KubernetesAuthOptions): RequestAuthorizer {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxCacheEntries ?? 1024;
  const reviewer = new TokenReviewer(options);
  const { logger } = options;
  // Separate caches: a flood of made-up tokens fills only the denied one and cannot evict the
  // decisions of the clients that are allowed.
  const allowedDecisions = new ExpiringCache<AuthOutcome>(maxEntries, now);
  const deniedDecisions = new ExpiringCache<AuthOutcome>(maxEntries, now);

  async function accessReview(
    user: ReviewedUser,
    path: string,
    decisionKey: string,
  ): Promise<Review<AuthOutcome>> {
    const status = await reviewer.post('SubjectAccessReview', ACCESS_REVIEWS, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        groups: [...user.groups],
        ...(user.uid === undefined ? {} : { uid: user.uid }),
        ...(user.extra === undefined ? {} : { extra: { ...user.extra } }),
        nonResourceAttributes: { path, verb: 'get' },
      },
    });
    if (status === undefined) return { kind: 'unavailable' };
    if (status['allowed'] === true && status['denied'] !== true) {
      const outcome: AuthOutcome = { allowed: true, user: user.username };
      allowedDecisions.set(decisionKey, outcome, reviewer.allowedTtlMs);
      return { kind: 'answer', value: outcome };
    }
    logger.debug(
      { user: user.username, path, reason: stringAt(status, 'reason') },
      'request refused by SubjectAccessReview',
    );
    const outcome: AuthOutcome = {
      allowed: false,
      status: 403,
      reason: `User "${user.username}" cannot get path "${path}"`,
    };
    deniedDecisions.set(decisionKey, outcome, reviewer.deniedTtlMs);
    return { kind: 'answer', value: outcome };
  }

  return {
    mode: 'kubernetes',
    async authorize({ path, authorization }) {
      if (authorization === undefined) {
        return unauthenticated('authentication required: send Authorization: Bearer <token>');
      }
      const token = parseBearerToken(authorization);
      if (token === undefined || token.length > MAX_TOKEN_LENGTH) {
        return unauthenticated('malformed Authorization header: expected Bearer <token>');
      }
      const tokenKey = sha256(token);
      const decisionKey = sha256(`${tokenKey}\0${path}`);
      const decided = allowedDecisions.get(decisionKey) ?? deniedDecisions.get(decisionKey);
      if (decided !== undefined) return decided;

      const identity = await reviewer.identify(token, tokenKey);
      if (identity.kind !== 'answer') return noAnswer[identity.kind];
      if (!identity.value.authenticated) return unauthenticated('invalid bearer token');
      const user = identity.value.user;
      const decision = await reviewer.shared(`authz\0${decisionKey}`, () =>
        accessReview(user, path, decisionKey),
      );
      return decision.kind === 'answer' ? decision.value : noAnswer[decision.kind];
    },
  };
}

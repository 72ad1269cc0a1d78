// Who may read the agent's HTTP endpoints. `--auth kubernetes` delegates both questions to the
// API server, as kubelet and kube-rbac-proxy do: a TokenReview says who a bearer token belongs
// to, a SubjectAccessReview whether that user may `get` the request's non-resource path, so
// plain RBAC decides (`nonResourceURLs: ["/metrics"]` for Prometheus, `["/api/*"]` for a
// security team). It fails closed: 401 without a valid token, 403 when RBAC says no, 503 when
// the API server cannot answer, 429 past the global review budget.
//
// Protecting the API server: requests without a well-formed bearer token never cause a review;
// decisions are cached (bounded, keyed by a SHA-256 of the token, never the token); identical
// concurrent reviews share one request; and all reviews together stay under a rate budget.
//
// The reviews go through the agent's one Kubernetes client stack (kube/kube-http.ts), the same
// credentials and error values as its lists, watches and secret reads.

import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { postReview, type KubeRequestError } from '../kube/kube-http.ts';
import { ExpiringCache, RateBudget } from './decision-cache.ts';

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

export interface KubernetesAuthOptions {
  /** Credentials of the agent itself; its service account needs system:auth-delegator. */
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** How long an allowed decision (and a valid token's identity) is reused (default 60 s). */
  readonly allowedTtlMs?: number;
  /** How long a refusal (invalid token, RBAC denial) is reused (default 10 s). */
  readonly deniedTtlMs?: number;
  /** Entries in each of the allowed and denied caches (default 1024). */
  readonly maxCacheEntries?: number;
  /** TokenReviews plus SubjectAccessReviews per second, all clients together (default 20). */
  readonly maxReviewsPerSecond?: number;
  /** How long one review may take before the request is answered 503 (default 5 s). */
  readonly reviewTimeoutMs?: number;
  /** Audiences a token must be meant for (TokenReview spec.audiences); default: the API server's. */
  readonly audiences?: readonly string[];
  /** Milliseconds clock, for tests. */
  readonly now?: () => number;
}

interface ReviewedUser {
  readonly username: string;
  readonly uid: string | undefined;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, string[]>> | undefined;
}

type Authentication =
  { readonly authenticated: true; readonly user: ReviewedUser } | { readonly authenticated: false };

/** What asking the API server gave: an answer, or why there is none. */
type Review<T> =
  | { readonly kind: 'answer'; readonly value: T }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'over-budget' };

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

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/**
 * A failure described without anything from the request (which carried the token): for an
 * HTTP error only its status, since the server's message could quote the request.
 */
function describeFailure(error: KubeRequestError): string {
  return error.kind === 'http'
    ? `the API server answered HTTP ${error.status}`
    : `${error.kind}: ${error.message}`;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringAt(record: JsonObject, field: string): string | undefined {
  const value = record[field];
  return typeof value === 'string' ? value : undefined;
}

function stringsAt(record: JsonObject, field: string): string[] {
  const value = record[field];
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** A review's `status`, or an empty one when the answer has none. */
function statusOf(answer: unknown): JsonObject {
  return isObject(answer) && isObject(answer['status']) ? answer['status'] : {};
}

/** TokenReview `status.user.extra`: a map of string lists (authentication/v1 UserInfo). */
function extraOf(user: JsonObject): Readonly<Record<string, string[]>> | undefined {
  const extra = user['extra'];
  if (!isObject(extra)) return undefined;
  return Object.fromEntries(Object.keys(extra).map((key) => [key, stringsAt(extra, key)]));
}

export function kubernetesAuthorizer(options: KubernetesAuthOptions): RequestAuthorizer {
  const now = options.now ?? Date.now;
  const allowedTtl = options.allowedTtlMs ?? 60_000;
  const deniedTtl = options.deniedTtlMs ?? 10_000;
  const maxEntries = options.maxCacheEntries ?? 1024;
  const perSecond = options.maxReviewsPerSecond ?? 20;
  const reviewTimeout = options.reviewTimeoutMs ?? 5_000;
  const audiences = options.audiences ?? [];
  const { logger } = options;

  const { kubeConfig } = options;
  // Separate caches: a flood of made-up tokens fills only the denied one and cannot evict the
  // decisions of the clients that are allowed.
  const allowedIdentities = new ExpiringCache<Authentication>(maxEntries, now);
  const deniedIdentities = new ExpiringCache<Authentication>(maxEntries, now);
  const allowedDecisions = new ExpiringCache<AuthOutcome>(maxEntries, now);
  const deniedDecisions = new ExpiringCache<AuthOutcome>(maxEntries, now);
  const budget = new RateBudget(perSecond, perSecond, now);
  const inFlight = new Map<string, Promise<Review<unknown>>>();

  let lastFailureLog = Number.NEGATIVE_INFINITY;
  let suppressedFailures = 0;
  const logFailure = (review: string, error: KubeRequestError): void => {
    // While the API server is down every review fails; one line per 10 s is enough.
    if (now() - lastFailureLog < 10_000) {
      suppressedFailures += 1;
      return;
    }
    lastFailureLog = now();
    logger.warn(
      { review, error: describeFailure(error), suppressedSinceLastLog: suppressedFailures },
      'an authentication review failed; answering 503',
    );
    suppressedFailures = 0;
  };

  /** Runs `review` unless an identical one is in flight, within the budget. */
  function shared<T>(key: string, review: () => Promise<Review<T>>): Promise<Review<T>> {
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending as Promise<Review<T>>;
    if (!budget.tryTake()) return Promise.resolve({ kind: 'over-budget' });
    const started = review().finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  }

  async function tokenReview(token: string, tokenKey: string): Promise<Review<Authentication>> {
    const answer = await postReview(
      kubeConfig,
      TOKEN_REVIEWS,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(audiences.length > 0 ? { audiences: [...audiences] } : {}) },
      },
      { timeoutMs: reviewTimeout },
    );
    if (!answer.ok) {
      logFailure('TokenReview', answer.error);
      return { kind: 'unavailable' };
    }
    const status = statusOf(answer.value);
    const user = isObject(status['user']) ? status['user'] : {};
    const username = stringAt(user, 'username');
    const audienceOk =
      audiences.length === 0 || stringsAt(status, 'audiences').some((a) => audiences.includes(a));
    if (status['authenticated'] !== true || !username || !audienceOk) {
      logger.debug({ error: stringAt(status, 'error') }, 'bearer token refused by TokenReview');
      const refused: Authentication = { authenticated: false };
      deniedIdentities.set(tokenKey, refused, deniedTtl);
      return { kind: 'answer', value: refused };
    }
    const identity: Authentication = {
      authenticated: true,
      user: {
        username,
        uid: stringAt(user, 'uid'),
        groups: stringsAt(user, 'groups'),
        extra: extraOf(user),
      },
    };
    allowedIdentities.set(tokenKey, identity, allowedTtl);
    return { kind: 'answer', value: identity };
  }

  async function accessReview(
    user: ReviewedUser,
    path: string,
    decisionKey: string,
  ): Promise<Review<AuthOutcome>> {
    const answer = await postReview(
      kubeConfig,
      ACCESS_REVIEWS,
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: [...user.groups],
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          ...(user.extra === undefined ? {} : { extra: { ...user.extra } }),
          nonResourceAttributes: { path, verb: 'get' },
        },
      },
      { timeoutMs: reviewTimeout },
    );
    if (!answer.ok) {
      logFailure('SubjectAccessReview', answer.error);
      return { kind: 'unavailable' };
    }
    const status = statusOf(answer.value);
    if (status['allowed'] === true && status['denied'] !== true) {
      const outcome: AuthOutcome = { allowed: true, user: user.username };
      allowedDecisions.set(decisionKey, outcome, allowedTtl);
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
    deniedDecisions.set(decisionKey, outcome, deniedTtl);
    return { kind: 'answer', value: outcome };
  }

  function authenticate(token: string, tokenKey: string): Promise<Review<Authentication>> {
    const known = allowedIdentities.get(tokenKey) ?? deniedIdentities.get(tokenKey);
    if (known !== undefined) return Promise.resolve({ kind: 'answer', value: known });
    return shared(`authn\0${tokenKey}`, () => tokenReview(token, tokenKey));
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

      const identity = await authenticate(token, tokenKey);
      if (identity.kind !== 'answer') return noAnswer[identity.kind];
      if (!identity.value.authenticated) return unauthenticated('invalid bearer token');
      const user = identity.value.user;
      const decision = await shared(`authz\0${decisionKey}`, () =>
        accessReview(user, path, decisionKey),
      );
      return decision.kind === 'answer' ? decision.value : noAnswer[decision.kind];
    },
  };
}

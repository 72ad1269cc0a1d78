// Asking the Kubernetes API server who a bearer token belongs to (TokenReview), as the agent's
// HTTP API and the controller's broker both do. It protects the API server: identities are
// cached (bounded, keyed by a SHA-256 of the token, never the token, and never past the token's
// own expiry), identical concurrent reviews share one request, and all reviews together stay
// under a rate budget.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterAccess } from '../kube/cluster-access.ts';
import { decodeJwt } from 'jose/jwt/decode';
import type { Logger } from 'pino';
import { postReview, type KubeRequestError } from '../kube/kube-http.ts';
import { ExpiringCache } from './decision-cache.ts';
import { TokenBucket } from '../registry/rate-limit.ts';

export interface ReviewedUser {
  readonly username: string;
  readonly uid: string | undefined;
  readonly groups: readonly string[];
  /** `status.user.extra`: for a bound service-account token, its pod and node. */
  readonly extra: Readonly<Record<string, string[]>> | undefined;
}

export type Authentication =
  { readonly authenticated: true; readonly user: ReviewedUser } | { readonly authenticated: false };

/** What asking the API server gave: an answer, or why there is none. */
export type Review<T> =
  | { readonly kind: 'answer'; readonly value: T }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'over-budget' };

export interface TokenReviewOptions {
  /** The caller's own credentials; its service account needs system:auth-delegator. */
  readonly kubeConfig: ClusterAccess;
  readonly logger: Logger;
  /** How long a valid token's identity (and an allowed decision) is reused (default 60 s). */
  readonly allowedTtlMs?: number;
  /** How long a refusal is reused (default 10 s). */
  readonly deniedTtlMs?: number;
  /** Entries in each of the allowed and denied caches (default 1024). */
  readonly maxCacheEntries?: number;
  /** Reviews per second, all clients together, and as many at once (default 20). */
  readonly maxReviewsPerSecond?: number;
  /**
   * How long a review may wait for its turn in the budget before it is refused (default 0:
   * refused at once). A cold start of every agent asks for thousands of reviews together;
   * waiting spreads them at the budget's rate instead of refusing most of them.
   */
  readonly maxReviewWaitMs?: number;
  /** How long one review may take before the request is answered 503 (default 5 s). */
  readonly reviewTimeoutMs?: number;
  /** Audiences a token must be meant for (TokenReview spec.audiences); default: the API server's. */
  readonly audiences?: readonly string[];
  /** Milliseconds clock, for tests. */
  readonly now?: () => number;
  /** Waits for a review's turn in the budget; for tests. */
  readonly wait?: (ms: number) => Promise<void>;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * When a JWT says it expires (its `exp` claim, in ms), read without verifying it: the API
 * server has verified the token, and this is only used to forget its identity no later than
 * the token itself stops being valid. Undefined for a token that is not a JWT or has no `exp`.
 */
export function tokenExpiresAt(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';

export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function stringAt(record: JsonObject, field: string): string | undefined {
  const value = record[field];
  return typeof value === 'string' ? value : undefined;
}

function stringsAt(record: JsonObject, field: string): string[] {
  const value = record[field];
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** A review's `status`, or an empty one when the answer has none. */
export function statusOf(answer: unknown): JsonObject {
  return isObject(answer) && isObject(answer['status']) ? answer['status'] : {};
}

/** TokenReview `status.user.extra`: a map of string lists (authentication/v1 UserInfo). */
function extraOf(user: JsonObject): Readonly<Record<string, string[]>> | undefined {
  const extra = user['extra'];
  if (!isObject(extra)) return undefined;
  return Object.fromEntries(Object.keys(extra).map((key) => [key, stringsAt(extra, key)]));
}

/**
 * A failure described without anything from the request (which carried the token): for an
 * HTTP error only its status, since the server's message could quote the request.
 */
function describeFailure(error: KubeRequestError): string {
  return error.kind === 'http'
    ? `the API server answered HTTP ${error.status}`
    : `${error.kind}: ${error.message}`;
}

export class TokenReviewer {
  readonly #o: TokenReviewOptions;
  readonly #now: () => number;
  readonly #allowedTtl: number;
  readonly #deniedTtl: number;
  readonly #audiences: readonly string[];
  // Separate caches: a flood of made-up tokens fills only the denied one and cannot evict the
  // identities of the clients that are allowed.
  readonly #allowed: ExpiringCache<Authentication>;
  readonly #denied: ExpiringCache<Authentication>;
  readonly #budget: TokenBucket;
  readonly #maxWaitMs: number;
  readonly #wait: (ms: number) => Promise<void>;
  readonly #inFlight = new Map<string, Promise<Review<unknown>>>();
  #lastFailureLog = Number.NEGATIVE_INFINITY;
  #suppressedFailures = 0;

  constructor(options: TokenReviewOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#allowedTtl = options.allowedTtlMs ?? 60_000;
    this.#deniedTtl = options.deniedTtlMs ?? 10_000;
    this.#audiences = options.audiences ?? [];
    const maxEntries = options.maxCacheEntries ?? 1024;
    const perSecond = options.maxReviewsPerSecond ?? 20;
    this.#allowed = new ExpiringCache(maxEntries, this.#now);
    this.#denied = new ExpiringCache(maxEntries, this.#now);
    this.#budget = new TokenBucket({ perSecond, burst: perSecond }, this.#now);
    this.#maxWaitMs = options.maxReviewWaitMs ?? 0;
    this.#wait = options.wait ?? ((ms) => sleep(ms));
  }

  get allowedTtlMs(): number {
    return this.#allowedTtl;
  }

  get deniedTtlMs(): number {
    return this.#deniedTtl;
  }

  /** Who `token` belongs to; `tokenKey` is its SHA-256, the only form that is kept. */
  identify(token: string, tokenKey: string): Promise<Review<Authentication>> {
    const known = this.#allowed.get(tokenKey) ?? this.#denied.get(tokenKey);
    if (known !== undefined) return Promise.resolve({ kind: 'answer', value: known });
    return this.shared(`authn\0${tokenKey}`, () => this.#review(token, tokenKey));
  }

  /** Runs `review` unless an identical one is in flight, within the budget. */
  shared<T>(key: string, review: () => Promise<Review<T>>): Promise<Review<T>> {
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending as Promise<Review<T>>;
    const waitMs = this.#budget.reserve(this.#maxWaitMs);
    if (waitMs === undefined) return Promise.resolve({ kind: 'over-budget' });
    const turn = waitMs > 0 ? this.#wait(waitMs) : Promise.resolve();
    const started = turn.then(review).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, started);
    return started;
  }

  /** POSTs a review object; a failure is logged (at most once per 10 s) and given as undefined. */
  async post(kind: string, path: string, body: unknown): Promise<JsonObject | undefined> {
    const answer = await postReview(this.#o.kubeConfig, path, body, {
      timeoutMs: this.#o.reviewTimeoutMs ?? 5_000,
    });
    if (answer.ok) return statusOf(answer.value);
    // While the API server is down every review fails; one line per 10 s is enough.
    if (this.#now() - this.#lastFailureLog < 10_000) {
      this.#suppressedFailures += 1;
    } else {
      this.#lastFailureLog = this.#now();
      this.#o.logger.warn(
        {
          review: kind,
          error: describeFailure(answer.error),
          suppressedSinceLastLog: this.#suppressedFailures,
        },
        'an authentication review failed; answering 503',
      );
      this.#suppressedFailures = 0;
    }
    return undefined;
  }

  async #review(token: string, tokenKey: string): Promise<Review<Authentication>> {
    const audiences = this.#audiences;
    const status = await this.post('TokenReview', TOKEN_REVIEWS, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(audiences.length > 0 ? { audiences: [...audiences] } : {}) },
    });
    if (status === undefined) return { kind: 'unavailable' };
    const user = isObject(status['user']) ? status['user'] : {};
    const username = stringAt(user, 'username');
    const audienceOk =
      audiences.length === 0 || stringsAt(status, 'audiences').some((a) => audiences.includes(a));
    if (status['authenticated'] !== true || !username || !audienceOk) {
      this.#o.logger.debug(
        { error: stringAt(status, 'error') },
        'bearer token refused by TokenReview',
      );
      const refused: Authentication = { authenticated: false };
      this.#denied.set(tokenKey, refused, this.#deniedTtl);
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
    // A bound token expires (the kubelet rotates it before then): its identity must not
    // outlive it in the cache, whatever the cache's own TTL.
    const expiresAt = tokenExpiresAt(token);
    const ttl =
      expiresAt === undefined
        ? this.#allowedTtl
        : Math.min(this.#allowedTtl, expiresAt - this.#now());
    if (ttl > 0) this.#allowed.set(tokenKey, identity, ttl);
    return { kind: 'answer', value: identity };
  }
}

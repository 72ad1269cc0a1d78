// What the registry side of the snapshot says about an image: is its repository public
// (anyone may pull it, so a cached copy leaks nothing), and can a given tenant credential
// read it (the kubelet would let that tenant use the cached copy). Configuration answers
// first; otherwise an anonymous or credentialed manifest probe, cached, limited per registry
// host and deduplicated. A registry outage keeps the last known answer instead of flipping
// findings.
import {
  SETTLED_UNKNOWN,
  type CredentialVerdict,
  type RepositoryVisibility,
} from '../model/snapshot.ts';
import { LruCache } from '../lru.ts';
import type { RegistryAuthorization } from '../model/credential.ts';
import type { ManifestTarget } from './address.ts';
import {
  DEFAULT_PROBE_TIMEOUT_MS,
  probeManifest,
  type ManifestProbe,
  type ProbeOptions,
  type UsableChallenge,
} from './probe.ts';
import type { ProbeOutcome } from './probe-outcome.ts';
import {
  DEFAULT_RATE_LIMIT,
  RegistryHostLimits,
  type RateLimit,
  type Release,
} from './rate-limit.ts';

export interface VisibilityResolverOptions {
  /** Defaults to the real `probeManifest`. */
  readonly probe?: ManifestProbe;
  /** Milliseconds since the epoch; defaults to Date.now. */
  readonly now?: () => number;
  /**
   * `off` answers `unknown` without touching the network (--registry-probe), for visibility
   * and credential checks alike: an operator who turns probing off expects no registry traffic.
   * Default `on`.
   */
  readonly registryProbe?: 'on' | 'off';
  /** `false` answers `unknown` without touching the network. Default true. */
  readonly verifyCredentials?: boolean;
  /** `registry` or `registry/path-prefix` entries whose images are public (--public-registries). */
  readonly publicRegistries?: readonly string[];
  /** Entries (same forms) the node holds credentials for (--node-credential-registries). */
  readonly nodeCredentialRegistries?: readonly string[];
  /** Passed to the probe: registries reached over plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  /** Passed to the probe: per HTTP request. Default 5 s. */
  readonly probeTimeoutMs?: number;
  /**
   * How long a definite answer (public, private, can read, cannot read) stands. Default 1 h.
   * The kubelet trusts a successful pull with a credential until the image is removed
   * (KEP-2535 pulled records), so a cluster-wide cache may keep such answers far longer.
   */
  readonly answerTtlMs?: number;
  /**
   * Up to this fraction is taken off each definite answer's TTL at random (default 0), so
   * answers made together (a cold start) do not all expire, and get asked again, together.
   */
  readonly answerTtlJitter?: number;
  /** How long a 404 (no such manifest, or hidden) stands. Default 1 h. */
  readonly notFoundTtlMs?: number;
  /** How long a failed probe (network, timeout, 5xx) stands before it is retried. Default 5 min. */
  readonly errorTtlMs?: number;
  /**
   * Per registry host: probes started per second, burst, and probes in flight at once (a
   * probe beyond the cap waits for one to finish). Default 10/s, burst 20, 4 at once.
   */
  readonly rateLimit?: RateLimit & { readonly concurrency?: number };
  /**
   * How long a probe may wait for its host's rate to allow it (default 0: a probe beyond the
   * rate is not made, and answered from what is known). The controller, whose callers hold a
   * request open, waits instead of answering "unknown".
   */
  readonly rateWaitMs?: number;
  /** In [0, 1), for the jitter; Math.random by default. */
  readonly random?: () => number;
  /** Entries per cache (visibility answers, failed probes, credential verdicts). Default 10,000. */
  readonly maxCacheEntries?: number;
}

export const DEFAULT_ANSWER_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_ERROR_TTL_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;

/** How each question was answered; `cached` includes joining an identical probe in flight. */
export type ProbeCounter =
  'readable' | 'denied' | 'not-found' | 'error' | 'rate-limited' | 'cached';
export type ProbeCounts = Readonly<Record<ProbeCounter, number>>;

export interface ResolverStats {
  /** Anonymous probes for repository visibility. */
  readonly visibility: ProbeCounts;
  /** Probes with a tenant credential. */
  readonly credential: ProbeCounts;
  /** Entries held in all caches together. */
  readonly cacheEntries: number;
}

export const BASIS = {
  publicListed: 'listed in --public-registries',
  nodeCredentials: 'the node holds credentials for this registry (--node-credential-registries)',
  probeOff: SETTLED_UNKNOWN.probeOff,
  readable: 'anonymous manifest request succeeded',
  notFound: 'anonymous manifest request answered 404',
  rateLimited: "not probed: the registry's probe rate limit was reached",
  invalidName: SETTLED_UNKNOWN.invalidName,
} as const;

/** A definite answer and until when it is fresh; kept after expiry as the last known one. */
interface Answer<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** A probe that gave no definite answer, and until when not to ask again. */
interface Failure {
  readonly basis: string;
  readonly expiresAt: number;
}

interface VerdictEntry {
  /** The last definite verdict, kept through failures. */
  readonly lastKnown: 'can-read' | 'cannot-read' | undefined;
  readonly expiresAt: number;
}

function zeroCounts(): Record<ProbeCounter, number> {
  return { readable: 0, denied: 0, 'not-found': 0, error: 0, 'rate-limited': 0, cached: 0 };
}

// docker.io's other names, folded so a configured entry matches however a name was written.
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);

function normalizeRegistry(registry: string): string {
  const lower = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? 'docker.io' : lower;
}

/** Splits a normalized `registry/repository` name; undefined when there is no repository. */
export function splitName(name: string): ManifestTarget | undefined {
  const slash = name.indexOf('/');
  if (slash <= 0 || slash === name.length - 1) return undefined;
  return { registry: name.slice(0, slash), repository: name.slice(slash + 1), reference: '' };
}

/**
 * Whether a configured list names this image name: an entry is a registry (`ghcr.io`,
 * `127.0.0.1:5000`, compared exactly but case-insensitively, docker.io aliases folded) or a
 * registry with a path prefix that ends at a path boundary (`ghcr.io/acme` matches
 * `ghcr.io/acme/app`, not `ghcr.io/acme-other/app`).
 */
export function registryEntryMatches(entry: string, name: string): boolean {
  const target = splitName(name);
  if (target === undefined) return false;
  const trimmed = entry.trim().replace(/\/+$/, '');
  if (trimmed === '') return false;
  const slash = trimmed.indexOf('/');
  const entryRegistry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const entryPath = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (normalizeRegistry(entryRegistry) !== normalizeRegistry(target.registry)) return false;
  return (
    entryPath === '' ||
    target.repository === entryPath ||
    target.repository.startsWith(`${entryPath}/`)
  );
}

export class VisibilityResolver {
  readonly #probe: ManifestProbe;
  readonly #now: () => number;
  readonly #probing: boolean;
  readonly #verifying: boolean;
  readonly #publicRegistries: readonly string[];
  readonly #nodeCredentialRegistries: readonly string[];
  readonly #probeOptions: ProbeOptions;
  readonly #answerTtlMs: number;
  readonly #answerTtlJitter: number;
  readonly #notFoundTtlMs: number;
  readonly #errorTtlMs: number;
  readonly #random: () => number;
  readonly #limits: RegistryHostLimits;
  readonly #rateWaitMs: number;
  /** Key: name. Anonymous answers apply to the whole repository, whatever reference gave them. */
  readonly #visibility: LruCache<string, Answer<RepositoryVisibility>>;
  /** Key: name@reference. */
  readonly #visibilityFailures: LruCache<string, Failure>;
  /**
   * Key: fingerprint|name. A registry grants pull on a repository (the token scope
   * `repository:NAME:pull`), not on one manifest, so a verdict holds for the repository.
   */
  readonly #verdicts: LruCache<string, VerdictEntry>;
  /** Key: registry host. The challenge its last anonymous 401 carried. */
  readonly #challenges: LruCache<string, UsableChallenge>;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #counts = { visibility: zeroCounts(), credential: zeroCounts() };

  constructor(options: VisibilityResolverOptions = {}) {
    this.#probe = options.probe ?? probeManifest;
    this.#now = options.now ?? Date.now;
    this.#probing = options.registryProbe !== 'off';
    this.#verifying = this.#probing && options.verifyCredentials !== false;
    this.#publicRegistries = options.publicRegistries ?? [];
    this.#nodeCredentialRegistries = options.nodeCredentialRegistries ?? [];
    this.#probeOptions = {
      insecureRegistries: options.insecureRegistries ?? [],
      timeoutMs: options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    };
    this.#answerTtlMs = options.answerTtlMs ?? DEFAULT_ANSWER_TTL_MS;
    this.#answerTtlJitter = Math.min(1, Math.max(0, options.answerTtlJitter ?? 0));
    this.#notFoundTtlMs = options.notFoundTtlMs ?? DEFAULT_ANSWER_TTL_MS;
    this.#errorTtlMs = options.errorTtlMs ?? DEFAULT_ERROR_TTL_MS;
    this.#random = options.random ?? Math.random;
    const limit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.#rateWaitMs = Math.max(0, options.rateWaitMs ?? 0);
    this.#limits = new RegistryHostLimits(
      { ...limit, concurrency: limit.concurrency ?? DEFAULT_RATE_LIMIT.concurrency },
      this.#now,
    );
    const size = options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
    this.#visibility = new LruCache(size);
    this.#visibilityFailures = new LruCache(size);
    this.#verdicts = new LruCache(size);
    this.#challenges = new LruCache(1024);
  }

  /** When a definite answer made at `at` expires: its TTL, less the jitter. */
  #definiteUntil(at: number): number {
    return at + this.#answerTtlMs * (1 - this.#answerTtlJitter * this.#random());
  }

  /**
   * Forgets every verdict on a credential, when its secret no longer holds it: a rotated
   * credential is a new fingerprint and a new question, and the old answers would only wait
   * in the cache to be evicted.
   */
  forgetCredential(fingerprint: string): void {
    const prefix = `${fingerprint}|`;
    for (const key of [...this.#verdicts.keys()])
      if (key.startsWith(prefix)) this.#verdicts.delete(key);
  }

  /**
   * Whether `name` (`registry/repository`) is public, from configuration or an anonymous probe
   * of `reference` (a digest or tag of an image of that repository).
   */
  async repositoryVisibility(name: string, reference: string): Promise<RepositoryVisibility> {
    const nodeCredentials = this.#nodeCredentialRegistries.some((e) =>
      registryEntryMatches(e, name),
    );
    if (this.#publicRegistries.some((e) => registryEntryMatches(e, name))) {
      return { visibility: 'public', basis: BASIS.publicListed, nodeCredentials };
    }
    // Every pod of the node can pull from such a registry: probing would change nothing.
    if (nodeCredentials)
      return { visibility: 'unknown', basis: BASIS.nodeCredentials, nodeCredentials };
    const unknown = (basis: string): RepositoryVisibility => ({
      visibility: 'unknown',
      basis,
      nodeCredentials: false,
    });
    if (!this.#probing) return unknown(BASIS.probeOff);
    const target = splitName(name);
    if (target === undefined) return unknown(BASIS.invalidName);

    const counts = this.#counts.visibility;
    const now = this.#now();
    const answer = this.#visibility.get(name);
    if (answer !== undefined && answer.expiresAt > now) {
      counts.cached++;
      return answer.value;
    }
    const failureKey = `${name}@${reference}`;
    const failure = this.#visibilityFailures.get(failureKey);
    if (failure !== undefined && failure.expiresAt > now) {
      counts.cached++;
      return keptOr(answer?.value, failure.basis, unknown);
    }

    const inflightKey = `visibility|${failureKey}`;
    const running = this.#inflight.get(inflightKey) as Promise<RepositoryVisibility> | undefined;
    if (running !== undefined) {
      counts.cached++;
      return running;
    }
    const place = this.#acquire(target.registry);
    if (place === undefined) {
      counts['rate-limited']++;
      return keptOr(answer?.value, BASIS.rateLimited, unknown);
    }

    const probing = (async (): Promise<RepositoryVisibility> => {
      const outcome = await this.#runProbe({ ...target, reference }, undefined, place);
      counts[outcome.result]++;
      const at = this.#now();
      switch (outcome.result) {
        case 'readable':
        case 'denied': {
          const value: RepositoryVisibility =
            outcome.result === 'readable'
              ? { visibility: 'public', basis: BASIS.readable, nodeCredentials: false }
              : {
                  visibility: 'private',
                  basis: `anonymous manifest request answered ${outcome.status}`,
                  nodeCredentials: false,
                };
          this.#visibility.set(name, { value, expiresAt: this.#definiteUntil(at) });
          this.#visibilityFailures.delete(failureKey);
          return value;
        }
        case 'not-found':
        case 'error': {
          const basis =
            outcome.result === 'not-found'
              ? BASIS.notFound
              : `registry probe failed: ${outcome.detail}`;
          const ttl = outcome.result === 'not-found' ? this.#notFoundTtlMs : this.#errorTtlMs;
          this.#visibilityFailures.set(failureKey, { basis, expiresAt: at + ttl });
          return keptOr(this.#visibility.peek(name)?.value, basis, unknown);
        }
      }
    })();
    return this.#track(inflightKey, probing);
  }

  /**
   * Whether `credential` can read `reference` (a manifest digest or tag) of `name`, by probing
   * the registry with it; cached per (fingerprint, name).
   */
  async verifyCredential(
    credential: RegistryAuthorization,
    name: string,
    reference: string,
  ): Promise<CredentialVerdict> {
    if (!this.#verifying) return 'unknown';
    const target = splitName(name);
    if (target === undefined) return 'unknown';

    const counts = this.#counts.credential;
    const key = `${credential.fingerprint}|${name}`;
    const entry = this.#verdicts.get(key);
    if (entry !== undefined && entry.expiresAt > this.#now()) {
      counts.cached++;
      return entry.lastKnown ?? 'unknown';
    }
    const inflightKey = `credential|${key}`;
    const running = this.#inflight.get(inflightKey) as Promise<CredentialVerdict> | undefined;
    if (running !== undefined) {
      counts.cached++;
      return running;
    }
    const place = this.#acquire(target.registry);
    if (place === undefined) {
      counts['rate-limited']++;
      return entry?.lastKnown ?? 'unknown';
    }

    const probing = (async (): Promise<CredentialVerdict> => {
      const outcome = await this.#runProbe({ ...target, reference }, credential, place);
      counts[outcome.result]++;
      const at = this.#now();
      const previous = this.#verdicts.peek(key)?.lastKnown;
      const lastKnown =
        outcome.result === 'readable'
          ? 'can-read'
          : outcome.result === 'denied'
            ? 'cannot-read'
            : previous;
      const expiresAt =
        outcome.result === 'readable' || outcome.result === 'denied'
          ? this.#definiteUntil(at)
          : at + (outcome.result === 'error' ? this.#errorTtlMs : this.#notFoundTtlMs);
      this.#verdicts.set(key, { lastKnown, expiresAt });
      return lastKnown ?? 'unknown';
    })();
    return this.#track(inflightKey, probing);
  }

  stats(): ResolverStats {
    return {
      visibility: { ...this.#counts.visibility },
      credential: { ...this.#counts.credential },
      cacheEntries: this.#visibility.size + this.#visibilityFailures.size + this.#verdicts.size,
    };
  }

  #acquire(registry: string): ReturnType<RegistryHostLimits['acquire']> {
    return this.#rateWaitMs > 0
      ? this.#limits.acquireWithin(registry, this.#rateWaitMs)
      : this.#limits.acquire(registry);
  }

  /** Probes once `place` (the registry host's limit) is given, and gives it back. */
  async #runProbe(
    target: ManifestTarget,
    credential: RegistryAuthorization | undefined,
    place: Release | Promise<Release>,
  ): Promise<ProbeOutcome> {
    const host = target.registry.toLowerCase();
    const knownChallenge = this.#challenges.get(host);
    const options: ProbeOptions = {
      ...this.#probeOptions,
      ...(credential === undefined ? {} : { credential }),
      ...(knownChallenge === undefined ? {} : { knownChallenge }),
      onChallenge: (challenge) => this.#challenges.set(host, challenge),
    };
    // Given at once (under the cap), the probe starts in this tick; else when a place frees.
    const release = typeof place === 'function' ? place : await place;
    try {
      return await this.#probe(target, options);
    } catch (error) {
      // The real probe never throws; an injected one that does must not wedge the cache.
      const name = error instanceof Error ? error.name : typeof error;
      return { result: 'error', detail: `the probe failed unexpectedly (${name})` };
    } finally {
      release();
    }
  }

  #track<T>(key: string, probing: Promise<T>): Promise<T> {
    this.#inflight.set(key, probing);
    const forget = (): void => {
      this.#inflight.delete(key);
    };
    probing.then(forget, forget);
    return probing;
  }
}

/** The last known answer, noting why it was not refreshed; otherwise `unknown` with `basis`. */
function keptOr(
  lastKnown: RepositoryVisibility | undefined,
  basis: string,
  unknown: (basis: string) => RepositoryVisibility,
): RepositoryVisibility {
  if (lastKnown === undefined) return unknown(basis);
  return { ...lastKnown, basis: `${lastKnown.basis} (last known; now: ${basis})` };
}

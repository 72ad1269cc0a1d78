// Asks a registry whether a manifest can be read, the way a container runtime would before a
// pull: HEAD the manifest anonymously, and on a 401 answer the registry's challenge (Basic:
// send the credential; Bearer: fetch a pull token from the realm, then retry). The distribution
// spec's token flow: https://distribution.github.io/distribution/spec/auth/token/
//
// The parts: address.ts (where a registry is, HTTPS or plain HTTP), http-request.ts (one request
// with its limits), token-flow.ts (Bearer challenge to token), probe-outcome.ts (answer to
// outcome). This module runs the sequence.
//
// The credential is a capability that hands out an Authorization header value; its secret
// never reaches a returned value, an error detail or a log line: details are built from
// status codes and error codes, and every header value sent is redacted from them again.
import type { RegistryAuthorization } from '../model/credential.ts';
import { err, ok, type Result } from '../result.ts';
import { manifestUrl, type ManifestTarget } from './address.ts';
import { parseWwwAuthenticate, preferredChallenge } from './challenge.ts';
import {
  discardBody,
  isSafeHeaderValue,
  sendRequest,
  type RequestLimits,
  type SentRequest,
} from './http-request.ts';
import {
  classifyManifestAnswer,
  errorOutcome,
  redactOutcome,
  type ProbeOutcome,
} from './probe-outcome.ts';
import { fetchPullToken } from './token-flow.ts';

export interface ProbeOptions {
  /** Without one, the probe is anonymous. */
  readonly credential?: RegistryAuthorization;
  /** Registries reached over plain HTTP: `host`, `host:port` or a CIDR (`10.0.0.0/8`). */
  readonly insecureRegistries?: readonly string[];
  /** Per HTTP request, body included. Default 5 s. */
  readonly timeoutMs?: number;
  /** Redirects followed per request. Default 5. */
  readonly maxRedirects?: number;
  readonly signal?: AbortSignal;
  /**
   * The challenge this registry answered an anonymous request with before. With a credential,
   * it is answered at once, without asking anonymously first (one request instead of two for
   * a Basic registry), as Docker's and containerd's resolvers reuse a host's challenge after
   * their first 401. A 401 to that answer starts over from the anonymous request: the
   * registry may have changed how it authenticates.
   */
  readonly knownChallenge?: UsableChallenge;
  /** Told the challenge an anonymous request was answered with, to be given back next time. */
  readonly onChallenge?: (challenge: UsableChallenge) => void;
}

/** A challenge a probe can answer: Basic, or Bearer with a realm. */
export type UsableChallenge = NonNullable<ReturnType<typeof preferredChallenge>>;

/** The function a resolver calls; `probeManifest` is the real one. */
export type ManifestProbe = (
  target: ManifestTarget,
  options: ProbeOptions,
) => Promise<ProbeOutcome>;

export const DEFAULT_PROBE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_REDIRECTS = 5;

/** What `docker pull` accepts, so registries that convert or negotiate answer as for a pull. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
].join(', ');

/** HEAD, or GET when a registry does not implement HEAD on manifests. */
async function requestManifest(
  limits: RequestLimits,
  url: URL,
  authorization: string | undefined,
): Promise<Result<SentRequest, ProbeOutcome>> {
  const headers = { accept: MANIFEST_ACCEPT };
  const head = await sendRequest(limits, 'HEAD', url, headers, authorization);
  if (!head.ok) return err(errorOutcome(head.error));
  if (head.value.response.status !== 405) return head;
  await discardBody(head.value.response);
  const get = await sendRequest(limits, 'GET', url, headers, authorization);
  return get.ok ? get : err(errorOutcome(get.error));
}

/** The credential's header value, or an error that says nothing about what it returned. */
function basicAuthorizationOf(credential: RegistryAuthorization): Result<string, ProbeOutcome> {
  let value: unknown;
  try {
    value = credential.basicAuthorization();
  } catch {
    return err(errorOutcome('the credential could not produce an Authorization header'));
  }
  if (typeof value !== 'string' || !/^basic [^\s]/i.test(value) || !isSafeHeaderValue(value)) {
    return err(errorOutcome('the credential did not produce a valid Basic Authorization header'));
  }
  return ok(value);
}

/** The probe's steps; every header value sent is added to `sensitive` for redaction. */
async function probe(
  target: ManifestTarget,
  options: ProbeOptions,
  limits: RequestLimits,
  sensitive: string[],
): Promise<ProbeOutcome> {
  const insecure = options.insecureRegistries ?? [];
  const url = manifestUrl(target, insecure);
  if (!url.ok) return errorOutcome(url.error);

  let basic: string | undefined;
  if (options.credential !== undefined) {
    const value = basicAuthorizationOf(options.credential);
    if (!value.ok) return value.error;
    basic = value.value;
    sensitive.push(basic, basic.slice('basic '.length).trim());
  }
  const steps: ChallengeSteps = { target, url: url.value, insecure, limits, sensitive, basic };

  if (options.knownChallenge !== undefined && basic !== undefined) {
    const answered = await answerChallenge(options.knownChallenge, steps);
    // Start over only when the registry now asks for another challenge (the remembered one is
    // stale); a refusal under the same challenge, or by the token server, is the answer.
    if (!answered.challengeChanged) return answered.outcome;
  }

  const anonymous = await requestManifest(limits, url.value, undefined);
  if (!anonymous.ok) return anonymous.error;
  const first = anonymous.value.response;
  if (first.status !== 401) return classifyManifestAnswer(first, 'anonymous manifest request');

  const header = first.headers.get('www-authenticate') ?? '';
  await discardBody(first);
  const challenge = preferredChallenge(parseWwwAuthenticate(header));
  if (challenge === undefined) {
    return {
      result: 'denied',
      status: 401,
      detail: 'anonymous manifest request answered 401 without a Basic or Bearer challenge',
    };
  }
  options.onChallenge?.(challenge);
  if (challenge.scheme === 'Basic' && basic === undefined) {
    return {
      result: 'denied',
      status: 401,
      detail: 'anonymous manifest request answered 401 (Basic challenge)',
    };
  }
  return (await answerChallenge(challenge, steps)).outcome;
}

interface ChallengeSteps {
  readonly target: ManifestTarget;
  readonly url: URL;
  readonly insecure: readonly string[];
  readonly limits: RequestLimits;
  readonly sensitive: string[];
  /** The credential's Basic header value; undefined: anonymous. */
  readonly basic: string | undefined;
}

interface ChallengeAnswer {
  readonly outcome: ProbeOutcome;
  /** The manifest request answered 401 with another challenge than the one answered. */
  readonly challengeChanged: boolean;
}

const answered = (outcome: ProbeOutcome): ChallengeAnswer => ({ outcome, challengeChanged: false });

/** Whether a 401 asks for something other than `answered` (another scheme or realm). */
function asksAnotherChallenge(response: Response, answeredChallenge: UsableChallenge): boolean {
  if (response.status !== 401) return false;
  const now = preferredChallenge(
    parseWwwAuthenticate(response.headers.get('www-authenticate') ?? ''),
  );
  if (now === undefined) return false;
  return (
    now.scheme !== answeredChallenge.scheme ||
    (now.scheme === 'Bearer' &&
      answeredChallenge.scheme === 'Bearer' &&
      now.realm !== answeredChallenge.realm)
  );
}

/** The manifest request again, as the challenge asks: with Basic, or with a pull token. */
async function answerChallenge(
  challenge: UsableChallenge,
  steps: ChallengeSteps,
): Promise<ChallengeAnswer> {
  const { limits, url, basic } = steps;
  if (challenge.scheme === 'Basic') {
    if (basic === undefined) return answered(errorOutcome('a Basic challenge needs a credential'));
    const retried = await requestManifest(limits, url, basic);
    if (!retried.ok) return answered(retried.error);
    const response = retried.value.response;
    return {
      challengeChanged: asksAnotherChallenge(response, challenge),
      outcome: await classifyManifestAnswer(response, 'manifest request with the credential'),
    };
  }

  const token = await fetchPullToken(
    limits,
    challenge,
    steps.target.repository,
    steps.insecure,
    basic,
  );
  if (!token.ok) return answered(token.error);
  steps.sensitive.push(token.value);
  const bearer = `Bearer ${token.value}`;
  const retried = await requestManifest(limits, url, bearer);
  if (!retried.ok) return answered(retried.error);
  const response = retried.value.response;
  return {
    challengeChanged: asksAnotherChallenge(response, challenge),
    outcome: await classifyManifestAnswer(
      response,
      basic === undefined
        ? 'manifest request with an anonymous token'
        : 'manifest request with a token for the credential',
    ),
  };
}

/**
 * Whether the manifest `target` names can be read, anonymously or with `options.credential`.
 * Never throws; every failure is an outcome.
 */
export async function probeManifest(
  target: ManifestTarget,
  options: ProbeOptions = {},
): Promise<ProbeOutcome> {
  const limits: RequestLimits = {
    timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    signal: options.signal,
  };
  const sensitive: string[] = [];
  let outcome: ProbeOutcome;
  try {
    outcome = await probe(target, options, limits, sensitive);
  } catch (error) {
    // Only a bug gets here; its message could quote a request header, so only its name is kept.
    const name = error instanceof Error ? error.name : typeof error;
    outcome = errorOutcome(`the probe failed unexpectedly (${name})`);
  }
  return redactOutcome(outcome, sensitive);
}

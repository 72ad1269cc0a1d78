// Asks a registry whether a manifest can be read, the way a container runtime would before a
// pull: HEAD the manifest anonymously, and on a 401 answer the registry's challenge (Basic:
// send the credential; Bearer: fetch a pull token from the realm, then retry). The distribution
// spec's token flow: https://distribution.github.io/distribution/spec/auth/token/
//
// The credential is a capability that hands out an Authorization header value; its secret
// never reaches a returned value, an error detail or a log line: details are built from
// status codes and error codes, and every header value sent is redacted from them again.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { anchoredDigestSyntaxRegExp, anchoredTagRegExp } from '../image/grammar.ts';
import { err, ok, type Result } from '../result.ts';
import { buildInfo } from '../version.ts';
import { parseChallenges, parseWwwAuthenticate, preferredChallenge } from './challenge.ts';

/** A manifest to ask about: `registry` is `host[:port]` as in an image reference. */
export interface ManifestTarget {
  readonly registry: string;
  /** The path without the registry, e.g. `library/nginx`. */
  readonly repository: string;
  /** A digest (`sha256:...`) or a tag. */
  readonly reference: string;
}

/**
 * A registry credential as a capability: the secret stays in the closure that made it.
 * `basicAuthorization()` returns the value of an `Authorization: Basic ...` header; the probe
 * calls it only to build request headers and never keeps or reports the value.
 */
export interface ProbeCredential {
  /** Identifies the credential without revealing it (a keyed fingerprint). */
  readonly fingerprint: string;
  basicAuthorization(): string;
}

export type ProbeOutcome =
  | { readonly result: 'readable' }
  /** The registry refused (401/403 from the manifest or token endpoint). */
  | { readonly result: 'denied'; readonly status: number; readonly detail: string }
  /** The registry answered 404: no such manifest, or a registry hiding what it will not serve. */
  | { readonly result: 'not-found' }
  /** No answer about access: network, TLS, timeout, 5xx, 429, malformed responses. */
  | { readonly result: 'error'; readonly detail: string };

export interface ProbeOptions {
  /** Without one, the probe is anonymous. */
  readonly credential?: ProbeCredential;
  /** Registries reached over plain HTTP: `host`, `host:port` or a CIDR (`10.0.0.0/8`). */
  readonly insecureRegistries?: readonly string[];
  /** Per HTTP request, body included. Default 5 s. */
  readonly timeoutMs?: number;
  /** Redirects followed per request. Default 5. */
  readonly maxRedirects?: number;
  readonly signal?: AbortSignal;
}

/** The function a resolver calls; `probeManifest` is the real one. */
export type ManifestProbe = (
  target: ManifestTarget,
  options: ProbeOptions,
) => Promise<ProbeOutcome>;

export const DEFAULT_PROBE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_REDIRECTS = 5;
/** A token response is a few KiB; anything near this is not a token server. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/** What `docker pull` accepts, so registries that convert or negotiate answer as for a pull. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
].join(', ');

const USER_AGENT = `pullwatch/${buildInfo.version}`;

// ---- registry addresses -------------------------------------------------------------------

export interface RegistryAddress {
  /** Lowercase host name or IP address (IPv6 without brackets). */
  readonly hostname: string;
  /** '' when absent. */
  readonly port: string;
  /** `hostname[:port]` with IPv6 in brackets, as in a URL. */
  readonly host: string;
}

const REGISTRY_HOST =
  /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::([0-9]{1,5}))?$/;

/** Parses `host[:port]` (IPv6 in brackets) as written in an image reference. */
export function parseRegistryAddress(registry: string): Result<RegistryAddress, string> {
  const match = REGISTRY_HOST.exec(registry);
  if (!match) return err(`not a registry host: ${JSON.stringify(registry.slice(0, 100))}`);
  const ipv6 = match[1];
  if (ipv6 !== undefined && !isIPv6(ipv6)) {
    return err(`not a registry host: ${JSON.stringify(registry.slice(0, 100))}`);
  }
  const port = match[3] ?? '';
  if (port !== '' && (Number(port) < 1 || Number(port) > 65535)) {
    return err(`registry port out of range: ${JSON.stringify(registry.slice(0, 100))}`);
  }
  const hostname = (ipv6 ?? match[2] ?? '').toLowerCase();
  const bracketed = ipv6 !== undefined ? `[${hostname}]` : hostname;
  return ok({ hostname, port, host: port === '' ? bracketed : `${bracketed}:${port}` });
}

// docker.io, index.docker.io and registry-1.docker.io are one registry; only the last serves /v2/.
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io']);
const DOCKER_HUB_API = 'registry-1.docker.io';

/** Docker treats loopback registries as insecure by default (moby registry/config.go). */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  if (isIPv4(hostname)) return hostname.startsWith('127.');
  if (isIPv6(hostname)) {
    const loopback = new BlockList();
    loopback.addAddress('::1', 'ipv6');
    return loopback.check(hostname, 'ipv6');
  }
  return false;
}

/**
 * Whether `address` is in a list of `host`, `host:port`, `[v6]:port` or CIDR entries
 * (the forms of dockerd's --insecure-registry). Unparsable entries match nothing.
 */
export function registryListIncludes(list: readonly string[], address: RegistryAddress): boolean {
  for (const entry of list) {
    const trimmed = entry.trim().toLowerCase();
    const slash = trimmed.indexOf('/');
    if (slash > 0) {
      const network = trimmed.slice(0, slash);
      const prefix = Number(trimmed.slice(slash + 1));
      const family = isIPv4(network) ? 'ipv4' : isIPv6(network) ? 'ipv6' : undefined;
      const addressFamily = isIPv4(address.hostname)
        ? 'ipv4'
        : isIPv6(address.hostname)
          ? 'ipv6'
          : undefined;
      if (family === undefined || family !== addressFamily || !Number.isInteger(prefix)) continue;
      try {
        const block = new BlockList();
        block.addSubnet(network, prefix, family);
        if (block.check(address.hostname, family)) return true;
      } catch {
        // a prefix out of range: the entry matches nothing
      }
      continue;
    }
    const parsed = parseRegistryAddress(trimmed);
    if (!parsed.ok) continue;
    if (parsed.value.hostname !== address.hostname) continue;
    if (parsed.value.port === '' || parsed.value.port === address.port) return true;
  }
  return false;
}

/** The base URL of a registry's API: `https://host[:port]`, or `http://` for insecure ones. */
export function registryBaseUrl(
  registry: string,
  insecureRegistries: readonly string[] = [],
): Result<string, string> {
  const parsed = parseRegistryAddress(registry);
  if (!parsed.ok) return parsed;
  const address = parsed.value;
  if (address.port === '' && DOCKER_HUB_NAMES.has(address.hostname)) {
    return ok(`https://${DOCKER_HUB_API}`);
  }
  const plain =
    isLoopbackHost(address.hostname) || registryListIncludes(insecureRegistries, address);
  return ok(`${plain ? 'http' : 'https'}://${address.host}`);
}

// distribution/reference's path grammar: lowercase components joined by '/'.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

/** `BASE/v2/<repository>/manifests/<reference>`, refusing anything that is not a valid name. */
export function manifestUrl(
  target: ManifestTarget,
  insecureRegistries: readonly string[] = [],
): Result<URL, string> {
  const base = registryBaseUrl(target.registry, insecureRegistries);
  if (!base.ok) return base;
  if (target.repository.length > 255 || !REPOSITORY.test(target.repository)) {
    return err(`not a repository path: ${JSON.stringify(target.repository.slice(0, 100))}`);
  }
  if (
    !anchoredDigestSyntaxRegExp.test(target.reference) &&
    !anchoredTagRegExp.test(target.reference)
  ) {
    return err(`not a tag or digest: ${JSON.stringify(target.reference.slice(0, 100))}`);
  }
  return ok(new URL(`${base.value}/v2/${target.repository}/manifests/${target.reference}`));
}

// ---- HTTP ---------------------------------------------------------------------------------

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// A header value fetch accepts and that cannot smuggle another header: visible ASCII and spaces.
const SAFE_HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Per-probe state: limits, and every sensitive value sent, to redact from details. */
interface Exchange {
  readonly timeoutMs: number;
  readonly maxRedirects: number;
  readonly signal: AbortSignal | undefined;
  readonly sensitive: string[];
}

interface Sent {
  readonly response: Response;
  /** Where the response came from, after redirects. */
  readonly url: URL;
}

/** Where a URL points, without query or fragment: enough to name it in a detail. */
function where(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function errorCode(error: unknown): string | undefined {
  if (error !== null && typeof error === 'object' && 'code' in error) {
    const code = error.code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code)) return code;
  }
  return undefined;
}

/** Words for a failed fetch, from error names and codes (never from request headers). */
function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `no answer within ${timeoutMs} ms`;
  }
  if (error instanceof Error && error.name === 'AbortError') return 'aborted';
  const cause = error instanceof Error ? error.cause : undefined;
  const code = errorCode(cause) ?? errorCode(error);
  if (code !== undefined) {
    if (/CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME/.test(code)) return `TLS error (${code})`;
    if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not resolved (${code})`;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return `connect timeout (${code})`;
    return code;
  }
  const message =
    cause instanceof Error ? cause.message : error instanceof Error ? error.message : '';
  return message === '' ? 'request failed' : message.slice(0, 200);
}

async function discardBody(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // the connection is gone already
  }
}

/**
 * One request, following redirects. `authorization` goes only to the origin first asked;
 * after a redirect to another origin (host, port or scheme) it is dropped for good.
 */
async function send(
  exchange: Exchange,
  method: 'HEAD' | 'GET',
  url: URL,
  headers: Readonly<Record<string, string>>,
  authorization: string | undefined,
): Promise<Result<Sent, string>> {
  const origin = url.origin;
  let current = url;
  let credentialAllowed = authorization !== undefined;
  for (let hop = 0; ; hop++) {
    const timeout = AbortSignal.timeout(exchange.timeoutMs);
    const signal =
      exchange.signal === undefined ? timeout : AbortSignal.any([timeout, exchange.signal]);
    const requestHeaders: Record<string, string> = { 'user-agent': USER_AGENT, ...headers };
    if (credentialAllowed && authorization !== undefined && current.origin === origin) {
      requestHeaders.authorization = authorization;
    }
    let response: Response;
    try {
      response = await fetch(current, {
        method,
        headers: requestHeaders,
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      return err(`${method} ${where(current)}: ${describeFetchError(error, exchange.timeoutMs)}`);
    }
    if (!REDIRECT_STATUSES.has(response.status)) return ok({ response, url: current });
    await discardBody(response);
    const location = response.headers.get('location');
    if (location === null) {
      return err(`${method} ${where(current)}: redirect ${response.status} without a Location`);
    }
    if (hop >= exchange.maxRedirects) {
      return err(`${method} ${where(url)}: more than ${exchange.maxRedirects} redirects`);
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      return err(`${method} ${where(current)}: redirect to an invalid URL`);
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') {
      return err(`${method} ${where(current)}: redirect to a ${next.protocol} URL`);
    }
    if (next.username !== '' || next.password !== '') {
      return err(`${method} ${where(current)}: redirect to a URL with user info`);
    }
    if (next.origin !== origin) credentialAllowed = false;
    current = next;
  }
}

/** The body, refusing more than `limit` bytes (by Content-Length or while reading). */
async function readBounded(
  exchange: Exchange,
  sent: Sent,
  limit: number,
): Promise<Result<Uint8Array, string>> {
  const { response } = sent;
  const declared = Number(response.headers.get('content-length') ?? 'NaN');
  if (Number.isFinite(declared) && declared > limit) {
    await discardBody(response);
    return err(`response of ${declared} bytes exceeds the ${limit}-byte limit`);
  }
  if (response.body === null) return ok(new Uint8Array(0));
  // undici's body is typed loosely; its chunks are Uint8Arrays.
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => undefined);
        return err(`response exceeds the ${limit}-byte limit`);
      }
      chunks.push(value);
    }
  } catch (error) {
    return err(`reading the response failed: ${describeFetchError(error, exchange.timeoutMs)}`);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return ok(body);
}

// ---- the probe ----------------------------------------------------------------------------

type Step = Result<Sent, ProbeOutcome>;

const errorOutcome = (detail: string): ProbeOutcome => ({ result: 'error', detail });

/** HEAD, or GET when a registry does not implement HEAD on manifests. */
async function requestManifest(
  exchange: Exchange,
  url: URL,
  authorization: string | undefined,
): Promise<Step> {
  const headers = { accept: MANIFEST_ACCEPT };
  const head = await send(exchange, 'HEAD', url, headers, authorization);
  if (!head.ok) return err(errorOutcome(head.error));
  if (head.value.response.status !== 405) return head;
  await discardBody(head.value.response);
  const get = await send(exchange, 'GET', url, headers, authorization);
  return get.ok ? get : err(errorOutcome(get.error));
}

/** The outcome of a manifest response once no (further) challenge will be answered. */
async function classify(sent: Sent, what: string): Promise<ProbeOutcome> {
  const { response } = sent;
  await discardBody(response);
  const status = response.status;
  if (status >= 200 && status < 300) return { result: 'readable' };
  if (status === 404) return { result: 'not-found' };
  if (status === 401 || status === 403) {
    const reason = challengeError(response);
    return {
      result: 'denied',
      status,
      detail: `${what} answered ${status}${reason === undefined ? '' : ` (${reason})`}`,
    };
  }
  if (status === 429) return errorOutcome(`${what} was rate-limited by the registry (429)`);
  return errorOutcome(`${what} answered ${status}`);
}

/** The `error` parameter of a Bearer challenge (RFC 6750), e.g. `insufficient_scope`. */
function challengeError(response: Response): string | undefined {
  const header = response.headers.get('www-authenticate');
  if (header === null) return undefined;
  for (const challenge of parseChallenges(header)) {
    const code = challenge.params.get('error');
    if (code !== undefined && /^[\w.-]{1,64}$/.test(code)) return code;
  }
  return undefined;
}

function tokenFromJson(body: Uint8Array): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const record = parsed as Record<string, unknown>;
  for (const field of ['token', 'access_token']) {
    const value = record[field];
    if (typeof value === 'string' && value !== '' && SAFE_HEADER_VALUE.test(value)) return value;
  }
  return undefined;
}

/** GET the realm for a pull token (distribution token spec), anonymously or with Basic auth. */
async function fetchToken(
  exchange: Exchange,
  challenge: { readonly realm: string; readonly service: string | undefined },
  target: ManifestTarget,
  insecureRegistries: readonly string[],
  authorization: string | undefined,
): Promise<Result<string, ProbeOutcome>> {
  let realm: URL;
  try {
    realm = new URL(challenge.realm);
  } catch {
    return err(errorOutcome('the Bearer challenge names an invalid token realm'));
  }
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
    return err(errorOutcome(`the token realm is a ${realm.protocol} URL`));
  }
  if (realm.username !== '' || realm.password !== '') {
    return err(errorOutcome('the token realm URL carries user info'));
  }
  if (authorization !== undefined && realm.protocol === 'http:') {
    const address = parseRegistryAddress(realm.host);
    const plainAllowed =
      address.ok &&
      (isLoopbackHost(address.value.hostname) ||
        registryListIncludes(insecureRegistries, address.value));
    if (!plainAllowed) {
      return err(
        errorOutcome(
          `not sending the credential to the plain-HTTP token realm ${where(realm)} ` +
            '(list it in the insecure registries to allow this)',
        ),
      );
    }
  }
  if (challenge.service !== undefined) realm.searchParams.append('service', challenge.service);
  realm.searchParams.append('scope', `repository:${target.repository}:pull`);
  const what =
    authorization === undefined ? 'anonymous token request' : 'token request with the credential';

  const sent = await send(exchange, 'GET', realm, { accept: 'application/json' }, authorization);
  if (!sent.ok) return err(errorOutcome(sent.error));
  const status = sent.value.response.status;
  if (status === 401 || status === 403) {
    await discardBody(sent.value.response);
    return err({ result: 'denied', status, detail: `${what} answered ${status}` });
  }
  if (status < 200 || status >= 300) {
    await discardBody(sent.value.response);
    return err(errorOutcome(`${what} answered ${status}`));
  }
  const body = await readBounded(exchange, sent.value, MAX_TOKEN_RESPONSE_BYTES);
  if (!body.ok) return err(errorOutcome(`${what}: ${body.error}`));
  const token = tokenFromJson(body.value);
  if (token === undefined) {
    return err(errorOutcome(`${what}: the response has no usable token or access_token`));
  }
  return ok(token);
}

function redact(outcome: ProbeOutcome, sensitive: readonly string[]): ProbeOutcome {
  if (outcome.result !== 'denied' && outcome.result !== 'error') return outcome;
  let detail = outcome.detail;
  for (const value of sensitive) {
    if (value.length >= 4) detail = detail.split(value).join('[redacted]');
  }
  return { ...outcome, detail };
}

/** The credential's header value, or an error that says nothing about what it returned. */
function basicAuthorizationOf(credential: ProbeCredential): Result<string, ProbeOutcome> {
  let value: unknown;
  try {
    value = credential.basicAuthorization();
  } catch {
    return err(errorOutcome('the credential could not produce an Authorization header'));
  }
  if (typeof value !== 'string' || !/^basic [^\s]/i.test(value) || !SAFE_HEADER_VALUE.test(value)) {
    return err(errorOutcome('the credential did not produce a valid Basic Authorization header'));
  }
  return ok(value);
}

async function probe(
  target: ManifestTarget,
  options: ProbeOptions,
  exchange: Exchange,
): Promise<ProbeOutcome> {
  const insecure = options.insecureRegistries ?? [];
  const url = manifestUrl(target, insecure);
  if (!url.ok) return errorOutcome(url.error);

  const anonymous = await requestManifest(exchange, url.value, undefined);
  if (!anonymous.ok) return anonymous.error;
  const first = anonymous.value.response;
  if (first.status !== 401) return classify(anonymous.value, 'anonymous manifest request');

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

  let basic: string | undefined;
  if (options.credential !== undefined) {
    const value = basicAuthorizationOf(options.credential);
    if (!value.ok) return value.error;
    basic = value.value;
    exchange.sensitive.push(basic, basic.slice('basic '.length).trim());
  }

  if (challenge.scheme === 'Basic') {
    if (basic === undefined) {
      return {
        result: 'denied',
        status: 401,
        detail: 'anonymous manifest request answered 401 (Basic challenge)',
      };
    }
    const retried = await requestManifest(exchange, url.value, basic);
    if (!retried.ok) return retried.error;
    return classify(retried.value, 'manifest request with the credential');
  }

  const token = await fetchToken(exchange, challenge, target, insecure, basic);
  if (!token.ok) return token.error;
  exchange.sensitive.push(token.value);
  const bearer = `Bearer ${token.value}`;
  const retried = await requestManifest(exchange, url.value, bearer);
  if (!retried.ok) return retried.error;
  return classify(
    retried.value,
    basic === undefined
      ? 'manifest request with an anonymous token'
      : 'manifest request with a token for the credential',
  );
}

/**
 * Whether the manifest `target` names can be read, anonymously or with `options.credential`.
 * Never throws; every failure is an outcome.
 */
export async function probeManifest(
  target: ManifestTarget,
  options: ProbeOptions = {},
): Promise<ProbeOutcome> {
  const exchange: Exchange = {
    timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    signal: options.signal,
    sensitive: [],
  };
  let outcome: ProbeOutcome;
  try {
    outcome = await probe(target, options, exchange);
  } catch (error) {
    // Only a bug gets here; its message could quote a request header, so only its name is kept.
    const name = error instanceof Error ? error.name : typeof error;
    outcome = errorOutcome(`the probe failed unexpectedly (${name})`);
  }
  return redact(outcome, exchange.sensitive);
}

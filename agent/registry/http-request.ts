// One HTTP request to a registry or its token server, the way the probe needs it: a timeout per
// request, redirects followed by hand so an Authorization header never follows the request to
// another origin, a bounded body, and failures described in words built from error names and
// codes, never from what was sent.
import { err, ok, type Result } from '../result.ts';
import { buildInfo } from '../version.ts';

/** Limits for every request of one probe. */
export interface RequestLimits {
  /** Per request, body included. */
  readonly timeoutMs: number;
  /** Redirects followed per request. */
  readonly maxRedirects: number;
  readonly signal: AbortSignal | undefined;
}

export interface SentRequest {
  readonly response: Response;
  /** Where the response came from, after redirects. */
  readonly url: URL;
}

const USER_AGENT = `pullwatch/${buildInfo.version}`;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// A header value fetch accepts and that cannot smuggle another header: visible ASCII and spaces.
const SAFE_HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Whether `value` can be sent as a header value without breaking the header block. */
export function isSafeHeaderValue(value: string): boolean {
  return SAFE_HEADER_VALUE.test(value);
}

/** Where a URL points, without query or fragment: enough to name it in a detail. */
export function where(url: URL): string {
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
export function describeFetchError(error: unknown, timeoutMs: number): string {
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

/** Lets go of a response whose body is not needed, so its connection can be reused or closed. */
export async function discardBody(response: Response): Promise<void> {
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
export async function sendRequest(
  limits: RequestLimits,
  method: 'HEAD' | 'GET',
  url: URL,
  headers: Readonly<Record<string, string>>,
  authorization: string | undefined,
): Promise<Result<SentRequest, string>> {
  const origin = url.origin;
  let current = url;
  let credentialAllowed = authorization !== undefined;
  for (let hop = 0; ; hop++) {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal =
      limits.signal === undefined ? timeout : AbortSignal.any([timeout, limits.signal]);
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
      return err(`${method} ${where(current)}: ${describeFetchError(error, limits.timeoutMs)}`);
    }
    if (!REDIRECT_STATUSES.has(response.status)) return ok({ response, url: current });
    await discardBody(response);
    const location = response.headers.get('location');
    if (location === null) {
      return err(`${method} ${where(current)}: redirect ${response.status} without a Location`);
    }
    if (hop >= limits.maxRedirects) {
      return err(`${method} ${where(url)}: more than ${limits.maxRedirects} redirects`);
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
export async function readBoundedBody(
  limits: RequestLimits,
  sent: SentRequest,
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
    return err(`reading the response failed: ${describeFetchError(error, limits.timeoutMs)}`);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return ok(body);
}

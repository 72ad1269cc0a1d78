// What a probe can conclude, and how a registry's answer to a manifest request becomes one of
// those conclusions once no (further) challenge will be answered: 2xx readable, 404 not found,
// 401/403 denied, anything else no answer about access. Details are built from status codes
// and registry error codes only.
import { parseChallenges } from './challenge.ts';
import { discardBody } from './http-request.ts';

export type ProbeOutcome =
  | { readonly result: 'readable' }
  /** The registry refused (401/403 from the manifest or token endpoint). */
  | { readonly result: 'denied'; readonly status: number; readonly detail: string }
  /** The registry answered 404: no such manifest, or a registry hiding what it will not serve. */
  | { readonly result: 'not-found' }
  /** No answer about access: network, TLS, timeout, 5xx, 429, malformed responses. */
  | { readonly result: 'error'; readonly detail: string };

export const errorOutcome = (detail: string): ProbeOutcome => ({ result: 'error', detail });

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

/**
 * The outcome of a manifest response, its body discarded. `what` names the request in the
 * detail ("anonymous manifest request", "manifest request with the credential", ...).
 */
export async function classifyManifestAnswer(
  response: Response,
  what: string,
): Promise<ProbeOutcome> {
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

/** `outcome` with every sensitive value (length 4 or more) in its detail replaced. */
export function redactOutcome(outcome: ProbeOutcome, sensitive: readonly string[]): ProbeOutcome {
  if (outcome.result !== 'denied' && outcome.result !== 'error') return outcome;
  let detail = outcome.detail;
  for (const value of sensitive) {
    if (value.length >= 4) detail = detail.split(value).join('[redacted]');
  }
  return { ...outcome, detail };
}

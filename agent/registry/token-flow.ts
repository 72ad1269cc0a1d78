// The distribution token flow: a registry's Bearer challenge names a realm; a GET there, with
// the service and a pull scope for the repository (anonymously or with the credential's Basic
// header), returns the token to retry the manifest request with.
// https://distribution.github.io/distribution/spec/auth/token/
import { err, ok, type Result } from '../result.ts';
import { parseRegistryAddress, plainHttpAllowed } from './address.ts';
import {
  discardBody,
  isSafeHeaderValue,
  readBoundedBody,
  sendRequest,
  where,
  type RequestLimits,
} from './http-request.ts';
import { errorOutcome, type ProbeOutcome } from './probe-outcome.ts';

/** A token response is a few KiB; anything near this is not a token server. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/** What the token request needs from a Bearer challenge. */
export interface TokenChallenge {
  readonly realm: string;
  readonly service: string | undefined;
}

/** `token`, or OAuth2's `access_token`, when it can be sent as a header value. */
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
    if (typeof value === 'string' && value !== '' && isSafeHeaderValue(value)) return value;
  }
  return undefined;
}

/**
 * GET the realm for a token to pull `repository`, anonymously or with `authorization` (a Basic
 * header value). The credential is never sent to a plain-HTTP realm unless that realm is on
 * loopback or listed in `insecureRegistries`.
 */
export async function fetchPullToken(
  limits: RequestLimits,
  challenge: TokenChallenge,
  repository: string,
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
    if (!address.ok || !plainHttpAllowed(address.value, insecureRegistries)) {
      return err(
        errorOutcome(
          `not sending the credential to the plain-HTTP token realm ${where(realm)} ` +
            '(list it in the insecure registries to allow this)',
        ),
      );
    }
  }
  if (challenge.service !== undefined) realm.searchParams.append('service', challenge.service);
  realm.searchParams.append('scope', `repository:${repository}:pull`);
  const what =
    authorization === undefined ? 'anonymous token request' : 'token request with the credential';

  const sent = await sendRequest(
    limits,
    'GET',
    realm,
    { accept: 'application/json' },
    authorization,
  );
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
  const body = await readBoundedBody(limits, sent.value, MAX_TOKEN_RESPONSE_BYTES);
  if (!body.ok) return err(errorOutcome(`${what}: ${body.error}`));
  const token = tokenFromJson(body.value);
  if (token === undefined) {
    return err(errorOutcome(`${what}: the response has no usable token or access_token`));
  }
  return ok(token);
}

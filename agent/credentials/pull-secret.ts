// Reads an image pull secret the way the kubelet does (kubernetes pkg/credentialprovider/
// config.go and secrets/secrets.go) and turns each registry entry into something that
// identifies the credential without holding it: the raw username and password never leave
// this module. Problems are values whose messages name the secret and registry key but never
// carry credential material.
import { Buffer } from 'node:buffer';
import {
  credentialFingerprint,
  kubeletCredentialHash,
  type CredentialFingerprint,
  type CredentialHash,
  type FingerprintKey,
} from './credential-identity.ts';
import { parseGoJson, type GoJsonMember, type GoJsonValue } from './go-json.ts';
import {
  decodeBase64,
  decodeUtf8,
  jsonKeySelectsField,
  paddedBase64DecodedLength,
} from './go-text.ts';
import { parseRegistryKey, type RegistryKeyMatcher } from './keyring.ts';
import type { RegistryAuthorization } from '../model/credential.ts';
import { err, ok, type Result } from '../result.ts';

export {
  createFingerprintKey,
  kubeletAuthConfigJson,
  kubeletCredentialHash,
  type CredentialFingerprint,
  type CredentialHash,
  type FingerprintKey,
} from './credential-identity.ts';
export { goJsonString } from './go-json.ts';

export type PullSecretType = 'kubernetes.io/dockerconfigjson' | 'kubernetes.io/dockercfg';

const DATA_KEY: Record<PullSecretType, string> = {
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
  'kubernetes.io/dockercfg': '.dockercfg',
};

/** Kubernetes refuses Secrets above 1 MiB; anything bigger did not come from the API server. */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;

/** One registry entry of a pull secret, reduced to what can be compared and shown safely. */
export interface RegistryCredential {
  /** The entry's registry key as written ("https://index.docker.io/v1/"); userinfo masked. */
  readonly key: string;
  readonly matcher: RegistryKeyMatcher;
  /** HMAC of (username, password) under the agent's key: equal iff the credentials are equal. */
  readonly fingerprint: CredentialFingerprint;
  /** What the kubelet writes into ImagePulledRecord credentialHash for this credential. */
  readonly credentialHash: CredentialHash;
  /** False for an entry without a username (anonymous, or a token-only entry). */
  readonly hasUsername: boolean;
  /**
   * Presents the credential to its registry, for verifying that it can read an image; the
   * username and password live only in its closure. Undefined without a username.
   */
  readonly authorization: RegistryAuthorization | undefined;
}

function sealAuthorization(
  fingerprint: string,
  username: Uint8Array,
  password: Uint8Array,
): RegistryAuthorization | undefined {
  if (username.length === 0) return undefined;
  const userPass = Buffer.concat([username, Buffer.from(':'), password]);
  return Object.freeze({
    fingerprint,
    basicAuthorization: () => `Basic ${userPass.toString('base64')}`,
  });
}

export interface SecretCoordinates {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface ParsedPullSecret {
  readonly secret: SecretCoordinates;
  readonly type: PullSecretType;
  /** In document order; for a registry key written twice, the last entry (as in Go's map). */
  readonly credentials: readonly RegistryCredential[];
  /** Entries that were skipped. */
  readonly warnings: readonly InvalidEntryProblem[];
  /**
   * False when an entry breaks Go's json.Unmarshal of the secret (see `kubeletRejectsSecret`):
   * the kubelet's MakeDockerKeyring then fails, and every pull of a pod listing this secret
   * fails with it, whatever its other secrets hold.
   */
  readonly kubeletAcceptsSecret: boolean;
}

interface ProblemBase {
  /** "namespace/name" of the secret. */
  readonly secret: string;
  readonly message: string;
}

export interface InvalidEntryProblem extends ProblemBase {
  readonly kind: 'invalid-entry';
  /** The entry's registry key, userinfo masked. */
  readonly registryKey: string;
  /** The kubelet refuses the whole secret over this entry, not just the entry. */
  readonly kubeletRejectsSecret: boolean;
}

export type SecretProblem =
  | (ProblemBase & { readonly kind: 'wrong-type'; readonly secretType: string })
  | (ProblemBase & { readonly kind: 'missing-key'; readonly dataKey: string })
  | (ProblemBase & { readonly kind: 'invalid-base64'; readonly dataKey: string })
  | (ProblemBase & { readonly kind: 'invalid-json'; readonly dataKey: string })
  | (ProblemBase & {
      readonly kind: 'too-large';
      readonly dataBytes: number;
      readonly limitBytes: number;
    })
  | InvalidEntryProblem;

export type SecretProblemKind = SecretProblem['kind'];

// What Go's decoding of one entry yields, still holding the credential: never exported.
interface DecodedEntry {
  readonly username: Uint8Array;
  readonly password: Uint8Array;
  readonly email: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  return typeof value === 'string' ? value : '';
}

// Text from the secret that is not credential material but is attacker-chosen: keep it short
// and free of control characters before it goes into a message.
function printable(text: string, max = 120): string {
  // eslint-disable-next-line no-control-regex -- replacing control characters is the point.
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Masks "user:password@" in a registry key such as "https://user:pass@registry.example.com". */
export function maskKeyUserinfo(key: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(key)?.[0] ?? '';
  const rest = key.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  return at < 0 ? key : `${scheme}***@${rest.slice(at + 1)}`;
}

// unicode.IsSpace, used by strings.TrimSpace; not the same set as JavaScript's \s.
function isGoSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

// strings.HasSuffix(strings.TrimSpace(s), "="), by a scan from the end (a regular expression
// anchored at the end would backtrack quadratically on long runs of spaces).
function endsWithPaddingAfterTrim(s: string): boolean {
  let end = s.length;
  while (end > 0 && isGoSpace(s.charCodeAt(end - 1))) end--;
  return end > 0 && s.charCodeAt(end - 1) === 0x3d;
}

type EntryOutcome =
  | { readonly ok: true; readonly entry: DecodedEntry }
  | { readonly ok: false; readonly reason: string };

// DockerConfigEntry.UnmarshalJSON (config.go): any error here fails the kubelet's
// json.Unmarshal of the whole secret.
function decodeEntry(value: GoJsonValue): EntryOutcome {
  const fields = { username: '', password: '', email: '', auth: '' };
  if (value.kind === 'object') {
    for (const [name, member] of value.members) {
      const field = (['username', 'password', 'email', 'auth'] as const).find((f) =>
        jsonKeySelectsField(name, f),
      );
      if (field === undefined || member.kind === 'null') continue;
      if (member.kind !== 'string') return { ok: false, reason: `its ${field} is not a string` };
      fields[field] = member.value;
    }
  } else if (value.kind !== 'null') {
    return { ok: false, reason: 'it is not a JSON object' };
  }
  if (fields.auth.length === 0) {
    return {
      ok: true,
      entry: {
        username: Buffer.from(fields.username, 'utf8'),
        password: Buffer.from(fields.password, 'utf8'),
        email: fields.email,
      },
    };
  }
  // decodeDockerConfigFieldAuth: padded base64 if the trimmed value ends in '=', else unpadded;
  // the decoded "user:password" replaces any username and password fields.
  const padded = endsWithPaddingAfterTrim(fields.auth);
  const decoded = decodeBase64(fields.auth, padded ? 'padded' : 'raw');
  if (decoded === undefined) return { ok: false, reason: 'its auth is not valid base64' };
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return { ok: false, reason: 'its auth does not decode to "username:password"' };
  return {
    ok: true,
    entry: {
      username: decoded.subarray(0, colon),
      password: decoded.subarray(colon + 1),
      email: fields.email,
    },
  };
}

// The registry entries in document order, duplicates included, with a `null` marking where a
// later "auths": null empties the map again; or why Go's Unmarshal fails on the document's
// structure (the root, "auths" or "HttpHeaders" of the wrong JSON type).
function registryEntries(
  type: PullSecretType,
  root: GoJsonValue,
): Result<(GoJsonMember | null)[], string> {
  if (root.kind === 'null') return ok([]);
  if (root.kind !== 'object') return err('it is not a JSON object');
  if (type === 'kubernetes.io/dockercfg') return ok([...root.members]);
  // DockerConfigJSON: a later "auths" adds to the map an earlier one made; null clears it.
  const entries: (GoJsonMember | null)[] = [];
  for (const [name, value] of root.members) {
    if (jsonKeySelectsField(name, 'auths')) {
      if (value.kind === 'null') entries.push(null);
      else if (value.kind === 'object') entries.push(...value.members);
      else return err('its "auths" is not a JSON object');
    } else if (jsonKeySelectsField(name, 'httpheaders')) {
      const valid =
        value.kind === 'null' ||
        (value.kind === 'object' &&
          value.members.every(([, v]) => v.kind === 'string' || v.kind === 'null'));
      if (!valid) return err('its "HttpHeaders" is not an object of strings');
    }
  }
  return ok(entries);
}

/**
 * Parses a Secret object as the API server returns it (`data` values base64) into registry
 * credentials. Only `kubernetes.io/dockerconfigjson` (key `.dockerconfigjson`) and
 * `kubernetes.io/dockercfg` (key `.dockercfg`) are pull secrets, as for the kubelet.
 * Never throws; problems with the whole secret are errors, problems with one entry are warnings.
 */
export function parsePullSecret(
  secret: unknown,
  fingerprintKey: FingerprintKey,
): Result<ParsedPullSecret, SecretProblem> {
  const object = isRecord(secret) ? secret : {};
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  const coordinates: SecretCoordinates = {
    namespace: stringField(metadata, 'namespace'),
    name: stringField(metadata, 'name'),
    uid: stringField(metadata, 'uid'),
  };
  const label = `${printable(coordinates.namespace || '?', 253)}/${printable(coordinates.name || '?', 253)}`;

  const rawType = isRecord(secret) ? object['type'] : undefined;
  if (rawType !== 'kubernetes.io/dockerconfigjson' && rawType !== 'kubernetes.io/dockercfg') {
    const secretType = typeof rawType === 'string' ? printable(rawType) : '';
    return err({
      kind: 'wrong-type',
      secret: label,
      secretType,
      message: isRecord(secret)
        ? `secret ${label} has type "${secretType || 'Opaque'}", not a pull secret type (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg)`
        : `secret ${label} is not a Secret object`,
    });
  }
  const type: PullSecretType = rawType;
  const dataKey = DATA_KEY[type];
  const data = isRecord(object['data']) ? object['data'] : {};

  let dataBytes = 0;
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string') {
      return err({
        kind: 'invalid-base64',
        secret: label,
        dataKey: printable(key),
        message: `secret ${label}: data "${printable(key)}" is not a base64 string`,
      });
    }
    dataBytes += paddedBase64DecodedLength(value);
  }
  if (dataBytes > MAX_SECRET_DATA_BYTES) {
    return err({
      kind: 'too-large',
      secret: label,
      dataBytes,
      limitBytes: MAX_SECRET_DATA_BYTES,
      message: `secret ${label} holds ${dataBytes} bytes of data, more than the ${MAX_SECRET_DATA_BYTES} a Secret may hold`,
    });
  }

  const encoded = data[dataKey];
  if (typeof encoded !== 'string') {
    return err({
      kind: 'missing-key',
      secret: label,
      dataKey,
      message: `secret ${label} of type ${type} has no "${dataKey}" data; the kubelet ignores it`,
    });
  }
  const bytes = decodeBase64(encoded, 'padded');
  if (bytes === undefined) {
    return err({
      kind: 'invalid-base64',
      secret: label,
      dataKey,
      message: `secret ${label}: data "${dataKey}" is not valid base64`,
    });
  }
  if (bytes.length === 0) {
    return err({
      kind: 'missing-key',
      secret: label,
      dataKey,
      message: `secret ${label}: data "${dataKey}" is empty; the kubelet ignores it`,
    });
  }

  const document = parseGoJson(decodeUtf8(bytes).text);
  if (!document.ok) {
    return err({
      kind: 'invalid-json',
      secret: label,
      dataKey,
      message: `secret ${label}: data "${dataKey}" is not valid JSON (${document.error.reason} at character ${document.error.offset}); the kubelet rejects the secret`,
    });
  }
  const members = registryEntries(type, document.value);
  if (!members.ok) {
    return err({
      kind: 'invalid-json',
      secret: label,
      dataKey,
      message: `secret ${label}: data "${dataKey}" does not have the ${type} layout: ${members.error}; the kubelet rejects the secret`,
    });
  }

  const warnings: InvalidEntryProblem[] = [];
  let kubeletAcceptsSecret = true;
  const entryWarning = (key: string, reason: string, rejectsSecret: boolean): void => {
    const registryKey = maskKeyUserinfo(key);
    warnings.push({
      kind: 'invalid-entry',
      secret: label,
      registryKey,
      kubeletRejectsSecret: rejectsSecret,
      message: `secret ${label}: entry "${printable(registryKey)}" skipped: ${reason}${rejectsSecret ? '; the kubelet rejects the whole secret' : ''}`,
    });
  };

  // Go decodes into a map: a key written twice keeps its last value.
  const entries = new Map<string, DecodedEntry>();
  for (const member of members.value) {
    if (member === null) {
      entries.clear();
      continue;
    }
    const [key, value] = member;
    const outcome = decodeEntry(value);
    if (outcome.ok) {
      entries.set(key, outcome.entry);
    } else {
      entries.delete(key);
      kubeletAcceptsSecret = false;
      entryWarning(key, outcome.reason, true);
    }
  }

  const credentials: RegistryCredential[] = [];
  for (const [key, entry] of entries) {
    const matcher = parseRegistryKey(key);
    if (!matcher.ok) {
      entryWarning(key, matcher.error, false);
      continue;
    }
    const fingerprint = credentialFingerprint(fingerprintKey, entry.username, entry.password);
    credentials.push({
      key: maskKeyUserinfo(key),
      matcher: matcher.value,
      fingerprint,
      credentialHash: kubeletCredentialHash(entry.username, entry.password, entry.email),
      hasUsername: entry.username.length > 0,
      authorization: sealAuthorization(fingerprint, entry.username, entry.password),
    });
  }

  return ok({ secret: coordinates, type, credentials, warnings, kubeletAcceptsSecret });
}

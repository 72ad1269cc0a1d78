// Two ways to recognise a registry credential without keeping it: the kubelet's own
// credentialHash (KEP-2535), which its pulled-image records carry, and our keyed fingerprint,
// which cannot be reversed by guessing passwords without the agent's key.
import { Buffer } from 'node:buffer';
import { createHash, createHmac } from 'node:crypto';
import { goJsonString } from './go-json.ts';
import type { Brand } from '../brand.ts';
import type { CredentialFingerprint, CredentialHash } from '../model/credential.ts';

export type { CredentialFingerprint, CredentialHash } from '../model/credential.ts';
import { err, ok, type Result } from '../result.ts';

/** The agent's secret HMAC key, kept in its state directory. */
export type FingerprintKey = Brand<Buffer, 'FingerprintKey'>;

export const MIN_FINGERPRINT_KEY_BYTES = 32;

/** Wraps (a copy of) the agent's key; refuses keys shorter than 32 bytes. */
export function createFingerprintKey(bytes: Uint8Array): Result<FingerprintKey, string> {
  if (bytes.byteLength < MIN_FINGERPRINT_KEY_BYTES) {
    return err(
      `a fingerprint key needs at least ${MIN_FINGERPRINT_KEY_BYTES} bytes, got ${bytes.byteLength}`,
    );
  }
  return ok(Buffer.from(bytes) as FingerprintKey);
}

type Text = string | Uint8Array;

function toBytes(value: Text): Buffer {
  return typeof value === 'string'
    ? Buffer.from(value, 'utf8')
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * The exact text the kubelet hashes: `json.Marshal` of credentialprovider.AuthConfig, whose
 * fields are, in order, username, password, auth, email, serveraddress, identitytoken,
 * registrytoken, each `omitempty`. BasicDockerKeyring.Add builds it from a pull secret entry
 * with only Username, Password and Email set (an `auth` value was already decoded into
 * username and password), so the other four never appear. Email IS part of the hash: Add copies
 * `Email: ident.Email` into the AuthConfig before NewTrackedAuthConfig hashes it
 * (pkg/credentialprovider/keyring.go, hashAuthConfig), so two secrets with the same username
 * and password but different emails get different credentialHash values.
 */
export function kubeletAuthConfigJson(username: Text, password: Text, email: Text = ''): string {
  const fields: string[] = [];
  if (username.length > 0) fields.push(`"username":${goJsonString(username)}`);
  if (password.length > 0) fields.push(`"password":${goJsonString(password)}`);
  if (email.length > 0) fields.push(`"email":${goJsonString(email)}`);
  return `{${fields.join(',')}}`;
}

/** The KEP-2535 credentialHash the kubelet records for a pull-secret credential. */
export function kubeletCredentialHash(
  username: Text,
  password: Text,
  email: Text = '',
): CredentialHash {
  const json = kubeletAuthConfigJson(username, password, email);
  return createHash('sha256').update(json, 'utf8').digest('hex') as CredentialHash;
}

/**
 * HMAC-SHA256 under `key` of a length-prefixed encoding of (username, password), so that no
 * two different pairs share an input: a version tag, then for each field its byte length as
 * a 32-bit big-endian integer followed by its bytes.
 */
export function credentialFingerprint(
  key: FingerprintKey,
  username: Text,
  password: Text,
): CredentialFingerprint {
  const hmac = createHmac('sha256', key);
  hmac.update('pullwatch-credential-fingerprint-v1\0');
  for (const field of [toBytes(username), toBytes(password)]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(field.byteLength);
    hmac.update(length);
    hmac.update(field);
  }
  return hmac.digest('hex') as CredentialFingerprint;
}

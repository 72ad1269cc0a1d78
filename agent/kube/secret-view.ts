// A pull secret read by name, turned at once into a SecretView: credentials reduced to matcher,
// fingerprint and kubelet credentialHash, problems as messages that name namespace/name and
// never carry secret material. Pure.
import type { CredentialView, SecretView } from '../model/snapshot.ts';
import { parsePullSecret, type FingerprintKey } from '../credentials/pull-secret.ts';

export interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

/** The view of a Secret object (as the API server returns it, `data` in base64). */
export function secretViewFromObject(
  ref: SecretRef,
  secret: unknown,
  fingerprintKey: FingerprintKey,
): SecretView {
  const parsed = parsePullSecret(secret, fingerprintKey);
  if (!parsed.ok) {
    return { state: 'malformed', ...ref, problem: parsed.error.message };
  }
  if (!parsed.value.kubeletAcceptsSecret) {
    // The kubelet's keyring refuses the whole secret: no pull can have used any of its entries.
    const reasons = parsed.value.warnings
      .filter((w) => w.kubeletRejectsSecret)
      .map((w) => w.message);
    return {
      state: 'malformed',
      ...ref,
      problem:
        reasons.join('; ') || `secret ${ref.namespace}/${ref.name} is refused by the kubelet`,
    };
  }
  const credentials: CredentialView[] = parsed.value.credentials.map((c) => ({
    matcher: c.matcher,
    fingerprint: c.fingerprint,
    credentialHash: c.credentialHash,
    // The sealed capability the agent verifies a tenant's own credential with (never data).
    check:
      c.authorization === undefined ? undefined : { via: 'self', authorization: c.authorization },
  }));
  return { state: 'ok', ...ref, credentials };
}

/**
 * The view when reading the secret failed. `status` is the HTTP status when the server
 * answered; `cause` a short error code otherwise. Server bodies are never quoted.
 */
export function secretViewForReadFailure(
  ref: SecretRef,
  status: number | undefined,
  cause: string,
): SecretView {
  const label = `${ref.namespace}/${ref.name}`;
  if (status === 404) {
    return { state: 'missing', ...ref, problem: `pull secret ${label} does not exist` };
  }
  if (status === 403) {
    return {
      state: 'unreadable',
      ...ref,
      problem: `reading pull secret ${label} is forbidden (HTTP 403): the agent needs "get" on secrets`,
    };
  }
  // Anything else (network, 5xx, 429) may pass by itself: the secret's content is unknown, not
  // empty, and the reader tries again.
  return {
    state: 'unavailable',
    ...ref,
    problem: `reading pull secret ${label} failed: ${status !== undefined ? `HTTP ${status}` : cause}; retrying`,
  };
}

// The one shape in which a registry credential travels through the agent: from the pull
// secret that holds it (credentials/pull-secret.ts), through the snapshot and the loop, to the
// registry probe that presents it (registry/probe.ts), and the ways it is recognised without
// being kept: a keyed fingerprint (ours) and the kubelet's credentialHash.
import type { Brand } from '../brand.ts';

/**
 * How a tenant's credential is checked against a registry ("can it read this repository?"):
 * by whoever holds this view, presenting the sealed capability itself ('self': the controller,
 * or an agent in direct mode), or through the controller, which holds the secret and is told
 * which of its credentials to present ('controller': an agent in the default brokered mode).
 */
export type CredentialCheck =
  | { readonly via: 'self'; readonly authorization: RegistryAuthorization }
  | {
      readonly via: 'controller';
      readonly namespace: string;
      readonly secret: string;
      readonly fingerprint: string;
    };

/**
 * A registry credential as a capability: it can present itself to a registry but holds nothing
 * that reveals it. The username and password live only in the closure behind
 * `basicAuthorization()`; no property holds them, so neither JSON.stringify nor util.inspect
 * nor a logger can serialize, log or store them by accident. A caller uses the value to build
 * request headers and never keeps or reports it.
 */
export interface RegistryAuthorization {
  /** Identifies the credential without revealing it (a keyed fingerprint). */
  readonly fingerprint: string;
  /** The value of an `Authorization: Basic ...` header. */
  basicAuthorization(): string;
}

/** Hex SHA-256 of the kubelet's JSON-encoded AuthConfig, as in ImagePulledRecord credentialHash. */
export type CredentialHash = Brand<string, 'CredentialHash'>;

/** Hex HMAC-SHA256 of (username, password) under the agent's FingerprintKey. */
export type CredentialFingerprint = Brand<string, 'CredentialFingerprint'>;

// Whether a pod may use a cached private image: the questions the kubelet's KEP-2535
// verification asks, answered from what the snapshot knows.
import type { ImageLocation } from '../credentials/keyring.ts';
import { Keyring } from '../credentials/keyring.ts';
import type {
  CredentialView,
  ImageProvenance,
  NodeSnapshot,
  PodView,
  TenantId,
} from '../model/snapshot.ts';
import type { DetectionMemory } from './memory.ts';
import { isPossibleOwner, secretKey, verdictKey } from '../model/snapshot.ts';

export type Access =
  | { readonly kind: 'owner-tenant' }
  /** The pod holds the very credential the image was pulled with (the kubelet accepts that). */
  | { readonly kind: 'same-credential'; readonly secret: string }
  | { readonly kind: 'registry-allows'; readonly secret: string }
  | { readonly kind: 'unverified'; readonly secrets: readonly string[] }
  /** No known credential matches, but some of the pod's pull secrets are not known yet. */
  | { readonly kind: 'unknown-secrets'; readonly secrets: readonly string[] }
  | { readonly kind: 'refused'; readonly secrets: readonly string[] }
  | { readonly kind: 'no-credential'; readonly notes: readonly string[] };

export function isAuthorized(access: Access): boolean {
  return (
    access.kind === 'owner-tenant' ||
    access.kind === 'same-credential' ||
    access.kind === 'registry-allows'
  );
}

interface HeldCredential {
  readonly secret: string;
  readonly credential: CredentialView;
  readonly matcher: CredentialView['matcher'];
}

export interface PodKeyring {
  readonly keyring: Keyring<HeldCredential>;
  /** Unusable pull secrets, said once per pod. */
  readonly notes: readonly string[];
  /**
   * Pull secrets whose content is not known yet (not read yet, or the read failed in a way that
   * may pass), as namespace/name. While any is, the keyring may lack the credential the kubelet
   * would try first: "holds no matching credential" cannot be concluded from it.
   */
  readonly unknownSecrets: readonly string[];
}

// Pods of one namespace naming the same pull secrets hold the same keyring: compiled once per
// secrets map (one per snapshot), so each (pods, image) question costs a lookup, not a parse.
// Without a memory (one-off callers, tests), each call compiles afresh.
export function keyringOf(
  secrets: NodeSnapshot['secrets'],
  pod: PodView,
  memory?: DetectionMemory,
): PodKeyring {
  if (memory === undefined) return compileKeyring(secrets, pod);
  let compiled = memory.keyrings.get(secrets);
  if (compiled === undefined) {
    compiled = new Map();
    memory.keyrings.set(secrets, compiled);
  }
  const group = `${pod.namespace}\0${pod.pullSecretNames.join('\0')}`;
  let entry = compiled.get(group);
  if (entry === undefined) {
    entry = compileKeyring(secrets, pod);
    compiled.set(group, entry);
  }
  return entry;
}

function compileKeyring(secrets: NodeSnapshot['secrets'], pod: PodView): PodKeyring {
  const held: HeldCredential[] = [];
  const notes: string[] = [];
  const unknownSecrets: string[] = [];
  for (const name of pod.pullSecretNames) {
    const secret = secrets.get(secretKey(pod.namespace, name));
    if (secret === undefined || secret.state === 'unavailable') {
      unknownSecrets.push(`${pod.namespace}/${name}`);
      continue;
    }
    if (secret.state !== 'ok') {
      notes.push(
        `pull secret ${pod.namespace}/${name} is ${secret.state} (${secret.problem}) and gives no credential`,
      );
      continue;
    }
    for (const credential of secret.credentials) {
      held.push({ secret: `${pod.namespace}/${name}`, credential, matcher: credential.matcher });
    }
  }
  return { keyring: new Keyring(held), notes, unknownSecrets };
}

/**
 * The pod's credentials for an image, in the order the kubelet would try them, plus notes on
 * unusable secrets and the secrets whose content is not known yet.
 */
export function podCredentialsFor(
  secrets: NodeSnapshot['secrets'],
  pod: PodView,
  location: ImageLocation,
  memory?: DetectionMemory,
): {
  readonly matching: readonly HeldCredential[];
  readonly notes: readonly string[];
  readonly unknownSecrets: readonly string[];
} {
  const { keyring, notes, unknownSecrets } = keyringOf(secrets, pod, memory);
  return { matching: keyring.lookup(location), notes, unknownSecrets };
}

export function accessOf(
  snapshot: NodeSnapshot,
  pod: PodView,
  location: ImageLocation & { readonly name: string },
  imageId: string,
  provenance: ImageProvenance | undefined,
  memory?: DetectionMemory,
): Access {
  return accessWith(
    snapshot,
    snapshot.tenantOfNamespace(pod.namespace),
    keyringOf(snapshot.secrets, pod, memory),
    location,
    imageId,
    provenance,
  );
}

/** accessOf for a tenant's pods holding `held`: what pods of one (namespace, pull secrets) group share. */
export function accessWith(
  snapshot: NodeSnapshot,
  tenant: TenantId,
  held: PodKeyring,
  location: ImageLocation & { readonly name: string },
  imageId: string,
  provenance: ImageProvenance | undefined,
): Access {
  // A possible owner (a bootstrap guess nobody could verify) authorizes nobody: were it trusted,
  // a tenant holding a wrong credential for the registry would whitewash its own use.
  const owners = (provenance?.owners ?? []).filter((o) => !isPossibleOwner(o));
  if (owners.some((o) => o.tenant === tenant)) return { kind: 'owner-tenant' };

  const matching = held.keyring.lookup(location);
  // A secret not read yet may hold the matching credential: unknown, never "holds none".
  if (matching.length === 0 && held.unknownSecrets.length > 0)
    return { kind: 'unknown-secrets', secrets: held.unknownSecrets };
  if (matching.length === 0) return { kind: 'no-credential', notes: held.notes };

  const unverified: string[] = [];
  const refused: string[] = [];
  for (const { credential, secret } of matching) {
    if (
      owners.some(
        (o) =>
          (o.fingerprint !== undefined && o.fingerprint === credential.fingerprint) ||
          (o.credentialHash !== undefined && o.credentialHash === credential.credentialHash),
      )
    ) {
      return { kind: 'same-credential', secret };
    }
    const verdict = snapshot.verdicts.get(
      verdictKey(credential.fingerprint, location.name, imageId),
    );
    if (verdict === 'can-read') return { kind: 'registry-allows', secret };
    if (verdict === 'cannot-read') refused.push(secret);
    else unverified.push(secret);
  }
  const unique = (xs: string[]): string[] => [...new Set(xs)];
  return unverified.length > 0
    ? { kind: 'unverified', secrets: unique(unverified) }
    : { kind: 'refused', secrets: unique(refused) };
}

export type Privacy =
  | { readonly private: false; readonly reason: string }
  | { readonly private: true; readonly basis: string };

/** Whether an image name is private on this node, and why we think so. */
export function privacyOf(
  snapshot: NodeSnapshot,
  name: string,
  provenance: ImageProvenance | undefined,
): Privacy {
  const visibility = snapshot.visibility.get(name);
  if (visibility?.nodeCredentials === true) {
    return {
      private: false,
      reason: 'the node holds credentials for this registry: every pod can pull it',
    };
  }
  if (provenance?.nodeWide === true) {
    return { private: false, reason: 'the kubelet recorded it as usable by every pod of the node' };
  }
  if (visibility?.visibility === 'public') return { private: false, reason: visibility.basis };
  if (visibility?.visibility === 'private') return { private: true, basis: visibility.basis };
  const withSecret = (provenance?.owners ?? []).filter(
    (o) => o.fingerprint !== undefined || o.credentialHash !== undefined,
  );
  const registryUnasked =
    'the registry could not be asked whether it is public' +
    (visibility ? ` (${visibility.basis})` : '');
  if (withSecret.some((o) => !isPossibleOwner(o))) {
    return {
      private: true,
      basis: `it was pulled with a tenant pull secret; ${registryUnasked}`,
    };
  }
  if (withSecret.length > 0) {
    return {
      private: true,
      basis: `pods running it hold a pull secret for its registry (unverified); ${registryUnasked}`,
    };
  }
  return { private: false, reason: 'no sign that it needs credentials' };
}

// Whether a pod may use a cached private image: the questions the kubelet's KEP-2535
// verification asks, answered from what the snapshot knows.
import type { ImageLocation } from '../registry/keyring.ts';
import { resolveCredentialsForImage } from '../registry/keyring.ts';
import type { CredentialView, ImageProvenance, NodeSnapshot, PodView } from './snapshot.ts';
import { secretKey, verdictKey } from './snapshot.ts';

export type Access =
  | { readonly kind: 'owner-tenant' }
  /** The pod holds the very credential the image was pulled with (the kubelet accepts that). */
  | { readonly kind: 'same-credential'; readonly secret: string }
  | { readonly kind: 'registry-allows'; readonly secret: string }
  | { readonly kind: 'unverified'; readonly secrets: readonly string[] }
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

/** The pod's credentials for an image, in the order the kubelet would try them, plus notes on unusable secrets. */
export function podCredentialsFor(
  secrets: NodeSnapshot['secrets'],
  pod: PodView,
  location: ImageLocation,
): { readonly matching: readonly HeldCredential[]; readonly notes: readonly string[] } {
  const held: HeldCredential[] = [];
  const notes: string[] = [];
  for (const name of pod.pullSecretNames) {
    const secret = secrets.get(secretKey(pod.namespace, name));
    if (secret === undefined) continue;
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
  return { matching: resolveCredentialsForImage(held, location), notes };
}

export function accessOf(
  snapshot: NodeSnapshot,
  pod: PodView,
  location: ImageLocation & { readonly name: string },
  imageId: string,
  provenance: ImageProvenance | undefined,
): Access {
  const tenant = snapshot.tenantOfNamespace(pod.namespace);
  const owners = provenance?.owners ?? [];
  if (owners.some((o) => o.tenant === tenant)) return { kind: 'owner-tenant' };

  const { matching, notes } = podCredentialsFor(snapshot.secrets, pod, location);
  if (matching.length === 0) return { kind: 'no-credential', notes };

  const fingerprints = new Set(owners.map((o) => o.fingerprint).filter((f) => f !== undefined));
  const hashes = new Set(owners.map((o) => o.credentialHash).filter((h) => h !== undefined));
  const unverified: string[] = [];
  const refused: string[] = [];
  for (const held of matching) {
    if (
      fingerprints.has(held.credential.fingerprint) ||
      hashes.has(held.credential.credentialHash)
    ) {
      return { kind: 'same-credential', secret: held.secret };
    }
    const verdict = snapshot.verdicts.get(
      verdictKey(held.credential.fingerprint, location.name, imageId),
    );
    if (verdict === 'can-read') return { kind: 'registry-allows', secret: held.secret };
    if (verdict === 'cannot-read') refused.push(held.secret);
    else unverified.push(held.secret);
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
  const pulledWithSecret = (provenance?.owners ?? []).some(
    (o) => o.fingerprint !== undefined || o.credentialHash !== undefined,
  );
  if (pulledWithSecret) {
    return {
      private: true,
      basis:
        'it was pulled with a tenant pull secret; the registry could not be asked whether it is public' +
        (visibility ? ` (${visibility.basis})` : ''),
    };
  }
  return { private: false, reason: 'no sign that it needs credentials' };
}

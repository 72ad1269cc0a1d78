// Who could start a cached private image from this node's cache: the tenants running pods here
// that are not forced to pull and hold no right of their own to it. Shared by the exposure rules.
import type { ImageReference } from '../image/reference.ts';
import type { InventoryEntry } from '../image/inventory.ts';
import type { ImageProvenance, NodeSnapshot, TenantId } from '../model/snapshot.ts';
import { accessWith, isAuthorized, keyringOf, privacyOf, type PodKeyring } from './access.ts';
import type { DetectionMemory } from './memory.ts';

export interface TenantKeyrings {
  readonly keyringsByTenant: ReadonlyMap<TenantId, readonly PodKeyring[]>;
  /** Each tenant's (namespace, pull secrets) groups, in the order they were found. */
  readonly groups: string;
}

/**
 * The credentials each tenant's pods hold, one keyring per (namespace, pull secrets) group:
 * pods of one namespace with the same pull secrets hold the same credentials, so asking about
 * one of them answers for all; a tenant is exposed when any of its groups lacks access.
 */
export function tenantKeyrings(snapshot: NodeSnapshot, memory?: DetectionMemory): TenantKeyrings {
  const seen = new Set<string>();
  const keyringsByTenant = new Map<TenantId, PodKeyring[]>();
  let groups = '';
  for (const pod of snapshot.pods) {
    if (pod.finished || snapshot.ignoredNamespaces.has(pod.namespace)) continue;
    if (!pod.containers.some((c) => c.pullPolicy !== 'Always')) continue;
    const key = `${pod.namespace}\0${pod.pullSecretNames.join('\0')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const tenant = snapshot.tenantOfNamespace(pod.namespace);
    groups += `${tenant}\0${key}\n`;
    const keyrings = keyringsByTenant.get(tenant) ?? [];
    keyrings.push(keyringOf(snapshot.secrets, pod, memory));
    keyringsByTenant.set(tenant, keyrings);
  }
  return { keyringsByTenant, groups };
}

/** The tenants, sorted, with a group of pods that has no right of its own to the image. */
export function exposedTenantsOf(
  snapshot: NodeSnapshot,
  entry: InventoryEntry,
  reference: ImageReference,
  provenance: ImageProvenance | undefined,
  keyringsByTenant: ReadonlyMap<TenantId, readonly PodKeyring[]>,
): TenantId[] {
  const exposed: TenantId[] = [];
  for (const [tenant, keyrings] of keyringsByTenant) {
    const lacksAccess = keyrings.some(
      (keyring) =>
        !isAuthorized(accessWith(snapshot, tenant, keyring, reference, entry.id, provenance)),
    );
    if (lacksAccess) exposed.push(tenant);
  }
  return exposed.sort();
}

/** The image facts an exposure finding names: the entry's tag and digest for this repository. */
export function exposedImageFacts(
  entry: InventoryEntry,
  reference: ImageReference,
): {
  readonly image: string;
  readonly imageId: string;
  readonly repoDigest: string | null;
  readonly registry: string;
  readonly repository: string;
} {
  return {
    image: entry.repoTags.find((t) => t.startsWith(`${reference.name}:`)) ?? reference.name,
    imageId: entry.id,
    repoDigest:
      entry.repoDigests.find((d) => d.startsWith(`${reference.name}@`)) ??
      entry.repoDigests[0] ??
      null,
    registry: reference.registry,
    repository: reference.repository,
  };
}

/**
 * The first of a cached image's names that is private on this node, and why; undefined when
 * none is (the exposure rules' question before they ask who could start it).
 */
export function privateNameOf(
  snapshot: NodeSnapshot,
  entry: InventoryEntry,
  provenance: ImageProvenance | undefined,
): { readonly reference: ImageReference; readonly basis: string } | undefined {
  for (const reference of entry.references) {
    const privacy = privacyOf(snapshot, reference.name, provenance);
    if (privacy.private) return { reference, basis: privacy.basis };
  }
  return undefined;
}

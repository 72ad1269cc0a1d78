// Rule private-image-exposed: a private image sits in the cache of a node where another
// tenant, without credentials for it, runs pods the kubelet would serve from the cache.
import { parseDockerRef } from '../../image/reference.ts';
import type { ImageReference } from '../../image/reference.ts';
import type { InventoryEntry } from '../../image/inventory.ts';
import { accessOf, isAuthorized, privacyOf } from '../access.ts';
import type { PrivateImageExposed } from '../finding.ts';
import { findingId } from '../finding.ts';
import { describeOwners, ownerRefs } from '../owners.ts';
import type { NodeSnapshot, PodView, TenantId } from '../snapshot.ts';

function namesOf(entry: InventoryEntry): ImageReference[] {
  const refs: ImageReference[] = [];
  for (const name of [...entry.repoTags, ...entry.repoDigests]) {
    const parsed = parseDockerRef(name);
    if (parsed.ok) refs.push(parsed.value);
  }
  return refs;
}

export function privateImageExposed(snapshot: NodeSnapshot): PrivateImageExposed[] {
  const findings: PrivateImageExposed[] = [];
  // Pods of one namespace with the same pull secrets hold the same credentials: asking about
  // one of them answers for all, which turns pods x private images into groups x images.
  const groups = new Map<string, PodView>();
  for (const pod of snapshot.pods) {
    if (pod.finished || snapshot.ignoredNamespaces.has(pod.namespace)) continue;
    if (!pod.containers.some((c) => c.pullPolicy !== 'Always')) continue;
    const key = `${pod.namespace}\0${pod.pullSecretNames.join('\0')}`;
    if (!groups.has(key)) groups.set(key, pod);
  }
  for (const entry of snapshot.inventory.entries()) {
    const provenance = snapshot.provenance.get(entry.id);
    if (provenance === undefined || provenance.owners.length === 0) continue;
    const reference = namesOf(entry).find((r) => privacyOf(snapshot, r.name, provenance).private);
    if (reference === undefined) continue;
    const privacy = privacyOf(snapshot, reference.name, provenance);
    if (!privacy.private) continue;

    const exposed = new Set<TenantId>();
    for (const pod of groups.values()) {
      const tenant = snapshot.tenantOfNamespace(pod.namespace);
      if (exposed.has(tenant)) continue;
      if (!isAuthorized(accessOf(snapshot, pod, reference, entry.id, provenance)))
        exposed.add(tenant);
    }
    if (exposed.size === 0) continue;
    const exposedTenants = [...exposed].sort();
    const image = entry.repoTags.find((t) => t.startsWith(`${reference.name}:`)) ?? reference.name;
    findings.push({
      rule: 'private-image-exposed',
      id: findingId('private-image-exposed', snapshot.node, entry.id),
      severity: 'medium',
      confidence: 'likely',
      node: snapshot.node,
      tenant: null,
      namespace: null,
      pod: null,
      container: null,
      image,
      imageId: entry.id,
      repoDigest:
        entry.repoDigests.find((d) => d.startsWith(`${reference.name}@`)) ??
        entry.repoDigests[0] ??
        null,
      registry: reference.registry,
      repository: reference.repository,
      pullPolicy: null,
      owners: ownerRefs(provenance),
      exposedTenants,
      evidence: [
        `Private image ${image} (${entry.id}) is in the cache of node ${snapshot.node}; it is private because ${privacy.basis}.`,
        `It was brought here with the credentials of ${describeOwners(provenance)}.`,
        `Tenant${exposedTenants.length > 1 ? 's' : ''} ${exposedTenants.join(', ')} run${exposedTenants.length > 1 ? '' : 's'} pods on this node that are not forced to pull and hold no credential known to read it: a pod naming this image would start from the cache.`,
      ],
      remediation:
        "Enable AlwaysPullImages or the kubelet's AlwaysVerify policy, or keep tenants that must not share images on separate nodes.",
    });
  }
  return findings;
}

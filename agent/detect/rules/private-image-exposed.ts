// Rule private-image-exposed: a private image sits in the cache of a node where another
// tenant, without credentials for it, runs pods the kubelet would serve from the cache.
import type { ImageReference } from '../../image/reference.ts';
import type { PodKeyring, Privacy } from '../access.ts';
import { accessWith, isAuthorized, keyringOf, privacyOf } from '../access.ts';
import type { PrivateImageExposed } from '../finding.ts';
import { findingId } from '../finding.ts';
import { describeOwners, ownerRefs } from '../owners.ts';
import type { NodeSnapshot, TenantId } from '../snapshot.ts';

export function privateImageExposed(snapshot: NodeSnapshot): PrivateImageExposed[] {
  const findings: PrivateImageExposed[] = [];
  // Pods of one namespace with the same pull secrets hold the same credentials: asking about
  // one of them answers for all; a tenant is exposed when any of its groups lacks access.
  const seen = new Set<string>();
  const keyringsByTenant = new Map<TenantId, PodKeyring[]>();
  for (const pod of snapshot.pods) {
    if (pod.finished || snapshot.ignoredNamespaces.has(pod.namespace)) continue;
    if (!pod.containers.some((c) => c.pullPolicy !== 'Always')) continue;
    const key = `${pod.namespace}\0${pod.pullSecretNames.join('\0')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const tenant = snapshot.tenantOfNamespace(pod.namespace);
    const keyrings = keyringsByTenant.get(tenant) ?? [];
    keyrings.push(keyringOf(snapshot.secrets, pod));
    keyringsByTenant.set(tenant, keyrings);
  }
  for (const entry of snapshot.inventory.entries()) {
    const provenance = snapshot.provenance.get(entry.id);
    if (provenance === undefined || provenance.owners.length === 0) continue;
    let reference: ImageReference | undefined;
    let privacy: Privacy | undefined;
    for (const r of entry.references) {
      privacy = privacyOf(snapshot, r.name, provenance);
      reference = r;
      if (privacy.private) break;
    }
    if (reference === undefined || privacy?.private !== true) continue;

    const exposed: TenantId[] = [];
    for (const [tenant, keyrings] of keyringsByTenant) {
      const lacksAccess = keyrings.some(
        (keyring) =>
          !isAuthorized(accessWith(snapshot, tenant, keyring, reference, entry.id, provenance)),
      );
      if (lacksAccess) exposed.push(tenant);
    }
    if (exposed.length === 0) continue;
    const exposedTenants = exposed.sort();
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

// Provenance from the kubelet's own account (KEP-2535 pulled records): the strongest source.
import type { ImageId } from '../image/digest.ts';
import type { ImageOwner } from '../model/snapshot.ts';
import type { OwnerCorrection, ProvenanceMap, TenantOf } from './evidence.ts';
import type { PulledRecord } from './kubelet-record-format.ts';
import { additionFor, withAdditions, type Addition } from './owner-merge.ts';

/**
 * The kubelet's own account (KEP-2535 ImagePulledRecord): every secret it recorded is an owner,
 * as is every service account whose token a credential provider used; nodePodsAccessible makes
 * the image node-wide. A record with an empty mapping ("verify next time") adds nothing.
 */
export function fromKubeletRecords(
  prev: ProvenanceMap,
  records: ReadonlyMap<ImageId, PulledRecord>,
  tenantOfNamespace: TenantOf,
  corrections?: OwnerCorrection[],
): ProvenanceMap {
  const additions = new Map<ImageId, Addition>();
  for (const [imageId, record] of records) {
    const seen = record.lastUpdatedTime;
    for (const credentials of record.credentialMapping.values()) {
      const owners: ImageOwner[] = [
        ...credentials.kubernetesSecrets.map((secret) => ({
          tenant: tenantOfNamespace(secret.namespace),
          namespace: secret.namespace,
          secret: secret.name,
          fingerprint: undefined,
          credentialHash: secret.credentialHash,
          source: 'kubelet-record' as const,
          firstSeen: seen,
          lastSeen: seen,
        })),
        ...credentials.kubernetesServiceAccounts.map((account) => ({
          tenant: tenantOfNamespace(account.namespace),
          namespace: account.namespace,
          secret: undefined,
          fingerprint: undefined,
          credentialHash: undefined,
          source: 'kubelet-record' as const,
          firstSeen: seen,
          lastSeen: seen,
        })),
      ];
      if (owners.length === 0 && !credentials.nodePodsAccessible) continue;
      const addition = additionFor(additions, imageId);
      addition.owners.push(...owners);
      addition.nodeWide ||= credentials.nodePodsAccessible;
    }
  }
  return withAdditions(prev, additions, corrections);
}

// Rule preloaded-private-image-exposed: the node's kubelet verifies credentials of cached images
// (KEP-2535), but not of this private one. It has no pulled record, so the kubelet never pulled
// it: it was imported (ctr, crictl), pre-pulled or baked into the node. The kubelet exempts such
// images under NeverVerifyPreloadedImages, or under NeverVerifyAllowlistedImages when the
// allowlist covers it (pkg/kubelet/images/pullmanager image_pull_policies.go), and tenants
// without a right to it run pods here that are not forced to pull.
import { exposedImageFacts, exposedTenantsOf, privateNameOf, tenantKeyrings } from '../exposure.ts';
import type { PreloadedPrivateImageExposed } from '../finding.ts';
import { findingId } from '../finding.ts';
import { isPreloadedExemption, kubeletCheckOfEntry } from '../kubelet-posture.ts';
import type { DetectionMemory } from '../memory.ts';
import { describeOwners, ownerRefs } from '../owners.ts';
import type { NodeSnapshot } from '../../model/snapshot.ts';

export function preloadedPrivateImageExposed(
  snapshot: NodeSnapshot,
  memory?: DetectionMemory,
): PreloadedPrivateImageExposed[] {
  const posture = snapshot.kubeletPosture;
  if (
    posture.policy !== 'NeverVerifyPreloadedImages' &&
    posture.policy !== 'NeverVerifyAllowlistedImages'
  )
    return [];
  const policy = posture.policy;
  const findings: PreloadedPrivateImageExposed[] = [];
  let keyrings: ReturnType<typeof tenantKeyrings> | undefined;
  for (const entry of snapshot.inventory.entries()) {
    const kubelet = kubeletCheckOfEntry(snapshot, entry);
    if (!isPreloadedExemption(kubelet)) continue;
    const provenance = snapshot.provenance.get(entry.id);
    const privateName = privateNameOf(snapshot, entry, provenance);
    if (privateName === undefined) continue;
    const { reference, basis } = privateName;
    keyrings ??= tenantKeyrings(snapshot, memory);
    const exposedTenants = exposedTenantsOf(
      snapshot,
      entry,
      reference,
      provenance,
      keyrings.keyringsByTenant,
    );
    if (exposedTenants.length === 0) continue;
    const facts = exposedImageFacts(entry, reference);
    const { image } = facts;
    const owners = ownerRefs(provenance);
    const allowlistEntry = kubelet.check.kind === 'exempt-allowlisted' ? kubelet.check.entry : null;
    const exemption =
      allowlistEntry === null
        ? `the kubelet's policy is NeverVerifyPreloadedImages (${posture.basis}), which exempts every image the kubelet did not pull itself`
        : `the kubelet's policy is NeverVerifyAllowlistedImages and its preloadedImagesVerificationAllowlist entry ${allowlistEntry} covers ${kubelet.check.kind === 'exempt-allowlisted' ? kubelet.check.name : reference.name}`;
    findings.push({
      rule: 'preloaded-private-image-exposed',
      id: findingId(memory, 'preloaded-private-image-exposed', snapshot.node, entry.id),
      severity: 'medium',
      // Both the gate and the policy read from the kubelet's own files: nothing inferred.
      confidence: posture.fromConfig ? 'confirmed' : 'likely',
      node: snapshot.node,
      ...facts,
      owners,
      exposedTenants,
      kubeletPolicy: policy,
      allowlistEntry,
      evidence: [
        `Private image ${image} (${entry.id}) is in the cache of node ${snapshot.node}; it is private because ${basis}.`,
        `The kubelet holds no KEP-2535 pulled record of it: it did not pull it (an import with ctr or crictl, a pre-puller, or the node's image), so ${exemption}. Any pod naming it starts from the cache without its credentials being checked.`,
        owners.length > 0
          ? `It is known to have been brought here with the credentials of ${describeOwners(provenance)}.`
          : 'No tenant is known to have brought it here.',
        `Tenant${exposedTenants.length > 1 ? 's' : ''} ${exposedTenants.join(', ')} run${exposedTenants.length > 1 ? '' : 's'} pods on this node that are not forced to pull and hold no credential known to read it.`,
      ],
      remediation:
        allowlistEntry === null
          ? "Set the kubelet's imagePullCredentialsVerificationPolicy to AlwaysVerify (or NeverVerifyAllowlistedImages with an allowlist of public images only), enable AlwaysPullImages, or remove the image from the node and let the kubelet pull it."
          : `Remove ${allowlistEntry} from the kubelet's preloadedImagesVerificationAllowlist (keep only public images there), set the policy to AlwaysVerify, or enable AlwaysPullImages.`,
    });
  }
  return findings;
}

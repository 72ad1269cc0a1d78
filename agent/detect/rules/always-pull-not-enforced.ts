// Rule always-pull-images-not-enforced (CIS Kubernetes 1.2.11): pods on this node run with a
// pull policy other than Always, so neither AlwaysPullImages nor an equivalent policy is in force,
// and the kubelet does not make up for it (its policy is not AlwaysVerify). The evidence names
// the private images the node's actual kubelet policy leaves unchecked.
import type { AlwaysPullImagesNotEnforced } from '../finding.ts';
import { findingId } from '../finding.ts';
import type { DetectionMemory } from '../memory.ts';
import type { NodeSnapshot, PullPolicy } from '../../model/snapshot.ts';
import { privacyOf } from '../access.ts';
import { kubeletCheckOfEntry } from '../kubelet-posture.ts';

export function alwaysPullImagesNotEnforced(
  snapshot: NodeSnapshot,
  memory?: DetectionMemory,
): AlwaysPullImagesNotEnforced[] {
  const counts: Record<PullPolicy, number> = { Always: 0, IfNotPresent: 0, Never: 0 };
  const pods = new Set<string>();
  for (const pod of snapshot.pods) {
    if (snapshot.ignoredNamespaces.has(pod.namespace)) continue;
    for (const c of pod.containers) {
      counts[c.pullPolicy] += 1;
      if (c.pullPolicy !== 'Always') pods.add(pod.uid);
    }
  }
  const notAlways = counts.IfNotPresent + counts.Never;
  if (notAlways === 0) return [];
  // The kubelet re-checks every pod's credentials before it uses any cached image (it ignores
  // the allowlist under this policy): what AlwaysPullImages would bring, it already does.
  if (snapshot.kubeletPosture.policy === 'AlwaysVerify') return [];
  const evidence = [
    `${notAlways} of ${notAlways + counts.Always} containers in ${pods.size} pod${pods.size === 1 ? '' : 's'} on node ${snapshot.node} use imagePullPolicy IfNotPresent (${counts.IfNotPresent}) or Never (${counts.Never}): AlwaysPullImages (CIS Kubernetes 1.2.11) or an equivalent policy is not in force for them.`,
  ];
  evidence.push(kubeletEvidence(snapshot));
  return [
    {
      rule: 'always-pull-images-not-enforced',
      id: findingId(memory, 'always-pull-images-not-enforced', snapshot.node),
      severity: 'low',
      confidence: 'confirmed',
      node: snapshot.node,
      containersByPolicy: counts,
      evidence,
      remediation:
        "Enable the AlwaysPullImages admission plugin (kube-apiserver --enable-admission-plugins) or a policy-engine equivalent, or set the kubelet's imagePullCredentialsVerificationPolicy to AlwaysVerify (Kubernetes 1.35+, or 1.33+ with the KubeletEnsureSecretPulledImages gate).",
    },
  ];
}

const LISTED = 10;

/** What the kubelet's own policy leaves open on this node: which private images it would not check. */
function kubeletEvidence(snapshot: NodeSnapshot): string {
  const posture = snapshot.kubeletPosture;
  if (posture.policy === 'unknown')
    return `What the kubelet enforces is not known (${posture.basis}): every private image in the cache may be started by any pod without its credentials being checked.`;
  const unprotected: string[] = [];
  let unknown = 0;
  for (const entry of snapshot.inventory.entries()) {
    const { check } = kubeletCheckOfEntry(snapshot, entry);
    if (check.kind === 'verified') continue;
    const provenance = snapshot.provenance.get(entry.id);
    const name = entry.references.find((r) => privacyOf(snapshot, r.name, provenance).private);
    if (name === undefined) continue;
    if (check.kind === 'unknown') unknown += 1;
    else unprotected.push(entry.repoTags[0] ?? name.name);
  }
  const which =
    posture.policy === 'gate-off' || posture.policy === 'NeverVerify'
      ? 'it checks no cached image'
      : posture.policy === 'NeverVerifyPreloadedImages'
        ? 'it checks only images it pulled itself (those with a KEP-2535 pulled record)'
        : `it checks every image but those its allowlist covers (${posture.allowlist.join(', ') || 'empty'})`;
  const listed = unprotected.sort().slice(0, LISTED).join(', ');
  const more = unprotected.length > LISTED ? ` and ${unprotected.length - LISTED} more` : '';
  return (
    `The kubelet's policy here is ${posture.policy} (${posture.basis}): ${which}. ` +
    (unprotected.length === 0
      ? 'No private image in the cache is left unchecked by it now.'
      : `Private images it would start for any pod without checking credentials: ${listed}${more}.`) +
    (unknown > 0 ? ` For ${unknown} more, its records cannot be read to tell.` : '')
  );
}

// Rule always-pull-images-not-enforced (CIS Kubernetes 1.2.11): pods on this node run with a
// pull policy other than Always, so neither AlwaysPullImages nor an equivalent policy is in force.
import type { AlwaysPullImagesNotEnforced } from '../finding.ts';
import { findingId } from '../finding.ts';
import type { DetectionMemory } from '../memory.ts';
import type { NodeSnapshot, PullPolicy } from '../../model/snapshot.ts';

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
  const evidence = [
    `${notAlways} of ${notAlways + counts.Always} containers in ${pods.size} pod${pods.size === 1 ? '' : 's'} on node ${snapshot.node} use imagePullPolicy IfNotPresent (${counts.IfNotPresent}) or Never (${counts.Never}): AlwaysPullImages (CIS Kubernetes 1.2.11) or an equivalent policy is not in force for them.`,
  ];
  if (snapshot.kubeletVerification === 'on') {
    evidence.push(
      'The kubelet\'s KEP-2535 credential verification is visibly on here (pulled-image records or "can be accessed by the pod" events): images it pulled are re-checked against each pod\'s credentials, which mitigates this for them; preloaded or allow-listed images remain exposed.',
    );
  }
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
        "Enable the AlwaysPullImages admission plugin (kube-apiserver --enable-admission-plugins) or a policy-engine equivalent, or set the kubelet's imagePullCredentialsVerificationPolicy to AlwaysVerify.",
    },
  ];
}

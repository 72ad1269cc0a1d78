// Provenance at bootstrap: an image found cached when the agent started, explained by the pods
// running it, but only through a credential verified to read it.
import type { ImageId } from '../image/digest.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { PodContainer, PodView } from '../model/snapshot.ts';
import { sourceStrength, verdictKey } from '../model/snapshot.ts';
import type {
  Attribution,
  HeldCredential,
  OwnerCorrection,
  PodEvidence,
  ProvenanceMap,
} from './evidence.ts';
import { additionFor, notePending, withAdditions, type Addition } from './owner-merge.ts';
import { hasRun, imageIdOfContainer, ownerOf, unknownSecretsReason } from './pod-evidence.ts';

/** How a bootstrap candidate's credentials stand against the registry, in kubelet order. */
type CandidateAnswer =
  | { readonly kind: 'verified'; readonly held: HeldCredential }
  | { readonly kind: 'unverified'; readonly held: HeldCredential }
  | { readonly kind: 'none' }
  | { readonly kind: 'pending'; readonly reason: string };

function bootstrapCandidate(
  evidence: PodEvidence,
  pod: PodView,
  container: PodContainer,
  imageId: ImageId,
): CandidateAnswer {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return { kind: 'none' };
  const { matching, unknownSecrets } = evidence.credentialsOf(pod, reference.value);
  if (unknownSecrets.length > 0)
    return { kind: 'pending', reason: unknownSecretsReason(pod, unknownSecrets) };
  // Most running images are public: no credential matches, and nothing more is worked out.
  if (matching.length === 0) return { kind: 'none' };
  const recorded = new Set<string>();
  for (const credentials of evidence.kubeletRecords?.get(imageId)?.credentialMapping.values() ?? [])
    for (const { credentialHash } of credentials.kubernetesSecrets)
      if (credentialHash !== undefined) recorded.add(credentialHash);
  let unverified: HeldCredential | undefined;
  for (const held of matching) {
    // The kubelet recorded a pull or check with this very credential: it reads the image.
    if (recorded.has(held.credential.credentialHash)) return { kind: 'verified', held };
    const verdict = evidence.verdicts?.get(
      verdictKey(held.credential.fingerprint, reference.value.name, imageId),
    );
    if (verdict === 'can-read') return { kind: 'verified', held };
    if (verdict === 'cannot-read') continue;
    if (verdict === undefined && held.credential.check !== undefined)
      return {
        kind: 'pending',
        reason: `the registry has not answered yet whether ${held.secret} (pod ${pod.namespace}/${pod.name}) can read ${reference.value.name}`,
      };
    // The registry could not answer, or verification is off: a guess, never an owner.
    unverified ??= held;
  }
  return unverified === undefined ? { kind: 'none' } : { kind: 'unverified', held: unverified };
}

/**
 * Bootstrap: the agent started on a node that already had images, so for an image whose arrival
 * it never witnessed and that no stronger source explained, pods running it become owners when
 * one of their credentials is verified to read its repository ('verified-bootstrap': by the
 * registry, or by a kubelet record holding the credential's hash). A credential that only
 * matches the registry's host, which nobody could check, makes a possible owner
 * ('unverified-bootstrap') that authorizes nobody; one the registry refused makes nothing.
 *
 * The decision for an image waits until every pod running it has known credentials and known
 * verdicts: deciding earlier would let the order in which secrets are read pick the owner.
 */
export function fromRunningPods(
  prev: ProvenanceMap,
  evidence: PodEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const additions = new Map<ImageId, Addition>();
  const pending = new Map<ImageId, string>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!hasRun(container)) continue;
      const imageId = imageIdOfContainer(evidence.inventory, container, evidence.memory);
      if (imageId === undefined) continue;
      const known = prev.get(imageId);
      // Never for an image that has owners from better evidence: a tenant holding a wrong
      // credential for the same registry, running the image from the cache, would otherwise
      // become an owner and so whitewash its own unauthorized use.
      if (
        known?.owners.some(
          (o) => sourceStrength(o.source) <= sourceStrength('verified-bootstrap'),
        ) === true
      )
        continue;
      // Nor for an image we saw arrive (cachedSince set by a listing): had one of these pods
      // pulled it, fromObservedPulls would have recorded it; a pod that shows up later with a
      // credential is no evidence of who brought it.
      if (known?.cachedSince !== undefined) continue;
      const answer = bootstrapCandidate(evidence, pod, container, imageId);
      if (answer.kind === 'pending') notePending(pending, imageId, answer.reason);
      if (answer.kind === 'verified')
        additionFor(additions, imageId).owners.push(
          ownerOf(evidence, pod, answer.held, 'verified-bootstrap'),
        );
      if (answer.kind === 'unverified')
        additionFor(additions, imageId).owners.push(
          ownerOf(evidence, pod, answer.held, 'unverified-bootstrap'),
        );
    }
  }
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
}

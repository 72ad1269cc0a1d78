// What a pod says about an image: which cached image a container uses, whether it may have
// pulled just now, and which of its credentials pulled (or why that is not known yet).
import { cachedImageIn } from '../detect/container-image.ts';
import type { DetectionMemory } from '../detect/memory.ts';
import type { ImageId } from '../image/digest.ts';
import type { Inventory } from '../image/inventory.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { ImageOwner, PodContainer, PodView, ProvenanceSource } from '../model/snapshot.ts';
import { verdictKey } from '../model/snapshot.ts';
import type { HeldCredential, PodEvidence } from './evidence.ts';

/** A container that started less than this long ago may be the one whose pull we just saw. */
export const STARTING_WINDOW_MS = 5 * 60_000;

// Waiting reasons of a container whose pull failed or was refused: it did not bring the image.
// kubelet pkg/kubelet/images/types.go.
const PULL_FAILED_REASONS: ReadonlySet<string> = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'ErrImageInspect',
  'RegistryUnavailable',
  'SignatureValidationFailed',
]);

/** The cached image a container uses: the one its status names, else what its image resolves to. */
// An image name the kubelet would reject (InvalidImageName) was never pulled nor started.
export function imageIdOfContainer(
  inventory: Inventory,
  container: PodContainer,
  memory?: DetectionMemory,
): ImageId | undefined {
  return cachedImageIn(inventory, container, memory)?.entry.id;
}

/** Whether the kubelet may have pulled this container's image just now. */
export function isStarting(
  pod: PodView,
  container: PodContainer,
  now: number,
  windowMs: number,
): boolean {
  if (container.pullPolicy === 'Never') return false; // the kubelet never pulls for it
  const state = container.state;
  switch (state.kind) {
    case 'not-started':
      return !pod.finished;
    case 'waiting':
      return !pod.finished && !PULL_FAILED_REASONS.has(state.reason);
    case 'running':
      return now - state.startedAt <= windowMs;
    case 'terminated':
      return state.startedAt !== undefined && now - state.startedAt <= windowMs;
  }
}

/** Whether the container runs or ran from the cache (bootstrap evidence). */
export function hasRun(container: PodContainer): boolean {
  return container.state.kind === 'running' || container.state.kind === 'terminated';
}

export function secretName(pod: PodView, secret: string): string {
  const prefix = `${pod.namespace}/`;
  return secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
}

/** An owner made of a pod and the credential that (we conclude) pulled or reads the image. */
export function ownerOf(
  evidence: PodEvidence,
  pod: PodView,
  held: HeldCredential,
  source: ProvenanceSource,
): ImageOwner {
  return {
    tenant: evidence.tenantOfNamespace(pod.namespace),
    namespace: pod.namespace,
    secret: secretName(pod, held.secret),
    fingerprint: held.credential.fingerprint,
    credentialHash: held.credential.credentialHash,
    source,
    firstSeen: evidence.now,
    lastSeen: evidence.now,
  };
}

/** What a pod's credentials say about an image: who pulled it, or why that is not known yet. */
export type PullerAnswer =
  | { readonly kind: 'credential'; readonly held: HeldCredential }
  | { readonly kind: 'none' }
  | { readonly kind: 'pending'; readonly reason: string };

export function unknownSecretsReason(pod: PodView, unknownSecrets: readonly string[]): string {
  return `the pull secret${unknownSecrets.length > 1 ? 's' : ''} ${unknownSecrets.join(', ')} of pod ${pod.namespace}/${pod.name} ${unknownSecrets.length > 1 ? 'are' : 'is'} not read yet`;
}

/**
 * The credential a pod's pull used: the first matching one the kubelet would try that the
 * registry did not refuse (the kubelet moves on to the next when one is refused). Pending
 * while one of the pod's secrets is not known: it might hold a credential tried earlier.
 */
export function pullerOf(
  evidence: PodEvidence,
  pod: PodView,
  container: PodContainer,
): PullerAnswer {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return { kind: 'none' }; // the kubelet rejects it: InvalidImageName
  const { matching, unknownSecrets } = evidence.credentialsOf(pod, reference.value);
  if (unknownSecrets.length > 0)
    return { kind: 'pending', reason: unknownSecretsReason(pod, unknownSecrets) };
  const imageId = imageIdOfContainer(evidence.inventory, container, evidence.memory);
  const usable = matching.find(
    (held) =>
      imageId === undefined ||
      evidence.verdicts?.get(
        verdictKey(held.credential.fingerprint, reference.value.name, imageId),
      ) !== 'cannot-read',
  );
  return usable === undefined ? { kind: 'none' } : { kind: 'credential', held: usable };
}

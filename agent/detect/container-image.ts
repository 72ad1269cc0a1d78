import type { InventoryEntry } from '../image/inventory.ts';
import type { ImageReference } from '../image/reference.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { NodeSnapshot, PodContainer } from './snapshot.ts';

// Waiting reasons meaning the kubelet did not start the container from the cache: the pull
// failed, or (Never / KEP-2535) it refused. kubelet pkg/kubelet/images/types.go.
const NOT_FROM_CACHE_REASONS = new Set([
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageInspect',
  'RegistryUnavailable',
  'SignatureValidationFailed',
]);

/** The container runs, ran (a completed init container counts: its code executed), or is about to start. */
export function mayUseCache(container: PodContainer): boolean {
  return !(
    container.state.kind === 'waiting' && NOT_FROM_CACHE_REASONS.has(container.state.reason)
  );
}

export interface CachedImage {
  readonly reference: ImageReference;
  readonly entry: InventoryEntry;
  /** The repo digest under the pod's image name, if the node recorded one. */
  readonly repoDigest: string | null;
}

/**
 * The cached image a container gets: the one its status says it started, else the one the
 * runtime's presence check would hand the kubelet for the image as written.
 */
export function cachedImageOf(
  snapshot: NodeSnapshot,
  container: PodContainer,
): CachedImage | undefined {
  const reference = parseDockerRef(container.image);
  if (!reference.ok) return undefined; // the kubelet rejects it: InvalidImageName
  let presence = container.statusImageId
    ? snapshot.inventory.resolveRepoDigest(container.statusImageId)
    : undefined;
  if (presence === undefined || !presence.present) {
    presence = snapshot.inventory.resolvePresent(container.image);
  }
  if (!presence.present) return undefined;
  const entry = presence.image;
  const repoDigest =
    entry.repoDigests.find((d) => d.startsWith(`${reference.value.name}@`)) ??
    entry.repoDigests[0] ??
    null;
  return { reference: reference.value, entry, repoDigest };
}

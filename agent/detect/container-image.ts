import type { Inventory, InventoryEntry } from '../image/inventory.ts';
import type { ImageReference } from '../image/reference.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { DetectionMemory } from './memory.ts';
import type { NodeSnapshot, PodContainer } from '../model/snapshot.ts';

// Waiting reasons meaning the kubelet did not start the container from the cache: the pull
// failed, or (Never / KEP-2535) it refused. kubelet pkg/kubelet/images/types.go.
const NOT_FROM_CACHE_REASONS: readonly string[] = [
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageInspect',
  'RegistryUnavailable',
  'SignatureValidationFailed',
];

/** The container runs, ran (a completed init container counts: its code executed), or is about to start. */
export function mayUseCache(container: PodContainer): boolean {
  return !(
    container.state.kind === 'waiting' && NOT_FROM_CACHE_REASONS.includes(container.state.reason)
  );
}

export interface CachedImage {
  readonly reference: ImageReference;
  readonly entry: InventoryEntry;
  /** The repo digest under the pod's image name, if the node recorded one. */
  readonly repoDigest: string | null;
}

// Reconciles ask about the same containers against the same inventory again and again (every
// pod event recomputes the node): the answer depends on nothing else, so a memory keeps it for
// as long as the container lives, with the inventory it holds for. A new listing's inventory
// asks again, and an answer that came out the same is kept as the same object.

/**
 * The cached image a container gets: the one its status says it started, else the one the
 * runtime's presence check would hand the kubelet for the image as written.
 */
export function cachedImageOf(
  snapshot: NodeSnapshot,
  container: PodContainer,
  memory?: DetectionMemory,
): CachedImage | undefined {
  return cachedImageIn(snapshot.inventory, container, memory);
}

/** cachedImageOf, for code that holds an inventory rather than a snapshot. */
export function cachedImageIn(
  inventory: Inventory,
  container: PodContainer,
  memory?: DetectionMemory,
): CachedImage | undefined {
  if (memory === undefined) return resolveCachedImage(inventory, container, referenceOf(container));
  const known = memory.cachedImages.get(container);
  if (known === undefined) {
    const reference = referenceOf(container);
    const answer = resolveCachedImage(inventory, container, reference) ?? null;
    memory.cachedImages.set(container, { inventory, reference, answer });
    return answer ?? undefined;
  }
  if (known.inventory !== inventory) {
    const answer = resolveCachedImage(inventory, container, known.reference, known.answer);
    known.inventory = inventory;
    known.answer = answer ?? null;
  }
  return known.answer ?? undefined;
}

/** The container's image as a reference; null when the kubelet would reject it (InvalidImageName). */
function referenceOf(container: PodContainer): ImageReference | null {
  const reference = parseDockerRef(container.image);
  return reference.ok ? reference.value : null;
}

function resolveCachedImage(
  inventory: Inventory,
  container: PodContainer,
  reference: ImageReference | null,
  before?: CachedImage | null,
): CachedImage | undefined {
  if (reference === null) return undefined;
  let presence = container.statusImageId
    ? inventory.resolveRepoDigest(container.statusImageId)
    : undefined;
  if (presence === undefined || !presence.present) {
    presence = inventory.resolvePresent(container.image);
  }
  if (!presence.present) return undefined;
  const entry = presence.image;
  const repoDigest =
    entry.repoDigests.find((d) => d.startsWith(`${reference.name}@`)) ??
    entry.repoDigests[0] ??
    null;
  if (before?.entry === entry && before.repoDigest === repoDigest) return before;
  return Object.freeze({ reference, entry, repoDigest });
}

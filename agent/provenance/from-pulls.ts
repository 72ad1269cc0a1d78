// Provenance from pulls: one seen happening (an image arriving while a pod starts) and one the
// kubelet reported ("Successfully pulled image").
import type { ImageId } from '../image/digest.ts';
import type { InventoryEntry } from '../image/inventory.ts';
import { kubeletEventKey, sourceStrength } from '../model/snapshot.ts';
import type {
  Attribution,
  OwnerCorrection,
  PodEvidence,
  ProvenanceMap,
  PullEvidence,
} from './evidence.ts';
import { additionFor, notePending, withAdditions, type Addition } from './owner-merge.ts';
import {
  STARTING_WINDOW_MS,
  imageIdOfContainer,
  isStarting,
  ownerOf,
  pullerOf,
} from './pod-evidence.ts';

/**
 * A pull seen happening: an image ID absent from the previous listing and present now, while a
 * starting pod (a container not started or waiting, or started within the starting window)
 * references it and holds a credential for its registry. The pod's first matching credential
 * becomes an owner. When starting pods of several tenants reference the new image, each that
 * holds a matching credential is recorded: which of them pulled cannot be told. A starting pod
 * whose pull secrets are not read yet leaves the image pending (the caller keeps it "new").
 */
export function fromObservedPulls(
  prev: ProvenanceMap,
  evidence: PullEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const { previousImageIds, inventory, now } = evidence;
  const pending = new Map<ImageId, string>();
  if (previousImageIds === undefined) return { provenance: prev, pending };
  const newIds = new Set<ImageId>();
  const entries = inventory.entries();
  // Indexed: run once per listing, a for-of's 5,000 iterator results would be its garbage.
  for (let i = 0; i < entries.length; i += 1) {
    const id = (entries[i] as InventoryEntry).id;
    if (!previousImageIds.has(id)) newIds.add(id);
  }
  if (newIds.size === 0) return { provenance: prev, pending };
  const windowMs = evidence.startingWindowMs ?? STARTING_WINDOW_MS;
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (!isStarting(pod, container, now, windowMs)) continue;
      const imageId = imageIdOfContainer(inventory, container, evidence.memory);
      if (imageId === undefined || !newIds.has(imageId)) continue;
      const puller = pullerOf(evidence, pod, container);
      if (puller.kind === 'pending') notePending(pending, imageId, puller.reason);
      if (puller.kind !== 'credential') continue;
      const addition = additionFor(additions, imageId);
      addition.owners.push(ownerOf(evidence, pod, puller.held, 'observed-pull'));
      addition.cachedSince = now;
    }
  }
  // An image waits whole: owners from the pods already known are added once all are.
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
}

/**
 * The kubelet's "Successfully pulled image" event on a pod's container: that pod's credential
 * (the first matching one the registry did not refuse) pulled the image it runs.
 */
export function fromPulledEvents(
  prev: ProvenanceMap,
  evidence: PodEvidence,
  corrections?: OwnerCorrection[],
): Attribution {
  const pending = new Map<ImageId, string>();
  const events = evidence.kubeletEvents;
  if (events === undefined || events.size === 0) return { provenance: prev, pending };
  const additions = new Map<ImageId, Addition>();
  for (const pod of evidence.pods) {
    for (const container of pod.containers) {
      if (events.get(kubeletEventKey(pod.uid, container.name)) !== 'pulled') continue;
      const imageId = imageIdOfContainer(evidence.inventory, container, evidence.memory);
      if (imageId === undefined) continue;
      // Weaker than what is known already: nothing to add (and nothing to wait for).
      const known = prev.get(imageId)?.owners ?? [];
      if (known.some((o) => sourceStrength(o.source) < sourceStrength('pulled-event'))) continue;
      const puller = pullerOf(evidence, pod, container);
      if (puller.kind === 'pending') notePending(pending, imageId, puller.reason);
      // No matching credential: an anonymous pull or the node's own credentials.
      if (puller.kind !== 'credential') continue;
      additionFor(additions, imageId).owners.push(
        ownerOf(evidence, pod, puller.held, 'pulled-event'),
      );
    }
  }
  for (const imageId of pending.keys()) additions.delete(imageId);
  return { provenance: withAdditions(prev, additions, corrections), pending };
}

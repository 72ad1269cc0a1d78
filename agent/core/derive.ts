// The pure step of the loop: from what the sources say now and what the agent knew before, the
// new provenance and the node snapshot detection reads. No I/O, no clock (the time is an input).
import { podCredentialsFor } from '../detect/access.ts';
import type { DetectionMemory } from '../detect/memory.ts';
import type {
  ImageOwner,
  ImageProvenance,
  KubeletImageEvent,
  NodeSnapshot,
  PodView,
  SecretView,
} from '../model/snapshot.ts';
import { tenantResolver } from '../detect/tenancy.ts';
import { kubeletPostureOf } from '../detect/kubelet-posture.ts';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import type { ImageId } from '../image/digest.ts';
import type { ImageIdSet, Inventory } from '../image/inventory.ts';
import type { PulledRecord } from '../provenance/kubelet-record-format.ts';
import { foldResync, type OwnerCorrection } from '../provenance/update.ts';
import type { ImageLocation } from '../credentials/keyring.ts';
import type { RegistryAnswers } from './registry-questions.ts';

/** What the agent knows about the cache's history, carried from one derive to the next. */
export interface ProvenanceState {
  readonly provenance: ReadonlyMap<ImageId, ImageProvenance>;
  /** When each known image was first missing from a listing. */
  readonly missingSince: ReadonlyMap<ImageId, number>;
  /** The image IDs the last derive saw: an arrival is folded as new only once. */
  readonly foldedImageIds: ImageIdSet;
  /** Arrivals whose observed-pull attribution waits (a starting pod's secret is not read yet). */
  readonly pendingArrivals: ReadonlySet<ImageId>;
  /** Images whose owner is undecided, with why; never persisted. */
  readonly ownerPending: ReadonlyMap<ImageId, string>;
}

export function initialProvenanceState(
  provenance: ReadonlyMap<ImageId, ImageProvenance>,
): ProvenanceState {
  return {
    provenance,
    missingSince: new Map(),
    foldedImageIds: new Set(),
    pendingArrivals: new Set(),
    ownerPending: new Map(),
  };
}

/** What the sources say now. */
export interface Observation {
  readonly node: string;
  /** ms since epoch. */
  readonly now: number;
  readonly inventory: Inventory;
  /** The image IDs of the listing before the current one; undefined until two were seen. */
  readonly listedBefore: ImageIdSet | undefined;
  readonly pods: readonly PodView[];
  readonly namespaces: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly tenantLabel: string | undefined;
  readonly ignoredNamespaces: ReadonlySet<string>;
  readonly secrets: ReadonlyMap<string, SecretView>;
  readonly kubeletEvents: ReadonlyMap<string, KubeletImageEvent>;
  readonly kubeletRecords: ReadonlyMap<ImageId, PulledRecord>;
  /** The kubelet writes records on this node (its pulled/ directory exists). */
  readonly kubeletRecordsAvailable: boolean;
  /** What the kubelet's configuration files say (agent/kubelet-config). */
  readonly kubeletConfig: KubeletConfigReading;
  readonly answers: RegistryAnswers;
  /** How long an image must be gone from the cache before its provenance is forgotten. */
  readonly forgetGraceMs: number;
}

export interface Derived {
  readonly state: ProvenanceState;
  readonly snapshot: NodeSnapshot;
  readonly corrections: readonly OwnerCorrection[];
  /** How the provenance differs from the state's before (what decides a save). */
  readonly provenanceChange: ProvenanceChange;
}

/**
 * `knowledge`: an image, owner, source or cached-since time changed, worth saving at once;
 * `last-seen`: only the times owners were last seen moved on (every resync sees them again);
 * `none`: nothing.
 */
export type ProvenanceChange = 'none' | 'last-seen' | 'knowledge';

/** Owners' last-seen times alone are saved at most this often (the agent saves the latest at stop). */
export const LAST_SEEN_SAVE_INTERVAL_MS = 10 * 60_000;

/**
 * When a change is saved: knowledge at once; last-seen times at most every
 * LAST_SEEN_SAVE_INTERVAL_MS ('later': kept for the next save). Every resync sees running
 * owners again, and writing 5,000 images' provenance once a minute for that was most of an
 * idle agent's state-dir work.
 */
export function provenanceSaveDue(
  change: ProvenanceChange,
  now: number,
  lastSavedAt: number,
): 'now' | 'later' | 'nothing' {
  if (change === 'knowledge') return 'now';
  if (change === 'none') return 'nothing';
  return now - lastSavedAt >= LAST_SEEN_SAVE_INTERVAL_MS ? 'now' : 'later';
}

export function derive(
  before: ProvenanceState,
  seen: Observation,
  memory: DetectionMemory,
): Derived {
  const tenantOfNamespace = tenantResolver(seen.namespaces, seen.tenantLabel);
  // The poller's previous listing stays until the cache changes again; were it used alone, a
  // pod started minutes after a pull, holding any credential for the registry (a wrong one
  // included), would be recorded as the puller and its own unauthorized use whitewashed. An
  // arrival whose attribution waits stays new until it is decided.
  const listedBefore = seen.listedBefore;
  // A question, not a set: building one from two 5,000-image listings cost every reconcile.
  const previousImageIds: ImageIdSet | undefined =
    listedBefore === undefined
      ? undefined
      : {
          has: (id) =>
            (listedBefore.has(id) || before.foldedImageIds.has(id)) &&
            !before.pendingArrivals.has(id as ImageId),
        };
  const folded = foldResync(before.provenance, {
    inventory: seen.inventory,
    pods: seen.pods,
    credentialsOf: (pod: PodView, location: ImageLocation) =>
      podCredentialsFor(seen.secrets, pod, location, memory),
    tenantOfNamespace,
    now: seen.now,
    previousImageIds,
    verdicts: seen.answers.verdicts,
    kubeletEvents: seen.kubeletEvents,
    kubeletRecords: seen.kubeletRecords,
    missingSince: before.missingSince,
    graceMs: seen.forgetGraceMs,
    memory,
  });
  const state: ProvenanceState = {
    provenance: folded.provenance,
    missingSince: folded.missingSince,
    foldedImageIds: seen.inventory,
    pendingArrivals:
      previousImageIds === undefined
        ? new Set()
        : new Set([...folded.pending.keys()].filter((id) => !previousImageIds.has(id))),
    // The same object while nothing changed: detection's memory is keyed by it.
    ownerPending: sameEntries(before.ownerPending, folded.pending)
      ? before.ownerPending
      : folded.pending,
  };
  const verification = kubeletVerification(seen.kubeletRecordsAvailable, seen.kubeletEvents);
  const snapshot: NodeSnapshot = {
    node: seen.node,
    takenAt: seen.now,
    inventory: seen.inventory,
    pods: seen.pods,
    tenantOfNamespace,
    ignoredNamespaces: seen.ignoredNamespaces,
    secrets: seen.secrets,
    provenance: state.provenance,
    ...seen.answers,
    kubeletEvents: seen.kubeletEvents,
    kubeletVerification: verification,
    kubeletPosture: kubeletPostureOf(seen.kubeletConfig, verification),
    pulledByKubelet: seen.kubeletRecordsAvailable ? new Set(seen.kubeletRecords.keys()) : undefined,
    ownerPending: state.ownerPending,
  };
  return {
    state,
    snapshot,
    corrections: folded.corrections,
    provenanceChange: provenanceChangeOf(before.provenance, folded.provenance),
  };
}

/** KEP-2535 visibly at work: records on disk, or the kubelet's "can be accessed" events. */
function kubeletVerification(
  recordsAvailable: boolean,
  events: ReadonlyMap<string, KubeletImageEvent>,
): NodeSnapshot['kubeletVerification'] {
  if (recordsAvailable) return 'on';
  const kinds = new Set(events.values());
  if (kinds.has('already-present-verified')) return 'on';
  if (kinds.has('already-present')) return 'off';
  return 'unknown';
}

function sameEntries<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

/** What changed between two provenance maps, whether or not the objects are the same. */
export function provenanceChangeOf(
  a: ReadonlyMap<ImageId, ImageProvenance>,
  b: ReadonlyMap<ImageId, ImageProvenance>,
): ProvenanceChange {
  if (a.size !== b.size) return 'knowledge';
  let lastSeenMoved = false;
  for (const [id, p] of a) {
    const q = b.get(id);
    if (q === p) continue;
    if (
      q === undefined ||
      q.cachedSince !== p.cachedSince ||
      q.nodeWide !== p.nodeWide ||
      q.owners.length !== p.owners.length
    )
      return 'knowledge';
    for (let i = 0; i < p.owners.length; i += 1) {
      const x = p.owners[i] as ImageOwner;
      const y = q.owners[i] as ImageOwner;
      if (x.tenant !== y.tenant || x.secret !== y.secret || x.source !== y.source)
        return 'knowledge';
      if (x.lastSeen !== y.lastSeen) lastSeenMoved = true;
    }
  }
  return lastSeenMoved ? 'last-seen' : 'none';
}

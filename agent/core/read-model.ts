// What the HTTP API and the metrics read: the last snapshot's findings, images and protection,
// the sources' health and the agent's counters. Written only by the loop (publish, countError);
// everything derived from a snapshot is computed once per snapshot, however often it is read.
import { cachedImageOf, type CachedImage } from '../detect/container-image.ts';
import { privacyOf } from '../detect/access.ts';
import type { DetectedFinding, Finding, Rule } from '../detect/finding.ts';
import type { DetectionMemory } from '../detect/memory.ts';
import { ownerRefs, possibleOwnerRefs } from '../detect/owners.ts';
import type { ImageProvenance, NodeSnapshot, PodController } from '../model/snapshot.ts';
import { tenantResolver } from '../detect/tenancy.ts';
import { protectedByOf } from '../detect/kubelet-posture.ts';
import { FindingsStore, type FindingsChange, type FindingTimes } from '../findings/store.ts';
import { parseDockerRef } from '../image/reference.ts';
import type {
  AgentView,
  ImageView,
  NodeProtection,
  SourceHealth,
  SourceStatuses,
} from '../view.ts';
import type { CachePort, ControllerPort, KubePort, RegistryPort, SourceState } from './ports.ts';

export interface ReadModelOptions {
  readonly node: string;
  readonly cache: CachePort;
  readonly kube: KubePort;
  readonly registry: RegistryPort;
  /** Present when pull secrets and registry answers come from the controller. */
  readonly controller?: ControllerPort | undefined;
  readonly tenantLabel: string | undefined;
  readonly memory: DetectionMemory;
  /** First- and last-seen times from before a restart (the state dir's findings.json). */
  readonly initialFindingTimes?: ReadonlyMap<string, FindingTimes> | undefined;
}

/** A value worked out from one snapshot, kept while that snapshot is the current one. */
interface PerSnapshot<T> {
  readonly snapshot: NodeSnapshot;
  readonly value: T;
}

export class ReadModel implements AgentView {
  readonly node: string;
  readonly #o: ReadModelOptions;
  readonly #store: FindingsStore;
  readonly #errors = new Map<string, number>();
  #snapshot: NodeSnapshot | undefined;
  #images: PerSnapshot<readonly ImageView[]> | undefined;
  #protection: PerSnapshot<NodeProtection> | undefined;
  #controllers: PerSnapshot<ReadonlyMap<string, PodController>> | undefined;
  #lastScan: { at: number; durationSeconds: number } | undefined;
  #listingFolded = false;

  constructor(options: ReadModelOptions) {
    this.#o = options;
    this.node = options.node;
    this.#store = new FindingsStore(options.initialFindingTimes);
  }

  /**
   * A reconcile's result. `listingFolded`: the snapshot holds a runtime listing whose kubelet
   * records were read, so the answers are what the node's evidence says (ready to be served).
   */
  publish(
    snapshot: NodeSnapshot,
    detected: readonly DetectedFinding[],
    scan: { readonly durationSeconds: number; readonly listingFolded: boolean },
  ): FindingsChange {
    this.#snapshot = snapshot;
    this.#lastScan = { at: snapshot.takenAt, durationSeconds: scan.durationSeconds };
    if (scan.listingFolded) this.#listingFolded = true;
    return this.#store.apply(detected, snapshot.takenAt);
  }

  countError(source: string): void {
    this.#errors.set(source, (this.#errors.get(source) ?? 0) + 1);
  }

  findings(): readonly Finding[] {
    return this.#store.active();
  }

  finding(id: string): Finding | undefined {
    return this.#store.get(id);
  }

  images(): readonly ImageView[] {
    const snapshot = this.#snapshot;
    if (snapshot === undefined) return [];
    if (this.#images?.snapshot !== snapshot)
      this.#images = { snapshot, value: imageViewsOf(snapshot, this.#o.memory) };
    return this.#images.value;
  }

  sources(): SourceStatuses {
    const health = (s: SourceState): SourceHealth => ({
      up: s.up,
      lastSync: s.lastSync,
      lastError: s.lastError,
      stale: s.synced && !s.up,
    });
    const controller = this.#o.controller?.health();
    return {
      cri: health(this.#o.cache.status()),
      kubernetes: health(this.#o.kube.health()),
      ...(controller === undefined ? {} : { controller: health(controller) }),
    };
  }

  readiness(): { readonly ready: true } | { readonly ready: false; readonly reason: string } {
    if (!this.#o.cache.status().synced)
      return {
        ready: false,
        reason: 'waiting for the first image listing from the container runtime',
      };
    if (!this.#o.kube.health().synced)
      return { ready: false, reason: "waiting for the first list of this node's pods" };
    if (!this.#listingFolded)
      return {
        ready: false,
        reason: "reading the kubelet's pulled-image records of the first image listing",
      };
    return { ready: true };
  }

  protection(): NodeProtection {
    const snapshot = this.#snapshot;
    if (snapshot === undefined) return NOTHING_KNOWN;
    if (this.#protection?.snapshot !== snapshot)
      this.#protection = { snapshot, value: protectionOf(snapshot) };
    return this.#protection.value;
  }

  /** The workload that owns the pod with this uid, when the last snapshot holds the pod and it has one. */
  podController(podUid: string): PodController | undefined {
    const snapshot = this.#snapshot;
    if (snapshot === undefined) return undefined;
    if (this.#controllers?.snapshot !== snapshot) {
      const value = new Map<string, PodController>();
      for (const pod of snapshot.pods) if (pod.controller) value.set(pod.uid, pod.controller);
      this.#controllers = { snapshot, value };
    }
    return this.#controllers.value.get(podUid);
  }

  lastScan(): { readonly at: number; readonly durationSeconds: number } | undefined {
    return this.#lastScan;
  }

  /** What to keep so that finding times survive a restart. */
  findingTimes(): ReadonlyMap<string, FindingTimes> {
    return this.#store.times();
  }

  findingsDetectedTotal(): ReadonlyMap<Rule, number> {
    return this.#store.detectedTotal();
  }

  errorsTotal(): ReadonlyMap<string, number> {
    return this.#errors;
  }

  registryProbesTotal(): ReadonlyMap<string, number> {
    return this.#o.registry.probeCounts();
  }

  tenantOf(namespace: string): string {
    return tenantResolver(this.#o.kube.namespaces(), this.#o.tenantLabel)(namespace);
  }
}

function imageViewsOf(snapshot: NodeSnapshot, memory: DetectionMemory): readonly ImageView[] {
  const usedBy = new Map<string, { namespace: string; pod: string; container: string }[]>();
  for (const pod of snapshot.pods) {
    for (const c of pod.containers) {
      const cached: CachedImage | undefined = cachedImageOf(snapshot, c, memory);
      if (cached === undefined) continue;
      const list = usedBy.get(cached.entry.id) ?? [];
      list.push({ namespace: pod.namespace, pod: pod.name, container: c.name });
      usedBy.set(cached.entry.id, list);
    }
  }
  return snapshot.inventory.entries().map((e) => {
    const provenance = snapshot.provenance.get(e.id);
    return {
      imageId: e.id,
      repoTags: e.repoTags,
      repoDigests: e.repoDigests,
      sizeBytes: e.sizeBytes,
      pinned: e.pinned,
      visibility: imageVisibility(snapshot, [...e.repoDigests, ...e.repoTags], provenance),
      owners: ownerRefs(provenance),
      possibleOwners: possibleOwnerRefs(provenance),
      ownerPending: snapshot.ownerPending.get(e.id),
      usedBy: usedBy.get(e.id) ?? [],
    };
  });
}

/** Private by the same judgement detection uses, else the registry's answer. */
function imageVisibility(
  snapshot: NodeSnapshot,
  names: readonly string[],
  provenance: ImageProvenance | undefined,
): 'public' | 'private' | 'unknown' {
  let visibility: 'public' | 'unknown' = 'unknown';
  for (const n of names) {
    const ref = parseDockerRef(n);
    if (!ref.ok) continue;
    if (privacyOf(snapshot, ref.value.name, provenance).private) return 'private';
    if (snapshot.visibility.get(ref.value.name)?.visibility === 'public') visibility = 'public';
  }
  return visibility;
}

const NOTHING_KNOWN: NodeProtection = {
  alwaysPullImages: 'unknown',
  kubeletVerification: 'unknown',
  kubeletPolicy: 'unknown',
  kubeletPolicyBasis: 'nothing is read yet',
  preloadedImagesVerificationAllowlist: [],
  kubeletConfigFiles: [],
  webhook: 'unknown',
  protectedBy: 'unknown',
};

function protectionOf(snapshot: NodeSnapshot): NodeProtection {
  const relevant = snapshot.pods.filter((p) => !snapshot.ignoredNamespaces.has(p.namespace));
  const containers = relevant.flatMap((p) => p.containers);
  const alwaysPullImages =
    containers.length === 0
      ? 'unknown'
      : containers.every((c) => c.pullPolicy === 'Always')
        ? 'enforced'
        : 'not-enforced';
  const posture = snapshot.kubeletPosture;
  return {
    alwaysPullImages,
    kubeletVerification: snapshot.kubeletVerification,
    kubeletPolicy: posture.policy,
    kubeletPolicyBasis: posture.basis,
    preloadedImagesVerificationAllowlist: posture.allowlist,
    kubeletConfigFiles: posture.files,
    webhook: 'unknown',
    protectedBy: protectedByOf(alwaysPullImages, posture),
  };
}

// The agent's loop: sources -> one immutable snapshot -> detect() -> findings store -> outputs.
// Every change (a pod event, a cache change, a secret or registry answer) schedules a
// recomputation; a periodic full resync is the safety net.
import type { Logger } from 'pino';
import type { Inventory } from './image/inventory.ts';
import type { CachePoller } from './cri/cache-poller.ts';
import { podCredentialsFor, privacyOf } from './detect/access.ts';
import { cachedImageOf } from './detect/container-image.ts';
import { detect } from './detect/detect.ts';
import type { Finding, Rule } from './detect/finding.ts';
import { ownerRefs, possibleOwnerRefs } from './detect/owners.ts';
import type {
  CredentialVerdict,
  ImageProvenance,
  KubeletImageEvent,
  NodeSnapshot,
  PodView,
  RepositoryVisibility,
  SecretView,
} from './detect/snapshot.ts';
import { verdictKey } from './detect/snapshot.ts';
import { tenantResolver } from './detect/tenancy.ts';
import { FindingsStore } from './findings/store.ts';
import type { ImageId } from './image/digest.ts';
import type { InventoryEntry } from './image/inventory.ts';
import { parseDockerRef } from './image/reference.ts';
import type { PulledRecord } from './provenance/kubelet-records.ts';
import { foldResync } from './provenance/update.ts';
import type { ImageLocation } from './credentials/keyring.ts';
import type { AgentView, ImageView, NodeProtection, SourceHealth, SourceName } from './view.ts';

/** What the agent needs of the Kubernetes side (agent/kube/kube-source.ts provides it). */
export interface KubePort {
  pods(): readonly PodView[];
  namespaces(): ReadonlyMap<string, Readonly<Record<string, string>>>;
  secrets(): ReadonlyMap<string, SecretView>;
  kubeletEvents(): ReadonlyMap<string, KubeletImageEvent>;
  health(): {
    readonly synced: boolean;
    readonly up: boolean;
    readonly lastSync: number | undefined;
    readonly lastError: string | undefined;
  };
}

/** Registry questions: answered asynchronously, cached by the implementation. */
export interface RegistryPort {
  repositoryVisibility(name: string, reference: string): Promise<RepositoryVisibility>;
  verifyCredential(
    credential: { readonly fingerprint: string; basicAuthorization(): string },
    name: string,
    reference: string,
  ): Promise<CredentialVerdict>;
  probeCounts(): ReadonlyMap<string, number>;
}

/** The state dir and the kubelet's records. */
export interface ProvenancePort {
  readKubeletRecords(imageIds: readonly ImageId[]): Promise<{
    records: ReadonlyMap<ImageId, PulledRecord>;
    available: boolean;
    problems: readonly string[];
  }>;
  save(images: ReadonlyMap<ImageId, ImageProvenance>): Promise<string | undefined>;
}

export interface NodeAgentOptions {
  readonly node: string;
  readonly cache: CachePoller;
  readonly kube: KubePort;
  readonly registry: RegistryPort;
  readonly provenance: ProvenancePort;
  readonly initialProvenance: ReadonlyMap<ImageId, ImageProvenance>;
  readonly tenantLabel: string | undefined;
  readonly ignoredNamespaces: readonly string[];
  readonly resyncIntervalMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long an image must be gone from the cache before its provenance is forgotten. */
  readonly forgetGraceMs?: number;
}

const REGISTRY_ANSWER_REFRESH_MS = 10 * 60_000;

type RegistryAnswers = Pick<NodeSnapshot, 'visibility' | 'verdicts'>;
/** How often the cached names are walked for questions due, when the cache did not change. */
const NAMES_REWALK_MS = 60_000;

export class NodeAgent implements AgentView {
  readonly node: string;
  readonly #o: NodeAgentOptions;
  readonly #now: () => number;
  readonly #store = new FindingsStore();
  #provenance: ReadonlyMap<ImageId, ImageProvenance>;
  #missingSince: ReadonlyMap<ImageId, number> = new Map();
  #records: ReadonlyMap<ImageId, PulledRecord> = new Map();
  #recordsAvailable = false;
  readonly #visibility = new Map<string, { value: RepositoryVisibility; at: number }>();
  readonly #verdicts = new Map<string, { value: CredentialVerdict; at: number }>();
  readonly #pendingRegistry = new Set<string>();
  /** When each cached image name last led to a visibility question (by the name as listed). */
  readonly #namesAskedAt = new Map<string, number>();
  #namesWalkedAt: number | undefined;
  readonly #walkedEntries = new WeakSet<InventoryEntry>();
  /** The registry answers as the snapshot holds them; rebuilt only after a new answer. */
  #answers: RegistryAnswers | undefined;
  #secrets: ReadonlyMap<string, SecretView> = new Map();
  #snapshot: NodeSnapshot | undefined;
  #imageViews: { snapshot: NodeSnapshot; images: readonly ImageView[] } | undefined;
  #protection: { snapshot: NodeSnapshot; value: NodeProtection } | undefined;
  #lastScan: { at: number; durationSeconds: number } | undefined;
  readonly #errors = new Map<string, number>();
  #scheduled: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #provenanceDirty = false;
  #saving: Promise<void> | undefined;
  #stateWriteFailing = false;
  #stopped = false;
  #lastKubeError: string | undefined;
  /** The image IDs the last reconcile saw: an arrival is folded as new only once. */
  #foldedImageIds: ReadonlySet<ImageId> = new Set();
  /** Arrivals whose observed-pull attribution waits (a starting pod's secret is not read yet). */
  #pendingArrivals: ReadonlySet<ImageId> = new Set();
  /** Images whose owner is undecided, with why; never persisted. */
  #ownerPending: ReadonlyMap<ImageId, string> = new Map();
  /** The image IDs whose kubelet records have been read since they were listed. */
  readonly #recordsRead = new Set<ImageId>();
  /** The inventory all of whose IDs are in #recordsRead. */
  #recordsReadFor: Inventory | undefined;
  /** A reconcile has folded the runtime's listing with its kubelet records: ready to answer. */
  #firstListingFolded = false;

  constructor(options: NodeAgentOptions) {
    this.#o = options;
    this.node = options.node;
    this.#now = options.now ?? Date.now;
    this.#provenance = options.initialProvenance;
  }

  start(): void {
    this.#resyncTimer = setInterval(() => {
      void this.resync();
    }, this.#o.resyncIntervalMs);
    this.#resyncTimer.unref();
    this.changed();
  }

  /**
   * A source changed: recompute soon, coalescing bursts of events. The kubelet's records of
   * images a listing brought are read first, so no reconcile decides an image's owner without
   * the kubelet's own account of it.
   */
  changed(): void {
    if (this.#stopped || this.#scheduled !== undefined) return;
    this.#scheduled = setTimeout(() => {
      void this.#readNewRecords().then(() => {
        this.#scheduled = undefined;
        this.reconcile();
      });
    }, 10);
  }

  /** Re-reads what is only polled (every cached image's kubelet record) and recomputes. */
  async resync(): Promise<void> {
    this.#forgetOldRegistryAnswers();
    const inventory = this.#o.cache.inventory();
    const ids = inventory.entries().map((e) => e.id);
    const reading = await this.#o.provenance.readKubeletRecords(ids);
    this.#records = reading.records;
    this.#recordsAvailable = reading.available;
    this.#recordsRead.clear();
    for (const id of ids) this.#recordsRead.add(id);
    this.#recordsReadFor = inventory;
    for (const p of reading.problems) this.#o.logger.warn({ source: 'kubelet-records' }, p);
    this.reconcile();
  }

  /**
   * Reads the kubelet's records of the image IDs a listing brought for the first time (only
   * those: the full re-read is the resync's), and forgets those of images no longer listed.
   */
  async #readNewRecords(): Promise<void> {
    for (;;) {
      const inventory = this.#o.cache.inventory();
      if (inventory === this.#recordsReadFor || this.#stopped) return;
      const listed = new Set(inventory.entries().map((e) => e.id));
      const unread = [...listed].filter((id) => !this.#recordsRead.has(id));
      let records = this.#records;
      if (unread.length > 0) {
        const reading = await this.#o.provenance
          .readKubeletRecords(unread)
          .catch((error: unknown) => ({
            records: new Map<ImageId, PulledRecord>(),
            available: this.#recordsAvailable,
            problems: [`reading the kubelet's records failed: ${String(error)}`],
          }));
        for (const p of reading.problems) this.#o.logger.warn({ source: 'kubelet-records' }, p);
        this.#recordsAvailable = reading.available;
        records = new Map([...this.#records, ...reading.records]);
        for (const id of unread) this.#recordsRead.add(id);
      }
      for (const id of this.#recordsRead) if (!listed.has(id)) this.#recordsRead.delete(id);
      if (records.size > 0 && [...records.keys()].some((id) => !listed.has(id)))
        records = new Map([...records].filter(([id]) => listed.has(id)));
      this.#records = records;
      // The listing may have changed while the files were read: then read its new IDs too.
      if (this.#o.cache.inventory() === inventory) {
        this.#recordsReadFor = inventory;
        return;
      }
    }
  }

  reconcile(): void {
    if (this.#stopped) return;
    const started = performance.now();
    const now = this.#now();
    const inventory = this.#o.cache.inventory();
    const pods = this.#o.kube.pods();
    const tenantOfNamespace = tenantResolver(this.#o.kube.namespaces(), this.#o.tenantLabel);
    const secrets = this.#sameSecretsAsBefore(this.#o.kube.secrets());
    const credentialsOf = (pod: PodView, location: ImageLocation) =>
      podCredentialsFor(secrets, pod, location);
    const answers = this.#registryAnswers();
    const events = this.#o.kube.kubeletEvents();

    // The poller's previous listing stays until the cache changes again; were it used alone, a
    // pod started minutes after a pull, holding any credential for the registry (a wrong one
    // included), would be recorded as the puller and its own unauthorized use whitewashed.
    const listedBefore = this.#o.cache.previousImageIds() as ReadonlySet<ImageId> | undefined;
    // An arrival whose attribution waits stays new until it is decided.
    const previousImageIds =
      listedBefore === undefined
        ? undefined
        : new Set(
            [...listedBefore, ...this.#foldedImageIds].filter(
              (id) => !this.#pendingArrivals.has(id),
            ),
          );
    this.#foldedImageIds = new Set(inventory.entries().map((e) => e.id));
    const folded = foldResync(this.#provenance, {
      inventory,
      pods,
      credentialsOf,
      tenantOfNamespace,
      now,
      previousImageIds,
      verdicts: answers.verdicts,
      kubeletEvents: events,
      kubeletRecords: this.#records,
      missingSince: this.#missingSince,
      graceMs: this.#o.forgetGraceMs ?? Math.max(2 * this.#o.resyncIntervalMs, 120_000),
    });
    if (!sameProvenance(this.#provenance, folded.provenance)) this.#provenanceDirty = true;
    this.#provenance = folded.provenance;
    this.#missingSince = folded.missingSince;
    this.#pendingArrivals =
      previousImageIds === undefined
        ? new Set()
        : new Set([...folded.pending.keys()].filter((id) => !previousImageIds.has(id)));
    if (!samePending(this.#ownerPending, folded.pending)) this.#ownerPending = folded.pending;
    for (const c of folded.corrections) {
      this.#o.logger.info(
        {
          source: 'provenance',
          imageId: c.imageId,
          dropped: c.dropped.map((o) => ({
            tenant: o.tenant,
            namespace: o.namespace,
            source: o.source,
          })),
          by: c.by,
        },
        'owner corrected by stronger evidence',
      );
    }
    if (this.#recordsReadFor === inventory && this.#o.cache.status().synced)
      this.#firstListingFolded = true;

    const snapshot: NodeSnapshot = {
      node: this.node,
      takenAt: now,
      inventory,
      pods,
      tenantOfNamespace,
      ignoredNamespaces: new Set(this.#o.ignoredNamespaces),
      secrets,
      provenance: this.#provenance,
      ...answers,
      kubeletEvents: events,
      kubeletVerification: this.#kubeletVerification(events),
      ownerPending: this.#ownerPending,
    };
    this.#snapshot = snapshot;
    const change = this.#store.apply(detect(snapshot), now);
    for (const f of change.added) {
      this.#o.logger.info(
        {
          finding: f.id,
          rule: f.rule,
          severity: f.severity,
          namespace: f.namespace,
          pod: f.pod,
          container: f.container,
          image: f.image,
        },
        'finding detected',
      );
    }
    for (const f of change.retired) {
      this.#o.logger.info(
        { finding: f.id, rule: f.rule, namespace: f.namespace, pod: f.pod },
        'finding retired',
      );
    }
    this.#lastScan = { at: now, durationSeconds: (performance.now() - started) / 1000 };
    this.#askRegistries(snapshot);
    this.#noteKubeHealth();
    if (this.#provenanceDirty) void this.#saveProvenance();
  }

  /**
   * The secrets map of the last snapshot when the kube source hands over the same views again:
   * detection remembers what it worked out per secrets map (compiled keyrings, exposure).
   */
  #sameSecretsAsBefore(secrets: ReadonlyMap<string, SecretView>): ReadonlyMap<string, SecretView> {
    const before = this.#secrets;
    if (before.size === secrets.size && [...secrets].every(([k, v]) => before.get(k) === v))
      return before;
    this.#secrets = secrets;
    return secrets;
  }

  /** Visibility of every cached repository and verdicts for credentials pods would use. */
  #askRegistries(snapshot: NodeSnapshot): void {
    const now = this.#now();
    const fresh = (at: number | undefined) =>
      at !== undefined && now - at < REGISTRY_ANSWER_REFRESH_MS;
    // Every cached name is walked for questions due once a minute; in between, only entries
    // that a new listing brought (a listing reuses the entries it repeats).
    const walkAll =
      this.#namesWalkedAt === undefined || now - this.#namesWalkedAt >= NAMES_REWALK_MS;
    if (walkAll) this.#namesWalkedAt = now;
    const due = walkAll
      ? snapshot.inventory.entries()
      : snapshot.inventory.entries().filter((e) => !this.#walkedEntries.has(e));
    for (const entry of due) {
      this.#walkedEntries.add(entry);
      for (const name of [...entry.repoDigests, ...entry.repoTags]) {
        // Most names were asked about recently: skip them before paying for a parse.
        if (fresh(this.#namesAskedAt.get(name))) continue;
        this.#namesAskedAt.set(name, now);
        const ref = parseDockerRef(name);
        if (!ref.ok) continue;
        const repo = ref.value.name;
        if (fresh(this.#visibility.get(repo)?.at)) continue;
        const reference = ref.value.digest ?? ref.value.tag ?? 'latest';
        this.#ask(`v|${repo}`, async () => {
          const value = await this.#o.registry.repositoryVisibility(repo, reference);
          this.#visibility.set(repo, { value, at: this.#now() });
          this.#answers = undefined;
        });
      }
    }
    // Containers with Always are asked about too: a running one may be the only evidence of who
    // owns an image found at start, and its verdict decides whether it is an owner.
    for (const pod of snapshot.pods) {
      for (const container of pod.containers) {
        const cached = cachedImageOf(snapshot, container);
        if (cached === undefined) continue;
        const { reference, entry } = cached;
        const reference_ =
          cached.repoDigest?.split('@')[1] ?? reference.digest ?? reference.tag ?? 'latest';
        for (const held of podCredentialsFor(snapshot.secrets, pod, reference).matching) {
          const auth = held.credential.authorization;
          if (auth === undefined) continue;
          const key = verdictKey(held.credential.fingerprint, reference.name, entry.id);
          if (fresh(this.#verdicts.get(key)?.at)) continue;
          this.#ask(
            `c|${key}`,
            async () => {
              const value = await this.#o.registry.verifyCredential(
                auth,
                reference.name,
                reference_,
              );
              this.#verdicts.set(key, { value, at: this.#now() });
              this.#answers = undefined;
            },
            () => {
              // A question that failed is answered "unknown": what waits for it stops waiting.
              this.#verdicts.set(key, { value: 'unknown', at: this.#now() });
              this.#answers = undefined;
            },
          );
        }
      }
    }
  }

  #registryAnswers(): RegistryAnswers {
    this.#answers ??= {
      visibility: new Map([...this.#visibility].map(([k, v]) => [k, v.value])),
      verdicts: new Map([...this.#verdicts].map(([k, v]) => [k, v.value])),
    };
    return this.#answers;
  }

  /** Keeps the local answer maps bounded by what is cached now: older answers are dropped. */
  #forgetOldRegistryAnswers(): void {
    const cutoff = this.#now() - 2 * REGISTRY_ANSWER_REFRESH_MS;
    for (const map of [this.#visibility, this.#verdicts]) {
      for (const [key, answer] of map) {
        if (answer.at >= cutoff) continue;
        map.delete(key);
        this.#answers = undefined;
      }
    }
    for (const [name, at] of this.#namesAskedAt) if (at < cutoff) this.#namesAskedAt.delete(name);
  }

  #ask(key: string, work: () => Promise<void>, onFailure?: () => void): void {
    if (this.#pendingRegistry.has(key)) return;
    this.#pendingRegistry.add(key);
    work()
      .catch((error: unknown) => {
        onFailure?.();
        this.#countError('registry');
        this.#o.logger.warn({ source: 'registry', err: String(error) }, 'registry question failed');
      })
      .finally(() => {
        this.#pendingRegistry.delete(key);
        this.changed();
      });
  }

  async #saveProvenance(): Promise<void> {
    if (this.#saving !== undefined) return;
    this.#provenanceDirty = false;
    this.#saving = (async () => {
      const error = await this.#o.provenance.save(this.#provenance);
      if (error !== undefined) {
        this.#countError('state');
        this.#provenanceDirty = true;
        // Log once per failing period, not on every reconcile.
        if (!this.#stateWriteFailing) this.#o.logger.error({ source: 'state' }, error);
        this.#stateWriteFailing = true;
      } else if (this.#stateWriteFailing) {
        this.#stateWriteFailing = false;
        this.#o.logger.info({ source: 'state' }, 'state dir writable again; provenance saved');
      }
    })().finally(() => {
      this.#saving = undefined;
    });
    return this.#saving;
  }

  /** Counts each new failure of the Kubernetes side once (not every reconcile it lasts). */
  #noteKubeHealth(): void {
    const { lastError } = this.#o.kube.health();
    if (lastError !== undefined && lastError !== this.#lastKubeError)
      this.#countError('kubernetes');
    this.#lastKubeError = lastError;
  }

  #countError(source: string): void {
    this.#errors.set(source, (this.#errors.get(source) ?? 0) + 1);
  }

  /** No registry question is outstanding: the findings reflect every answer asked for. */
  settled(): boolean {
    return this.#pendingRegistry.size === 0 && this.#scheduled === undefined;
  }

  noteCriError(): void {
    this.#countError('cri');
  }

  #kubeletVerification(events: ReadonlyMap<string, KubeletImageEvent>): 'on' | 'off' | 'unknown' {
    if (this.#recordsAvailable) return 'on';
    for (const e of events.values()) if (e === 'already-present-verified') return 'on';
    for (const e of events.values()) if (e === 'already-present') return 'off';
    return 'unknown';
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#scheduled !== undefined) clearTimeout(this.#scheduled);
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    await this.#saving;
    if (this.#provenanceDirty) {
      const error = await this.#o.provenance.save(this.#provenance);
      if (error !== undefined) this.#o.logger.error({ source: 'state' }, error);
    }
  }

  // ---- AgentView ----

  findings(): readonly Finding[] {
    return this.#store.active();
  }

  finding(id: string): Finding | undefined {
    return this.#store.get(id);
  }

  images(): readonly ImageView[] {
    const snapshot = this.#snapshot;
    if (snapshot === undefined) return [];
    // Scrapes and API calls between two reconciles see the same snapshot: compute once.
    if (this.#imageViews?.snapshot === snapshot) return this.#imageViews.images;
    const images = this.#imageViewsOf(snapshot);
    this.#imageViews = { snapshot, images };
    return images;
  }

  #imageViewsOf(snapshot: NodeSnapshot): readonly ImageView[] {
    const usedBy = new Map<string, { namespace: string; pod: string; container: string }[]>();
    for (const pod of snapshot.pods) {
      for (const c of pod.containers) {
        const cached = cachedImageOf(snapshot, c);
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

  sources(): Readonly<Record<SourceName, SourceHealth>> {
    const cri = this.#o.cache.status();
    const kube = this.#o.kube.health();
    return {
      cri: {
        up: cri.up,
        lastSync: cri.lastSync,
        lastError: cri.lastError,
        stale: cri.synced && !cri.up,
      },
      kubernetes: {
        up: kube.up,
        lastSync: kube.lastSync,
        lastError: kube.lastError,
        stale: kube.synced && !kube.up,
      },
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
    if (!this.#firstListingFolded)
      return {
        ready: false,
        reason: "reading the kubelet's pulled-image records of the first image listing",
      };
    return { ready: true };
  }

  protection(): NodeProtection {
    const snapshot = this.#snapshot;
    if (snapshot === undefined)
      return { alwaysPullImages: 'unknown', kubeletVerification: 'unknown' };
    // Asked on every scrape: computed once per snapshot, like images().
    if (this.#protection?.snapshot !== snapshot)
      this.#protection = { snapshot, value: protectionOf(snapshot) };
    return this.#protection.value;
  }

  lastScan(): { readonly at: number; readonly durationSeconds: number } | undefined {
    return this.#lastScan;
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

/** What the images API shows: private by the same judgement detection uses, else the registry's answer. */
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

function samePending(a: ReadonlyMap<ImageId, string>, b: ReadonlyMap<ImageId, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, reason] of a) if (b.get(id) !== reason) return false;
  return true;
}

function sameProvenance(
  a: ReadonlyMap<ImageId, ImageProvenance>,
  b: ReadonlyMap<ImageId, ImageProvenance>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [id, p] of a) {
    const q = b.get(id);
    if (
      q === undefined ||
      q.cachedSince !== p.cachedSince ||
      q.nodeWide !== p.nodeWide ||
      q.owners.length !== p.owners.length
    )
      return false;
    for (let i = 0; i < p.owners.length; i += 1) {
      const x = p.owners[i];
      const y = q.owners[i];
      if (
        x === undefined ||
        y === undefined ||
        x.tenant !== y.tenant ||
        x.secret !== y.secret ||
        x.lastSeen !== y.lastSeen ||
        x.source !== y.source
      )
        return false;
    }
  }
  return true;
}

function protectionOf(snapshot: NodeSnapshot): NodeProtection {
  const relevant = snapshot.pods.filter((p) => !snapshot.ignoredNamespaces.has(p.namespace));
  const containers = relevant.flatMap((p) => p.containers);
  return {
    alwaysPullImages:
      containers.length === 0
        ? 'unknown'
        : containers.every((c) => c.pullPolicy === 'Always')
          ? 'enforced'
          : 'not-enforced',
    kubeletVerification: snapshot.kubeletVerification,
  };
}

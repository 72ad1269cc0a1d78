// The agent's loop: sources -> derive() -> one immutable snapshot -> detect() -> read model.
// Every change (a pod event, a cache change, a secret or registry answer) schedules one
// reconcile, coalescing bursts; a periodic resync re-reads what is only polled. The loop owns
// the state that lives across reconciles (provenance, detection's memory) and nothing else:
// the registry questions, the kubelet's records, saving and the read model each have their
// own owner.
import type { Logger } from 'pino';
import { detect } from '../detect/detect.ts';
import { placeOf } from '../detect/finding.ts';
import { DetectionMemory } from '../detect/memory.ts';
import type { ImageProvenance } from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import {
  derive,
  initialProvenanceState,
  provenanceSaveDue,
  type ProvenanceChange,
  type ProvenanceState,
} from './derive.ts';
import { KubeletRecords } from './kubelet-records.ts';
import type {
  CachePort,
  ControllerPort,
  FindingTimesPort,
  KubeletConfigPort,
  KubePort,
  ProvenancePort,
  RegistryPort,
} from './ports.ts';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import { StateSaver } from './state-saver.ts';
import type { FindingsChange, FindingTimes } from '../findings/store.ts';
import { ReadModel } from './read-model.ts';
import { RegistryQuestions } from './registry-questions.ts';

export interface NodeAgentOptions {
  readonly node: string;
  readonly cache: CachePort;
  readonly kube: KubePort;
  readonly registry: RegistryPort;
  readonly controller?: ControllerPort | undefined;
  readonly provenance: ProvenancePort;
  /** The kubelet's configuration files; without it, the kubelet's policy is unknown. */
  readonly kubeletConfig?: KubeletConfigPort | undefined;
  readonly initialProvenance: ReadonlyMap<ImageId, ImageProvenance>;
  /**
   * Where finding times are kept, and what was kept before this start: without them every
   * finding is new after a restart (a new firstSeen, an Event series counted once more).
   */
  readonly findingTimes?: FindingTimesPort | undefined;
  readonly initialFindingTimes?: ReadonlyMap<string, FindingTimes> | undefined;
  readonly tenantLabel: string | undefined;
  readonly ignoredNamespaces: readonly string[];
  readonly resyncIntervalMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long an image must be gone from the cache before its provenance is forgotten. */
  readonly forgetGraceMs?: number;
  /**
   * Called after every reconcile with what changed, for the outputs that write findings
   * elsewhere (reports, events). They read `view.findings()` for the whole current set.
   */
  readonly onPublished?: (change: FindingsChange) => void;
}

/** Finding times are saved at least this often while findings last (an hour). */
const TIMES_REFRESH_MS = 60 * 60_000;

export class NodeAgent {
  readonly node: string;
  /** What the HTTP API and the metrics read. */
  readonly view: ReadModel;
  readonly #o: NodeAgentOptions;
  readonly #now: () => number;
  readonly #memory = new DetectionMemory();
  readonly #ignored: ReadonlySet<string>;
  readonly #records: KubeletRecords;
  readonly #questions: RegistryQuestions;
  readonly #saver: StateSaver<ReadonlyMap<ImageId, ImageProvenance>>;
  readonly #timesSaver: StateSaver<ReadonlyMap<string, FindingTimes>> | undefined;
  /** When provenance was last handed to its saver. */
  #provenanceSavedAt = 0;
  /** Owners' last-seen times moved on since then (saved by the next save, or by stop()). */
  #lastSeenUnsaved = false;
  /** When finding times were last handed to their saver. */
  #timesSavedAt = -Infinity;
  #state: ProvenanceState;
  #scheduled: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastKubeError: string | undefined;
  #kubeletConfig: KubeletConfigReading = {
    kind: 'unknown',
    files: [],
    reason: "the kubelet's configuration is not read yet",
  };

  constructor(options: NodeAgentOptions) {
    this.#o = options;
    this.node = options.node;
    this.#now = options.now ?? Date.now;
    this.#ignored = new Set(options.ignoredNamespaces);
    this.#state = initialProvenanceState(options.initialProvenance);
    this.view = new ReadModel({ ...options, memory: this.#memory });
    this.#records = new KubeletRecords(options.provenance, options.logger);
    const onError = () => {
      this.view.countError('state');
    };
    const { logger } = options;
    this.#saver = new StateSaver({
      what: 'provenance',
      save: (images) => options.provenance.save(images),
      logger,
      onError,
    });
    const timesPort = options.findingTimes;
    this.#timesSaver =
      timesPort &&
      new StateSaver({
        what: 'finding times',
        save: (times) => timesPort.save(times),
        logger,
        onError,
      });
    this.#questions = new RegistryQuestions({
      registry: options.registry,
      now: this.#now,
      onAnswer: () => {
        this.changed();
      },
      onError: (error) => {
        this.view.countError('registry');
        options.logger.warn({ source: 'registry', err: String(error) }, 'registry question failed');
      },
    });
  }

  start(): void {
    this.#resyncTimer = setInterval(() => {
      void this.resync();
    }, this.#o.resyncIntervalMs);
    this.#resyncTimer.unref();
    if (this.#o.kubeletConfig === undefined)
      this.#kubeletConfig = {
        kind: 'unknown',
        files: [],
        reason: 'no kubelet configuration source',
      };
    void this.#readKubeletConfig().then(() => {
      this.changed();
    });
    this.changed();
  }

  /**
   * The files can change under a running kubelet (it applies them at its next start): read on
   * every resync. Kept as the same object while it says the same, so detection's memory holds.
   */
  async #readKubeletConfig(): Promise<void> {
    const port = this.#o.kubeletConfig;
    if (port === undefined) return;
    const reading = await port.read().catch((error: unknown): KubeletConfigReading => ({
      kind: 'unknown',
      files: [],
      reason: `reading the kubelet's configuration failed: ${String(error)}`,
    }));
    if (JSON.stringify(reading) === JSON.stringify(this.#kubeletConfig)) return;
    this.#kubeletConfig = reading;
    this.#o.logger.info(
      { source: 'kubelet-config', reading },
      reading.kind === 'read' ? 'kubelet configuration read' : 'kubelet configuration not known',
    );
  }

  /**
   * A source changed: recompute soon, coalescing bursts of events. The kubelet's records of
   * images a listing brought are read first, so no reconcile decides an image's owner without
   * the kubelet's own account of it.
   */
  changed(): void {
    if (this.#stopped || this.#scheduled !== undefined) return;
    this.#scheduled = setTimeout(() => {
      void this.#records
        .readNew(() => this.#o.cache.inventory())
        .then(() => {
          this.#scheduled = undefined;
          this.reconcile();
        });
    }, 10);
  }

  /** Re-reads what is only polled (every cached image's kubelet record) and recomputes. */
  async resync(): Promise<void> {
    this.#questions.forgetOld();
    await this.#readKubeletConfig();
    await this.#records.readAll(this.#o.cache.inventory());
    this.reconcile();
  }

  reconcile(): void {
    if (this.#stopped) return;
    const started = performance.now();
    const inventory = this.#o.cache.inventory();
    const kube = this.#o.kube;
    const derived = derive(
      this.#state,
      {
        node: this.node,
        now: this.#now(),
        inventory,
        listedBefore: this.#o.cache.previousImageIds(),
        pods: kube.pods(),
        namespaces: kube.namespaces(),
        tenantLabel: this.#o.tenantLabel,
        ignoredNamespaces: this.#ignored,
        secrets: kube.secrets(),
        kubeletEvents: kube.kubeletEvents(),
        kubeletRecords: this.#records.records(),
        kubeletRecordsAvailable: this.#records.available(),
        kubeletConfig: this.#kubeletConfig,
        answers: this.#questions.answers(),
        forgetGraceMs: this.#o.forgetGraceMs ?? Math.max(2 * this.#o.resyncIntervalMs, 120_000),
      },
      this.#memory,
    );
    this.#state = derived.state;
    const { snapshot } = derived;
    const change = this.view.publish(snapshot, detect(snapshot, this.#memory), {
      durationSeconds: (performance.now() - started) / 1000,
      listingFolded: this.#records.readFor(inventory) && this.#o.cache.status().synced,
    });
    this.#log(derived.corrections, change);
    // Asked before the outputs hear of it, so settled() says whether answers are outstanding.
    this.#questions.askFor(snapshot, this.#memory);
    this.#o.onPublished?.(change);
    this.#noteKubeHealth();
    this.#saveProvenance(derived.provenanceChange, snapshot.takenAt);
    this.#saveTimes(change, snapshot.takenAt);
  }

  #saveProvenance(change: ProvenanceChange, now: number): void {
    const current = () => this.#state.provenance;
    const due = provenanceSaveDue(change, now, this.#provenanceSavedAt);
    if (due === 'now') {
      this.#provenanceSavedAt = now;
      this.#lastSeenUnsaved = false;
      this.#saver.changed(current);
      return;
    }
    if (due === 'later') this.#lastSeenUnsaved = true;
    this.#saver.retry(current);
  }

  /**
   * Finding times are saved when the set of findings changes, and at least every
   * TIMES_REFRESH_MS so the lastSeen kept for a lasting finding stays recent enough not to be
   * forgotten (FINDING_TIMES_MAX_AGE_MS); not on every reconcile, whose only news is lastSeen.
   */
  #saveTimes(change: FindingsChange, now: number): void {
    const saver = this.#timesSaver;
    if (saver === undefined) return;
    const times = () => this.view.findingTimes();
    const changed = change.added.length > 0 || change.retired.length > 0;
    if (changed || now - this.#timesSavedAt >= TIMES_REFRESH_MS) {
      this.#timesSavedAt = now;
      saver.changed(times);
    } else saver.retry(times);
  }

  /** No registry question or reconcile is outstanding: the findings reflect every answer. */
  settled(): boolean {
    return this.#questions.settled() && this.#scheduled === undefined;
  }

  noteCriError(): void {
    this.view.countError('cri');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#scheduled !== undefined) clearTimeout(this.#scheduled);
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    const current = () => this.#state.provenance;
    if (this.#lastSeenUnsaved) this.#saver.changed(current);
    await this.#saver.flush(current);
    // The last lastSeen too, so a restart right after forgets nothing it should keep.
    const times = () => this.view.findingTimes();
    this.#timesSaver?.changed(times);
    await this.#timesSaver?.flush(times);
  }

  #log(
    corrections: ReturnType<typeof derive>['corrections'],
    change: ReturnType<ReadModel['publish']>,
  ): void {
    const log = this.#o.logger;
    for (const c of corrections) {
      const dropped = c.dropped.map((o) => ({
        tenant: o.tenant,
        namespace: o.namespace,
        source: o.source,
      }));
      log.info(
        { source: 'provenance', imageId: c.imageId, dropped, by: c.by },
        'owner corrected by stronger evidence',
      );
    }
    for (const f of change.added) {
      const { namespace, pod, container, image } = placeOf(f);
      const { id, rule, severity } = f;
      log.info(
        { finding: id, rule, severity, namespace, pod, container, image },
        'finding detected',
      );
    }
    for (const f of change.retired) {
      const { namespace, pod } = placeOf(f);
      log.info({ finding: f.id, rule: f.rule, namespace, pod }, 'finding retired');
    }
  }

  /** Counts each new failure of the Kubernetes side once (not every reconcile it lasts). */
  #noteKubeHealth(): void {
    const { lastError } = this.#o.kube.health();
    if (lastError !== undefined && lastError !== this.#lastKubeError)
      this.view.countError('kubernetes');
    this.#lastKubeError = lastError;
  }
}

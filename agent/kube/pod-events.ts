// Asks the API server, once per pod start, what the kubelet said about each container's image
// (targeted: `involvedObject.uid=<pod>,reason=Pulled` in the pod's namespace; never a watch on
// every event of the cluster from every node). Only containers that may use the node's cache
// (pull policy not Always) are asked about, and only once the kubelet has dealt with their image.
import type { Logger } from 'pino';
import type { ContainerRunState, KubeletImageEvent, PodView } from '../model/snapshot.ts';
import { kubeletEventKey } from '../model/snapshot.ts';
import { err, type Result } from '../result.ts';
import { kubeletImageEventsOf } from './kubelet-events.ts';
import type { Limiter } from './limiter.ts';

/** Lists the pod's `Pulled` events; must not throw. */
export type PodEventFetcher = (pod: PodView) => Promise<Result<readonly unknown[], string>>;

export interface KubeletEventTrackerOptions {
  readonly nodeName: string;
  readonly fetch: PodEventFetcher;
  readonly limit: Limiter;
  /**
   * Events reach the API server asynchronously: when a started container has no answer, ask
   * again after these delays (default 5 s, 30 s), but only for containers started recently.
   */
  readonly retryDelaysMs?: readonly number[];
  /** What "recently" means for those retries (default 5 min). */
  readonly recentMs?: number;
  /**
   * How long the API server keeps events (kube-apiserver --event-ttl, default 1 h): a container
   * that last started before that has no event left to find, so it is not asked about.
   */
  readonly eventTtlMs?: number;
  /** Delay before asking again after a failed request (doubles up to 5 min; default 5 s). */
  readonly errorRetryMs?: number;
  readonly onChange: () => void;
  readonly now?: () => number;
  readonly logger?: Logger;
}

// Waiting reasons the kubelet reports only after it found the image (pkg/kubelet/container and
// kuberuntime): a Pulled event has been written for the container.
const WAITING_AFTER_IMAGE = new Set([
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreStartHookError',
  'PostStartHookError',
]);

/** The kubelet has made its image decision for a container in this state. */
export function imageDecided(state: ContainerRunState): boolean {
  switch (state.kind) {
    case 'running':
    case 'terminated':
      return true;
    case 'waiting':
      return WAITING_AFTER_IMAGE.has(state.reason);
    case 'not-started':
      return false;
  }
}

function startedAt(state: ContainerRunState): number | undefined {
  return state.kind === 'running' || state.kind === 'terminated' ? state.startedAt : undefined;
}

interface PodState {
  pod: PodView;
  readonly answers: Map<string, KubeletImageEvent>;
  /** Containers that were decided when the pod was last asked about successfully. */
  covered: Set<string>;
  querying: boolean;
  retries: number;
  errors: number;
  timer: NodeJS.Timeout | undefined;
}

export class KubeletEventTracker {
  readonly #options: KubeletEventTrackerOptions;
  readonly #retryDelaysMs: readonly number[];
  readonly #recentMs: number;
  readonly #eventTtlMs: number;
  readonly #errorRetryMs: number;
  readonly #now: () => number;
  readonly #pods = new Map<string, PodState>();
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: KubeletEventTrackerOptions) {
    this.#options = options;
    this.#retryDelaysMs = options.retryDelaysMs ?? [5_000, 30_000];
    this.#recentMs = options.recentMs ?? 5 * 60_000;
    this.#eventTtlMs = options.eventTtlMs ?? 60 * 60_000;
    this.#errorRetryMs = options.errorRetryMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  /** The node's pods now; starts the queries that became due. */
  update(pods: readonly PodView[]): void {
    if (this.#stopped) return;
    const present = new Set(pods.map((p) => p.uid));
    let changed = false;
    for (const [uid, state] of this.#pods) {
      if (present.has(uid)) continue;
      clearTimeout(state.timer);
      this.#pods.delete(uid);
      if (state.answers.size > 0) changed = true;
    }
    for (const pod of pods) {
      let state = this.#pods.get(pod.uid);
      if (state === undefined) {
        state = {
          pod,
          answers: new Map(),
          covered: new Set(),
          querying: false,
          retries: 0,
          errors: 0,
          timer: undefined,
        };
        this.#pods.set(pod.uid, state);
      }
      state.pod = pod;
      // A container that became decided since the last answer: this is the "pod start" query.
      if (this.#unanswered(state).some((name) => !state.covered.has(name))) {
        clearTimeout(state.timer);
        state.timer = undefined;
        this.#query(state);
      }
    }
    if (changed) this.#options.onChange();
  }

  /** Key: kubeletEventKey(podUid, containerName). */
  answers(): Map<string, KubeletImageEvent> {
    const all = new Map<string, KubeletImageEvent>();
    for (const [uid, state] of this.#pods) {
      for (const [container, answer] of state.answers) {
        all.set(kubeletEventKey(uid, container), answer);
      }
    }
    return all;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const state of this.#pods.values()) clearTimeout(state.timer);
    await Promise.all([...this.#inFlight]);
  }

  #unanswered(state: PodState): string[] {
    // An agent starting on a busy node would otherwise ask about every pod it finds.
    const expired = this.#now() - this.#eventTtlMs;
    return state.pod.containers
      .filter(
        (c) =>
          c.pullPolicy !== 'Always' &&
          imageDecided(c.state) &&
          !state.answers.has(c.name) &&
          (startedAt(c.state) ?? Number.POSITIVE_INFINITY) >= expired,
      )
      .map((c) => c.name);
  }

  #query(state: PodState): void {
    if (state.querying || this.#stopped) return;
    state.querying = true;
    const task = this.#ask(state).finally(() => {
      state.querying = false;
      this.#inFlight.delete(task);
      // A container that became decided while the request was under way is asked about now.
      const current = this.#pods.get(state.pod.uid) === state;
      if (
        current &&
        state.timer === undefined &&
        this.#unanswered(state).some((n) => !state.covered.has(n))
      ) {
        this.#query(state);
      }
    });
    this.#inFlight.add(task);
  }

  async #ask(state: PodState): Promise<void> {
    const asked = new Set(this.#unanswered(state));
    const uid = state.pod.uid;
    const gone = (): boolean => this.#stopped || this.#pods.get(uid) !== state;
    let events: Result<readonly unknown[], string> | undefined;
    try {
      // A pod deleted while it waited for its turn is not asked about: under churn most are.
      events = await this.#options.limit(async () =>
        gone() ? undefined : this.#options.fetch(state.pod),
      );
    } catch (e) {
      events = err(e instanceof Error ? e.message : String(e));
    }
    if (events === undefined || gone()) return;
    if (!events.ok) {
      const delay = Math.min(5 * 60_000, this.#errorRetryMs * 2 ** state.errors);
      state.errors++;
      this.#options.logger?.warn(
        { pod: `${state.pod.namespace}/${state.pod.name}`, error: events.error, retryInMs: delay },
        'reading the kubelet events of a pod failed',
      );
      this.#schedule(state, delay);
      return;
    }
    state.errors = 0;
    state.covered = asked;
    let changed = false;
    for (const [container, answer] of kubeletImageEventsOf(
      events.value,
      this.#options.nodeName,
      uid,
    )) {
      if (state.answers.get(container) === answer) continue;
      if (!state.pod.containers.some((c) => c.name === container)) continue;
      state.answers.set(container, answer);
      changed = true;
    }
    if (changed) this.#options.onChange();

    const recent = this.#now() - this.#recentMs;
    const lagging = state.pod.containers.some(
      (c) =>
        asked.has(c.name) &&
        !state.answers.has(c.name) &&
        (startedAt(c.state) ?? state.pod.createdAt) >= recent,
    );
    const delay = this.#retryDelaysMs[state.retries];
    if (lagging && delay !== undefined) {
      state.retries++;
      this.#schedule(state, delay);
    }
  }

  #schedule(state: PodState, delayMs: number): void {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.#query(state);
    }, delayMs);
    state.timer.unref();
  }
}

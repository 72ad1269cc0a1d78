// Simulated agents for the controller benchmark: each makes the calls a real agent's
// BrokerClient (agent/broker/client.ts) makes, with its own bound token and its own keep-alive
// HTTPS pool of 4 sockets verifying the controller's certificate, and reacts to answers as the
// agent does (agent/kube/pull-secrets.ts retries a secret after 30 s; a registry question that
// failed is asked again only at the next 10-minute round, agent/core/registry-questions.ts).
// Registry questions asked together go in batches of up to MAX_QUESTIONS_PER_CALL per call,
// as the client's DataLoader sends them.
// A global bound keeps at most `maxInFlight` calls on the wire at once: the load generator's
// limit, not the agents'. Runs in a worker thread (broker-load-worker.ts) so that the embedded
// API server in the main thread answers the controller's TokenReviews without waiting on it.
import { Agent as HttpsAgent, request } from 'node:https';
import { Worker } from 'node:worker_threads';
import {
  BROKER_PATHS,
  MAX_QUESTIONS_PER_CALL,
  secretAnswer,
  verdictBatchAnswer,
  visibilityBatchAnswer,
} from '../../agent/broker/wire.ts';

export type CallKind = 'pull-secret' | 'visibility' | 'verdict';
export const CALL_KINDS: readonly CallKind[] = ['pull-secret', 'visibility', 'verdict'];

export interface ImageQuestion {
  /** registry/repository */
  readonly name: string;
  /** The manifest digest the node's cache holds. */
  readonly reference: string;
}

export interface AgentSpec {
  readonly node: string;
  /** Bound service-account token with the node claim, audience pullwatch-controller. */
  readonly token: string;
  readonly secrets: readonly {
    readonly namespace: string;
    readonly name: string;
    /** A pod of the node that names it. */
    readonly pod: string;
    /** The images of the node's pods that name it: one verdict each. */
    readonly verdicts: readonly ImageQuestion[];
  }[];
  /** Every repository in the node's image cache. */
  readonly visibility: readonly ImageQuestion[];
}

export interface LoadInit {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  readonly caPem: string;
  readonly agents: readonly AgentSpec[];
  readonly maxInFlight: number;
  /** BrokerClient's pool: maxSockets 4. */
  readonly socketsPerAgent: number;
  /** BrokerClient's bound on one call (10 s). */
  readonly timeoutMs: number;
  /** PullSecretCache's retry after a transient failure (30 s). */
  readonly secretRetryMs: number;
}

export interface SteadyPlan {
  readonly windowMs: number;
  /** Mean interval between an agent's rounds of registry questions. */
  readonly registryPeriodMs: number;
  /** Mean interval between refreshes of one pull secret. */
  readonly secretPeriodMs: number;
}

export interface KindReport {
  /** Calls put on the wire. */
  readonly issued: number;
  /** Questions those calls carried (a registry call carries a batch; a secret call, one). */
  readonly questions: number;
  /** Calls made but still waiting for a slot of the generator when the phase ended: not sent. */
  readonly abandoned: number;
  /** Wall time of each call answered 200: from being put on the wire to the last byte. */
  readonly latencies: Float64Array;
  /**
   * Of every call: from the agent making it to the answer, its own 4-socket queue included and
   * the generator's queue for its slots left out.
   */
  readonly agentLatencies: Float64Array;
  /** HTTP status (or `timeout`, `error`) -> calls. */
  readonly statuses: Record<string, number>;
  /** For calls not answered 200: the controller's reason, with node names folded. */
  readonly reasons: Record<string, number>;
  /** Per question answered: visibility (`public`, `unknown (probe rate limit)`, ...) or verdict. */
  readonly answers: Record<string, number>;
}

export interface PhaseReport {
  readonly phase: 'cold' | 'steady';
  readonly durationMs: number;
  readonly kinds: Record<CallKind, KindReport>;
  /** Calls that opened a new connection (TCP + TLS handshake) / reused a kept-alive one. */
  readonly newConnections: number;
  readonly reusedConnections: number;
  /** Cold: per agent, ms from the start until all its secrets were answered (NaN: never). */
  readonly secretsDoneMs: Float64Array;
  /** Registry questions in calls refused (not answered 200): asked again only at the next round. */
  readonly registryRefused: number;
  /** Largest number of calls the load generator had on the wire at once. */
  readonly maxInFlightSeen: number;
}

export type LoadCommand =
  | { readonly type: 'cold'; readonly capMs: number }
  | { readonly type: 'steady'; readonly plan: SteadyPlan };

export type LoadMessage =
  | { readonly type: 'progress'; readonly line: string }
  | { readonly type: 'report'; readonly report: PhaseReport }
  | { readonly type: 'failed'; readonly error: string };

/** A FIFO semaphore: waiters are served in the order they came. */
class Slots {
  #free: number;
  #waiters: (() => void)[] = [];
  #head = 0;

  constructor(size: number) {
    this.#free = size;
  }

  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    if (this.#head < this.#waiters.length) {
      const next = this.#waiters[this.#head] as () => void;
      this.#head += 1;
      if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
        this.#waiters = this.#waiters.slice(this.#head);
        this.#head = 0;
      }
      next();
    } else {
      this.#free += 1;
    }
  }
}

class KindRecorder {
  issued = 0;
  questions = 0;
  abandoned = 0;
  readonly latencies: number[] = [];
  readonly agentLatencies: number[] = [];
  readonly statuses: Record<string, number> = {};
  readonly reasons: Record<string, number> = {};
  readonly answers: Record<string, number> = {};

  report(): KindReport {
    return {
      issued: this.issued,
      questions: this.questions,
      abandoned: this.abandoned,
      latencies: Float64Array.from(this.latencies),
      agentLatencies: Float64Array.from(this.agentLatencies),
      statuses: this.statuses,
      reasons: this.reasons,
      answers: this.answers,
    };
  }
}

const bump = (record: Record<string, number>, key: string): void => {
  record[key] = (record[key] ?? 0) + 1;
};

class PhaseRecorder {
  readonly kinds: Record<CallKind, KindRecorder> = {
    'pull-secret': new KindRecorder(),
    visibility: new KindRecorder(),
    verdict: new KindRecorder(),
  };
  newConnections = 0;
  reusedConnections = 0;
  registryRefused = 0;
  maxInFlightSeen = 0;
  readonly started = performance.now();
}

interface Answer {
  /** HTTP status; 0 when there was none. */
  readonly status: number;
  readonly body: unknown;
  readonly failure?: string;
}

const NOT_SENT = 'not sent: the phase was over';

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** What the controller said, without the node it named (reasons are counted across nodes). */
function reasonOf(answer: Answer): string {
  if (answer.failure !== undefined) return answer.failure;
  const error = (answer.body as { error?: unknown } | undefined)?.error;
  const text = typeof error === 'string' ? error : 'no reason given';
  return `${answer.status}: ${text.replace(/node-\d+/g, 'node-N').slice(0, 120)}`;
}

class SimulatedAgent {
  readonly spec: AgentSpec;
  readonly #load: BrokerLoad;
  readonly #pool: HttpsAgent;
  readonly #sockets: Slots;
  /** namespace/name -> credential fingerprint, from the controller's answers. */
  readonly fingerprints = new Map<string, string>();

  constructor(spec: AgentSpec, load: BrokerLoad) {
    this.spec = spec;
    this.#load = load;
    this.#pool = new HttpsAgent({
      ca: load.init.caPem,
      keepAlive: true,
      maxSockets: load.init.socketsPerAgent,
    });
    this.#sockets = new Slots(load.init.socketsPerAgent);
  }

  async call(kind: CallKind, body: object): Promise<Answer> {
    const phase = this.#load.phase;
    const recorder = phase.kinds[kind];
    const made = performance.now();
    await this.#sockets.acquire();
    const pooled = performance.now();
    await this.#load.slots.acquire();
    if (pooled > this.#load.deadline || performance.now() > this.#load.deadline) {
      this.#load.slots.release();
      this.#sockets.release();
      recorder.abandoned += 1;
      return { status: 0, body: undefined, failure: NOT_SENT };
    }
    recorder.issued += 1;
    recorder.questions += questionsIn(body);
    this.#load.inFlight += 1;
    phase.maxInFlightSeen = Math.max(phase.maxInFlightSeen, this.#load.inFlight);
    const sent = performance.now();
    let answer: Answer;
    let reused = false;
    try {
      ({ answer, reused } = await this.#post(kind, body));
    } finally {
      this.#load.inFlight -= 1;
      this.#load.slots.release();
      this.#sockets.release();
    }
    const done = performance.now();
    if (reused) phase.reusedConnections += 1;
    else phase.newConnections += 1;
    // The generator's own queue for its slots is no part of what an agent would wait.
    recorder.agentLatencies.push(done - made - (sent - pooled));
    bump(
      recorder.statuses,
      answer.status === 0 ? (answer.failure ?? 'error') : String(answer.status),
    );
    if (answer.status === 200) {
      recorder.latencies.push(done - sent);
      for (const a of answersOf(kind, answer.body)) bump(recorder.answers, a);
    } else {
      bump(recorder.reasons, reasonOf(answer));
    }
    this.#load.callsDone += 1;
    return answer;
  }

  #post(kind: CallKind, body: object): Promise<{ answer: Answer; reused: boolean }> {
    const path =
      kind === 'pull-secret'
        ? BROKER_PATHS.pullSecret
        : kind === 'visibility'
          ? BROKER_PATHS.visibility
          : BROKER_PATHS.verdict;
    const text = JSON.stringify(body);
    const timeoutMs = this.#load.init.timeoutMs;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (answer: Answer): void => {
        if (settled) return;
        settled = true;
        resolve({ answer, reused: req.reusedSocket });
      };
      const req = request(
        new URL(path, this.#load.init.url),
        {
          method: 'POST',
          agent: this.#pool,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            authorization: `Bearer ${this.spec.token}`,
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            settle({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', (error: NodeJS.ErrnoException) => {
            settle({ status: 0, body: undefined, failure: error.code ?? error.message });
          });
        },
      );
      req.on('timeout', () => {
        req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        settle({ status: 0, body: undefined, failure: error.code ?? error.message });
      });
      req.end(text);
    });
  }

  /** The round of registry questions: every repository's visibility, then the verdicts. */
  async registryRound(): Promise<void> {
    await Promise.all([this.askVisibility(), this.askVerdicts()]);
  }

  askVisibility(): Promise<unknown> {
    return this.#askInBatches('visibility', this.spec.visibility);
  }

  /** The verdicts for the images whose pods name a secret (`only`: namespace/name) known. */
  askVerdicts(only?: string): Promise<unknown> {
    const questions: object[] = [];
    for (const s of this.spec.secrets) {
      const key = `${s.namespace}/${s.name}`;
      if (only !== undefined && only !== key) continue;
      const fingerprint = this.fingerprints.get(key) ?? this.#load.fingerprints.get(key);
      if (fingerprint === undefined) continue; // the secret is not known yet
      for (const v of s.verdicts)
        questions.push({
          namespace: s.namespace,
          secret: s.name,
          fingerprint,
          name: v.name,
          reference: v.reference,
        });
    }
    return this.#askInBatches('verdict', questions);
  }

  /** Questions asked together, in calls of at most MAX_QUESTIONS_PER_CALL. */
  #askInBatches(kind: 'visibility' | 'verdict', questions: readonly object[]): Promise<unknown> {
    const calls: Promise<void>[] = [];
    for (let i = 0; i < questions.length; i += MAX_QUESTIONS_PER_CALL) {
      const batch = questions.slice(i, i + MAX_QUESTIONS_PER_CALL);
      calls.push(
        this.call(kind, { questions: batch }).then((answer) => {
          if (answer.status !== 200 && answer.failure !== NOT_SENT)
            this.#load.phase.registryRefused += batch.length;
        }),
      );
    }
    return Promise.all(calls);
  }

  /** One pull secret read through the controller, retried as the agent retries it. */
  async readSecret(index: number, until: number): Promise<boolean> {
    const s = this.spec.secrets[index];
    if (s === undefined) return false;
    for (;;) {
      const answer = await this.call('pull-secret', {
        namespace: s.namespace,
        name: s.name,
        pod: s.pod,
      });
      if (answer.status === 200) {
        const parsed = secretAnswer.safeParse(answer.body);
        const fingerprint = parsed.success ? parsed.data.credentials[0]?.fingerprint : undefined;
        if (fingerprint !== undefined) {
          const key = `${s.namespace}/${s.name}`;
          this.fingerprints.set(key, fingerprint);
          this.#load.fingerprints.set(key, fingerprint);
        }
        return true;
      }
      // 403 is definite (the agent keeps an "unreadable" view until the problem TTL).
      if (answer.status === 403 || answer.status === 400) return false;
      if (performance.now() + this.#load.init.secretRetryMs > until) return false;
      await sleep(this.#load.init.secretRetryMs);
    }
  }

  close(): void {
    this.#pool.destroy();
  }
}

function questionsIn(body: object): number {
  const questions = (body as { questions?: unknown }).questions;
  return Array.isArray(questions) ? questions.length : 1;
}

/** Each question's answer in a call answered 200. */
function answersOf(kind: CallKind, body: unknown): string[] {
  if (kind === 'pull-secret') {
    const parsed = secretAnswer.safeParse(body);
    return [parsed.success ? parsed.data.state : 'malformed answer'];
  }
  if (kind === 'visibility') {
    const parsed = visibilityBatchAnswer.safeParse(body);
    if (!parsed.success) return ['malformed answer'];
    return parsed.data.answers.map((a) =>
      a.visibility === 'unknown' && /rate limit/.test(a.basis)
        ? 'unknown (probe rate limit)'
        : a.visibility,
    );
  }
  const parsed = verdictBatchAnswer.safeParse(body);
  if (!parsed.success) return ['malformed answer'];
  return parsed.data.answers.map((a) => ('verdict' in a ? a.verdict : `refused: ${a.error}`));
}

/** All the simulated agents, and the phases they go through. */
export class BrokerLoad {
  readonly init: LoadInit;
  readonly slots: Slots;
  readonly agents: SimulatedAgent[];
  /** namespace/name -> fingerprint: the key is cluster-wide, so any agent's answer serves all. */
  readonly fingerprints = new Map<string, string>();
  phase = new PhaseRecorder();
  /** performance.now() after which calls still waiting for a slot are not sent. */
  deadline = Number.POSITIVE_INFINITY;
  inFlight = 0;
  agentsWithSecrets = 0;
  callsDone = 0;

  constructor(init: LoadInit) {
    this.init = init;
    this.slots = new Slots(init.maxInFlight);
    this.agents = init.agents.map((spec) => new SimulatedAgent(spec, this));
  }

  #progress(log: (line: string) => void, extra: () => string): NodeJS.Timeout {
    let last = this.callsDone;
    return setInterval(() => {
      const done = this.callsDone;
      log(`${done - last} calls in 10 s, ${this.inFlight} on the wire, ${extra()}`);
      last = done;
    }, 10_000);
  }

  /**
   * Every agent starts at once: each reads its node's pull secrets (retrying after 30 s while
   * refused) and asks every cached repository's visibility; once a secret is known, the
   * verdicts of the images whose pods name it. Ends when every agent is done, or at `capMs`.
   */
  async coldStart(capMs: number, log: (line: string) => void): Promise<PhaseReport> {
    this.phase = new PhaseRecorder();
    const started = performance.now();
    const until = started + capMs;
    this.deadline = until;
    this.agentsWithSecrets = 0;
    const secretsDone = new Float64Array(this.agents.length).fill(Number.NaN);
    let agentsDone = 0;
    const timer = this.#progress(
      log,
      () =>
        `${this.agentsWithSecrets}/${this.agents.length} agents with all their secrets, ${agentsDone} done`,
    );
    try {
      await Promise.all(
        this.agents.map(async (agent, i) => {
          // As the agent: the secrets its pods name are read as soon as the pods are listed,
          // the cache's repositories asked about on the first reconcile.
          const secrets = agent.spec.secrets.map(async (s, index) => {
            const key = `${s.namespace}/${s.name}`;
            if (await agent.readSecret(index, until)) await agent.askVerdicts(key);
            return agent.fingerprints.has(key);
          });
          const visibility = agent.askVisibility();
          const all = await Promise.all(secrets);
          if (all.every(Boolean)) {
            secretsDone[i] = performance.now() - started;
            this.agentsWithSecrets += 1;
          }
          await visibility;
          agentsDone += 1;
        }),
      );
    } finally {
      clearInterval(timer);
    }
    return this.#report('cold', performance.now() - started, secretsDone);
  }

  /**
   * The refresh pattern of running agents, in real time: each agent's registry round at a
   * random phase of its period, each pull secret at a random phase of its own. Calls made
   * within the window count; the window's end waits for the calls on the wire.
   */
  async steady(plan: SteadyPlan, log: (line: string) => void): Promise<PhaseReport> {
    this.phase = new PhaseRecorder();
    const started = performance.now();
    const end = started + plan.windowMs;
    // Calls the generator could not send within a minute after the window are not sent.
    this.deadline = end + 60_000;
    const pending: Promise<unknown>[] = [];
    const timers: NodeJS.Timeout[] = [];
    const at = (ms: number, work: () => Promise<unknown>): void => {
      timers.push(
        setTimeout(() => {
          pending.push(work());
        }, ms),
      );
    };
    for (const agent of this.agents) {
      for (
        let t = Math.random() * plan.registryPeriodMs;
        t < plan.windowMs;
        t += plan.registryPeriodMs
      )
        at(t, () => agent.registryRound());
      agent.spec.secrets.forEach((_, index) => {
        for (
          let t = Math.random() * plan.secretPeriodMs;
          t < plan.windowMs;
          t += plan.secretPeriodMs
        )
          at(t, () => agent.readSecret(index, end));
      });
    }
    const timer = this.#progress(
      log,
      () => `${Math.round((end - performance.now()) / 1000)} s left`,
    );
    try {
      await sleep(plan.windowMs);
      for (const t of timers) clearTimeout(t);
      await Promise.all(pending);
    } finally {
      clearInterval(timer);
    }
    return this.#report('steady', plan.windowMs, new Float64Array(0));
  }

  #report(phase: 'cold' | 'steady', durationMs: number, secretsDone: Float64Array): PhaseReport {
    const p = this.phase;
    return {
      phase,
      durationMs,
      kinds: {
        'pull-secret': p.kinds['pull-secret'].report(),
        visibility: p.kinds.visibility.report(),
        verdict: p.kinds.verdict.report(),
      },
      newConnections: p.newConnections,
      reusedConnections: p.reusedConnections,
      secretsDoneMs: secretsDone,
      registryRefused: p.registryRefused,
      maxInFlightSeen: p.maxInFlightSeen,
    };
  }

  close(): void {
    for (const agent of this.agents) agent.close();
  }
}

/** The main thread's handle on the worker that runs the simulated agents. */
export interface LoadWorker {
  run(command: LoadCommand): Promise<PhaseReport>;
  stop(): Promise<void>;
}

export function startLoadWorker(init: LoadInit, log: (line: string) => void): LoadWorker {
  const worker = new Worker(new URL('./broker-load-worker.ts', import.meta.url), {
    workerData: init,
  });
  let waiting: { resolve: (r: PhaseReport) => void; reject: (e: Error) => void } | undefined;
  worker.on('message', (message: LoadMessage) => {
    if (message.type === 'progress') log(message.line);
    else if (message.type === 'report') waiting?.resolve(message.report);
    else waiting?.reject(new Error(message.error));
  });
  worker.on('error', (error: Error) => waiting?.reject(error));
  worker.on('exit', (code) => waiting?.reject(new Error(`the load worker exited (${code})`)));
  return {
    run: (command) =>
      new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        worker.postMessage(command);
      }),
    stop: async () => {
      waiting = undefined;
      await worker.terminate();
    },
  };
}

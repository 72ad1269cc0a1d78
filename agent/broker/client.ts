// The agent's side of the controller: it asks about its node's pull secrets and registry
// answers over HTTPS, verifying the controller's certificate against --controller-ca-file and
// presenting its bound service-account token (--controller-token-file, re-read as the kubelet
// rotates it). Failures are values: a call the controller could not answer leaves the agent
// with what it knew, marked unknown, never with a guess.
//
// Registry questions asked in the same tick (a round: agent/core/registry-questions.ts asks
// them all at once) go in batches of up to MAX_QUESTIONS_PER_CALL per call. DataLoader does
// the coalescing (the batching utility GraphQL servers use for the same job: collect the keys
// asked for in one tick, one call per batch, each caller's own answer or error back).
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request } from 'node:https';
import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { SecretFetch } from '../kube/pull-secrets.ts';
import type { SecretRef } from '../kube/secret-view.ts';
import type { CredentialCheck } from '../model/credential.ts';
import type { CredentialVerdict, RepositoryVisibility } from '../model/snapshot.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { ReportRef } from './wire.ts';
import {
  BROKER_PATHS,
  MAX_QUESTIONS_PER_CALL,
  OWN_REPORTS_PATH,
  errorAnswer,
  ownReportsAnswer,
  secretAnswer,
  secretFromWire,
  verdictBatchAnswer,
  visibilityBatchAnswer,
  type VerdictRequest,
} from './wire.ts';

interface VisibilityQuestion {
  readonly name: string;
  readonly reference: string;
}

export interface BrokerClientOptions {
  /** `https://host:port` of the controller's Service. */
  readonly url: string;
  /** PEM bundle the controller's certificate must chain to. */
  readonly caFile: string;
  /** The projected service-account token (audience: the controller's). */
  readonly tokenFile: string;
  /** Bound on one call (default 10 s). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export interface ControllerHealth {
  /** A call has been answered. */
  readonly synced: boolean;
  /** The last call was answered (a refusal counts: the controller is there). */
  readonly up: boolean;
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
}

type Answer =
  | { readonly kind: 'answer'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'failed'; readonly reason: string };

/** Statuses that say something about the request, not about the controller being away. */
const DEFINITE = new Set([200, 400, 403, 404, 413]);
/** A token is re-read at most this often (the kubelet rotates it well before it expires). */
const TOKEN_REREAD_MS = 10_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

export class BrokerClient {
  readonly #o: BrokerClientOptions;
  readonly #now: () => number;
  #agent: HttpsAgent | undefined;
  #token: { value: string; readAt: number } | undefined;
  readonly #visibility: DataLoader<VisibilityQuestion, RepositoryVisibility>;
  readonly #verdicts: DataLoader<VerdictRequest, CredentialVerdict>;
  #health: ControllerHealth = {
    synced: false,
    up: false,
    lastSync: undefined,
    lastError: undefined,
  };

  constructor(options: BrokerClientOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    // No memo: the agent keeps answers itself (RegistryQuestions); this only batches.
    const batching = { cache: false, maxBatchSize: MAX_QUESTIONS_PER_CALL } as const;
    this.#visibility = new DataLoader((questions) => this.#askVisibility(questions), batching);
    this.#verdicts = new DataLoader((questions) => this.#askVerdicts(questions), batching);
  }

  health(): ControllerHealth {
    return this.#health;
  }

  /** A pull secret as the controller sees it, for a pod of this node that names it. */
  async pullSecret(ref: SecretRef, pod: string): Promise<SecretFetch> {
    const answer = await this.#call(BROKER_PATHS.pullSecret, { ...ref, pod });
    const label = `${ref.namespace}/${ref.name}`;
    if (answer.kind === 'answer' && answer.status === 200) {
      const parsed = this.#parse(secretAnswer, answer.body);
      if (parsed !== undefined && parsed.namespace === ref.namespace && parsed.name === ref.name)
        return { view: secretFromWire(parsed), transient: false };
      return unavailable(ref, `the controller's answer about pull secret ${label} is malformed`);
    }
    if (answer.kind === 'answer' && answer.status === 403)
      return {
        view: {
          state: 'unreadable',
          ...ref,
          problem: `the controller refused: ${errorOf(answer.body)}`,
        },
        transient: false,
      };
    return unavailable(
      ref,
      `asking the controller about pull secret ${label} failed: ${describe(answer)}`,
    );
  }

  /** Thrown when not answered: asked again later, the last known answer standing meanwhile. */
  visibility(name: string, reference: string): Promise<RepositoryVisibility> {
    return this.#visibility.load({ name, reference });
  }

  verdict(
    check: Extract<CredentialCheck, { via: 'controller' }>,
    name: string,
    reference: string,
  ): Promise<CredentialVerdict> {
    return this.#verdicts.load({
      namespace: check.namespace,
      secret: check.secret,
      fingerprint: check.fingerprint,
      name,
      reference,
    });
  }

  async #askVisibility(
    questions: readonly VisibilityQuestion[],
  ): Promise<(RepositoryVisibility | Error)[]> {
    const answer = await this.#call(BROKER_PATHS.visibility, { questions });
    const answers =
      answer.kind === 'answer' && answer.status === 200
        ? this.#parse(visibilityBatchAnswer, answer.body)?.answers
        : undefined;
    return questions.map(
      (q, i) =>
        (answers?.length === questions.length ? answers[i] : undefined) ??
        new Error(`asking the controller whether ${q.name} is public failed: ${describe(answer)}`),
    );
  }

  async #askVerdicts(questions: readonly VerdictRequest[]): Promise<(CredentialVerdict | Error)[]> {
    const answer = await this.#call(BROKER_PATHS.verdict, { questions });
    // Refused (the secret is not named on this node, as the controller sees it): unknown.
    if (answer.kind === 'answer' && answer.status === 403) return questions.map(() => 'unknown');
    const answers =
      answer.kind === 'answer' && answer.status === 200
        ? this.#parse(verdictBatchAnswer, answer.body)?.answers
        : undefined;
    if (answers?.length !== questions.length)
      return questions.map(
        () => new Error(`asking the controller for a verdict failed: ${describe(answer)}`),
      );
    return answers.map((a) => ('verdict' in a ? a.verdict : 'unknown'));
  }

  /**
   * The report objects labeled for this node, as the controller's watch holds them: what an
   * agent without its record of written reports reconciles (it may not read reports itself).
   */
  async ownReports(): Promise<Result<readonly ReportRef[], string>> {
    const answer = await this.#call(OWN_REPORTS_PATH, {});
    if (answer.kind === 'answer' && answer.status === 200) {
      const parsed = this.#parse(ownReportsAnswer, answer.body);
      if (parsed !== undefined) return ok(parsed.reports);
    }
    return err(
      `asking the controller which reports exist for this node failed: ${describe(answer)}`,
    );
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  #parse<T>(schema: z.ZodType<T>, body: unknown): T | undefined {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    this.#o.logger?.warn({ source: 'controller' }, 'the controller answered in an unknown shape');
    return undefined;
  }

  async #httpsAgent(): Promise<HttpsAgent> {
    // The CA bundle is read once per connection pool; a rotated bundle is picked up when a
    // call fails and the pool is made again.
    this.#agent ??= new HttpsAgent({
      ca: await readFile(this.#o.caFile),
      keepAlive: true,
      maxSockets: 4,
    });
    return this.#agent;
  }

  async #bearer(): Promise<string> {
    const now = this.#now();
    if (this.#token === undefined || now - this.#token.readAt > TOKEN_REREAD_MS) {
      this.#token = { value: (await readFile(this.#o.tokenFile, 'utf8')).trim(), readAt: now };
    }
    return this.#token.value;
  }

  async #call(path: string, body: object): Promise<Answer> {
    let answer: Answer;
    try {
      const [agent, token] = await Promise.all([this.#httpsAgent(), this.#bearer()]);
      answer = await post(new URL(path, this.#o.url), body, {
        agent,
        token,
        timeoutMs: this.#o.timeoutMs ?? 10_000,
      });
    } catch (error) {
      // Files unreadable (not mounted yet): say which, never their content.
      answer = { kind: 'failed', reason: (error as NodeJS.ErrnoException).code ?? String(error) };
    }
    this.#note(path, answer);
    return answer;
  }

  #note(path: string, answer: Answer): void {
    // The reports endpoint answers 503 while the controller's reports watch lists: that says
    // nothing about the broker, which pullwatch_up{source="controller"} is about.
    if (path === OWN_REPORTS_PATH && answer.kind === 'answer' && answer.status === 503) return;
    const definite = answer.kind === 'answer' && DEFINITE.has(answer.status);
    if (definite) {
      this.#health = { synced: true, up: true, lastSync: this.#now(), lastError: undefined };
      return;
    }
    if (answer.kind === 'answer' && answer.status === 401) this.#token = undefined;
    if (answer.kind === 'failed') {
      this.#agent?.destroy();
      this.#agent = undefined;
    }
    const lastError = describe(answer);
    if (this.#health.up || this.#health.lastError !== lastError)
      this.#o.logger?.warn(
        { source: 'controller', error: lastError },
        'the controller did not answer',
      );
    this.#health = { ...this.#health, up: false, lastError };
  }
}

function unavailable(ref: SecretRef, problem: string): SecretFetch {
  return { view: { state: 'unavailable', ...ref, problem }, transient: true };
}

function errorOf(body: unknown): string {
  const parsed = errorAnswer.safeParse(body);
  return parsed.success ? parsed.data.error.slice(0, 300) : 'no reason given';
}

function describe(answer: Answer): string {
  return answer.kind === 'failed'
    ? answer.reason
    : `HTTP ${answer.status}${answer.status === 200 ? '' : ` (${errorOf(answer.body)})`}`;
}

function post(
  url: URL,
  body: object,
  options: { readonly agent: HttpsAgent; readonly token: string; readonly timeoutMs: number },
): Promise<Answer> {
  const text = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: options.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          authorization: `Bearer ${options.token}`,
        },
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            resolve({ kind: 'failed', reason: 'answer too large' });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          resolve({ kind: 'answer', status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (error) => {
          resolve({
            kind: 'failed',
            reason: (error as NodeJS.ErrnoException).code ?? error.message,
          });
        });
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    });
    req.on('error', (error) => {
      resolve({ kind: 'failed', reason: (error as NodeJS.ErrnoException).code ?? error.message });
    });
    req.end(text);
  });
}

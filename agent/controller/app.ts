// The controller's HTTPS port: the broker an agent asks about its own node's pull secrets and
// registry answers, plus probes and metrics. Every broker call is a POST of a small JSON object
// with the agent's bound token; the caller's node comes from the token, never from the body.
// Refusals are JSON {"error": ...} in words that name only what the caller asked about.
//
// The same port serves people the cluster's findings (GET /api/v1/findings, cluster-api.ts),
// kept apart from the broker on purpose: the broker answers only the agents' service account,
// each about its own node, whatever RBAC says; the findings API answers any user whom RBAC lets
// `get` the path (TokenReview + SubjectAccessReview, as the agent's own API), and never an
// agent for being one. Neither route set reads the other's caller.
import express from 'express';
import type { Express, NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { z } from 'zod';
import {
  BROKER_PATHS,
  MAX_BATCH_REQUEST_BYTES,
  MAX_REQUEST_BYTES,
  OWN_REPORTS_PATH,
  ownReportsRequest,
  pullSecretRequest,
  secretToWire,
  verdictBatchRequest,
  verdictRequest,
  type VerdictRequest,
  visibilityBatchRequest,
  visibilityRequest,
} from '../broker/wire.ts';
import { ExpiringCache } from '../http/decision-cache.ts';
import { TokenBucket } from '../registry/rate-limit.ts';
import type { CredentialVerdict, RepositoryVisibility, SecretView } from '../model/snapshot.ts';
import type { ReportRef } from '../broker/wire.ts';
import type { Result } from '../result.ts';
import type { AgentCaller, CallerDecision } from './caller.ts';
import type { BindingAnswer } from './pod-index.ts';

/** What the app needs of the rest of the controller. */
export interface BrokerPorts {
  authenticate(authorization: string | undefined): Promise<CallerDecision>;
  /** Pod namespace/pod is bound to node and names the secret (pod index, then a read). */
  podBinding(node: string, namespace: string, pod: string, secret: string): Promise<BindingAnswer>;
  /** Some pod bound to node names namespace/secret (pod index). */
  secretNamedOnNode(node: string, namespace: string, secret: string): boolean;
  secret(namespace: string, name: string): Promise<SecretView>;
  visibility(name: string, reference: string): Promise<RepositoryVisibility>;
  verify(
    view: SecretView,
    fingerprint: string,
    name: string,
    reference: string,
  ): Promise<CredentialVerdict>;
  ready(): { readonly ready: true } | { readonly ready: false; readonly reason: string };
  /** The report objects labeled for `node` (the controller's watch), or why it cannot tell. */
  ownReports(node: string): Result<readonly ReportRef[], string>;
}

export interface ControllerAppOptions {
  readonly ports: BrokerPorts;
  readonly registry: Registry;
  readonly logger: Logger;
  /** GET /api/v1/findings for people (cluster-api.ts), authorized by RBAC, not as agents. */
  readonly findingsApi?: Router;
  /** Broker calls per second each node may make (with a burst of twice that); default 20. */
  readonly perNodeRequestsPerSecond?: number;
  readonly now?: () => number;
}

type Handler = (caller: AgentCaller, body: unknown) => Promise<{ status: number; body: unknown }>;

class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.map(String).join('.') ?? '';
  throw new Refusal(
    400,
    `invalid request${where === '' ? '' : ` (${where})`}: ${issue?.message ?? 'bad body'}`,
  );
}

export function createControllerApp(options: ControllerAppOptions): Express {
  const { ports, logger } = options;
  const now = options.now ?? Date.now;
  const perSecond = options.perNodeRequestsPerSecond ?? 20;
  const budgets = new ExpiringCache<TokenBucket>(100_000, now);
  const calls = new Counter({
    name: 'pullwatch_controller_requests_total',
    help: 'Broker calls answered, by call and HTTP status.',
    labelNames: ['call', 'code'] as const,
    registers: [options.registry],
  });

  const pullSecret: Handler = async (caller, body) => {
    const request = parse(pullSecretRequest, body);
    const bound = await ports.podBinding(caller.node, request.namespace, request.pod, request.name);
    if (bound !== 'bound')
      throw new Refusal(
        403,
        `pull secret ${request.namespace}/${request.name} is not named by pod ${request.namespace}/${request.pod} on node ${caller.node}`,
      );
    return { status: 200, body: secretToWire(await ports.secret(request.namespace, request.name)) };
  };

  // Registry calls carry one question, or a batch ({"questions": [...]}, answered
  // {"answers": [...]} in order): the agent's client sends a round's questions together.
  const visibility: Handler = async (_caller, body) => {
    if (isBatch(body)) {
      const { questions } = parse(visibilityBatchRequest, body);
      const answers = await Promise.all(
        questions.map((q) => ports.visibility(q.name, q.reference)),
      );
      return { status: 200, body: { answers: answers.map((a) => ({ ...a })) } };
    }
    const request = parse(visibilityRequest, body);
    const answer = await ports.visibility(request.name, request.reference);
    return { status: 200, body: { ...answer } };
  };

  // Every question is checked on its own against the pod index for the caller's node: a batch
  // never lends one question's standing to another.
  const oneVerdict = async (
    caller: AgentCaller,
    q: VerdictRequest,
  ): Promise<{ verdict: CredentialVerdict } | { error: string }> => {
    if (!ports.secretNamedOnNode(caller.node, q.namespace, q.secret))
      return {
        error: `pull secret ${q.namespace}/${q.secret} is not named by any pod on node ${caller.node}`,
      };
    const view = await ports.secret(q.namespace, q.secret);
    return { verdict: await ports.verify(view, q.fingerprint, q.name, q.reference) };
  };

  const verdict: Handler = async (caller, body) => {
    if (isBatch(body)) {
      const { questions } = parse(verdictBatchRequest, body);
      const answers = await Promise.all(questions.map((q) => oneVerdict(caller, q)));
      return { status: 200, body: { answers } };
    }
    const answer = await oneVerdict(caller, parse(verdictRequest, body));
    if ('error' in answer) throw new Refusal(403, answer.error);
    return { status: 200, body: answer };
  };

  // From the watch, synchronously: an agent restarting without its record costs no API request.
  const ownReports: Handler = (caller, body) => {
    parse(ownReportsRequest, body);
    const answer = ports.ownReports(caller.node);
    if (!answer.ok) throw new Refusal(503, answer.error);
    return Promise.resolve({ status: 200, body: { reports: answer.value } });
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get(['/livez', '/healthz'], (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const readiness = ports.ready();
    if (readiness.ready) res.type('text/plain').send('ok\n');
    else res.status(503).type('text/plain').send(`${readiness.reason}\n`);
  });
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(options.registry.contentType).send(await options.registry.metrics());
    } catch (error) {
      next(error);
    }
  });

  if (options.findingsApi !== undefined) app.use(options.findingsApi);

  const routes: readonly [string, keyof typeof BROKER_PATHS | 'ownReports', Handler][] = [
    [BROKER_PATHS.pullSecret, 'pullSecret', pullSecret],
    [BROKER_PATHS.visibility, 'visibility', visibility],
    [BROKER_PATHS.verdict, 'verdict', verdict],
    [OWN_REPORTS_PATH, 'ownReports', ownReports],
  ];
  const batchPaths: readonly string[] = [BROKER_PATHS.visibility, BROKER_PATHS.verdict];
  for (const [path, call, handler] of routes) {
    const limit = batchPaths.includes(path) ? MAX_BATCH_REQUEST_BYTES : MAX_REQUEST_BYTES;
    const json = express.json({ limit, strict: true, type: () => true });
    const answer = (res: Response, status: number, body: unknown): void => {
      calls.inc({ call, code: String(status) });
      res.status(status).json(body);
    };
    // Who asks, and whether it is within its node's budget, before the body is read.
    const admit = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const decision = await ports.authenticate(req.headers.authorization);
      if (!decision.ok) {
        answer(res, decision.status, { error: decision.reason });
        return;
      }
      const { caller } = decision;
      let budget = budgets.get(caller.node);
      if (budget === undefined) {
        budget = new TokenBucket({ perSecond, burst: 2 * perSecond }, now);
        budgets.set(caller.node, budget, 10 * 60_000);
      }
      if (!budget.tryTake()) {
        answer(res, 429, {
          error: `too many requests from node ${caller.node}; try again shortly`,
        });
        return;
      }
      res.locals['caller'] = caller;
      next();
    };
    const refuseBadBody = (error: unknown, _req: Request, res: Response, next: NextFunction) => {
      const type = (error as { type?: unknown } | null)?.type;
      if (type === 'entity.too.large') {
        answer(res, 413, { error: `request body larger than ${limit} bytes` });
      } else if (typeof type === 'string' && type.startsWith('entity.')) {
        answer(res, 400, { error: 'request body is not a JSON object' });
      } else {
        next(error);
      }
    };
    const handle = async (req: Request, res: Response): Promise<void> => {
      const caller = res.locals['caller'] as AgentCaller;
      try {
        const { status, body } = await handler(caller, req.body as unknown);
        answer(res, status, body);
      } catch (error) {
        if (error instanceof Refusal) {
          answer(res, error.status, { error: error.message });
          return;
        }
        logger.error({ err: String(error), call }, 'a broker call failed');
        answer(res, 500, { error: 'internal error' });
      }
    };
    app.post(path, admit, json, refuseBadBody, handle);
  }

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: String(error) }, 'request failed');
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}

/** A body of the batch form: an object with `questions`. */
function isBatch(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'questions' in body;
}

// The cluster's findings over HTTP, for people: GET /api/v1/findings and /api/v1/findings/{id}
// on the controller, with the agent's schema and filters (agent/http) plus `node`, documented in
// docs/controller-openapi.yaml. Authorized as the agent's own API is, after kube-rbac-proxy: a
// TokenReview says who the bearer is, a SubjectAccessReview whether RBAC lets that user `get`
// the path, so one ClusterRole with `nonResourceURLs: ["/api/*"]` gives a security team every
// node's findings from one URL.
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import type { RequestAuthorizer } from '../http/auth.ts';
import { clientErrorStatus } from '../http/app.ts';
import type { FindingJson } from '../http/findings-json.ts';
import { findingJson, findingsListJson } from '../http/findings-json.ts';
import type { FindingsFilter } from '../http/findings-query.ts';
import { FINDINGS_PARAMETERS, findingsFilterOf, selectFindings } from '../http/findings-query.ts';
import { LastAnswer } from '../http/last-answer.ts';
import type { ParameterError } from '../http/query.ts';
import { parseQuery, rawQuery } from '../http/query.ts';
import type { Result } from '../result.ts';
import { ok } from '../result.ts';
import type { ClusterFindingsIndex } from './cluster-findings.ts';
import type { ClusterReportsSource } from './cluster-reports-watch.ts';

export const FINDINGS_PATH = '/api/v1/findings';
export const CLUSTER_FINDINGS_PARAMETERS = [...FINDINGS_PARAMETERS, 'node'] as const;

export interface ClusterFindingsFilter extends FindingsFilter {
  /** Only the findings of this node. */
  readonly node?: string;
}

export function parseClusterFindingsFilter(
  query: string,
): Result<ClusterFindingsFilter, ParameterError> {
  const parsed = parseQuery(query, CLUSTER_FINDINGS_PARAMETERS);
  if (!parsed.ok) return parsed;
  const filter = findingsFilterOf(parsed.value);
  if (!filter.ok) return filter;
  const node = parsed.value.get('node');
  return ok(node === undefined ? filter.value : { ...filter.value, node });
}

/** The agent's order and filters over every node's findings, narrowed to one node if asked. */
export function selectClusterFindings(
  index: ClusterFindingsIndex,
  filter: ClusterFindingsFilter,
): FindingJson[] {
  const { node } = filter;
  const candidates =
    node === undefined ? index.findings : index.findings.filter((f) => f.node === node);
  return selectFindings(candidates, filter, index.tenantOf);
}

export interface ClusterApiOptions {
  readonly source: Pick<ClusterReportsSource, 'findings'>;
  readonly auth: RequestAuthorizer;
  readonly logger: Logger;
}

function sendError(res: Response, status: number, error: string, parameter?: string): void {
  res.status(status).json(parameter === undefined ? { error } : { error, parameter });
}

export function clusterFindingsRouter(options: ClusterApiOptions): Router {
  const { source, auth, logger } = options;
  // Exact paths: the path a SubjectAccessReview is asked about is the path that is served.
  const router = express.Router({ caseSensitive: true, strict: true });
  const paths = [FINDINGS_PATH, `${FINDINGS_PATH}/:id`];

  router.all(paths, async (req: Request, res: Response, next: NextFunction) => {
    res.set({
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'",
    });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      sendError(res, 405, `method ${req.method} not allowed`);
      return;
    }
    const outcome = await auth.authorize({
      path: req.path,
      authorization: req.headers.authorization,
    });
    if (outcome.allowed) {
      next();
      return;
    }
    if (outcome.status === 401) res.set('WWW-Authenticate', 'Bearer realm="pullwatch"');
    if (outcome.status === 429) res.set('Retry-After', '1');
    sendError(res, outcome.status, outcome.reason);
  });

  const lastAnswer = new LastAnswer();
  router.get(FINDINGS_PATH, (req, res) => {
    const query = rawQuery(req.originalUrl);
    const filter = parseClusterFindingsFilter(query);
    if (!filter.ok) {
      sendError(res, 400, filter.error.error, filter.error.parameter);
      return;
    }
    const findings = source.findings();
    if (!findings.serving) {
      sendError(res, 503, findings.reason);
      return;
    }
    const { index, stale } = findings;
    // The index is replaced whenever a cluster report changes: it stands for the whole answer.
    const body = lastAnswer.body([query, stale, index], () =>
      findingsListJson(selectClusterFindings(index, filter.value), stale),
    );
    res.set('Content-Type', 'application/json; charset=utf-8').send(body);
  });

  router.get(`${FINDINGS_PATH}/:id`, (req, res) => {
    const query = parseQuery(rawQuery(req.originalUrl), []);
    if (!query.ok) {
      sendError(res, 400, query.error.error, query.error.parameter);
      return;
    }
    const findings = source.findings();
    if (!findings.serving) {
      sendError(res, 503, findings.reason);
      return;
    }
    const finding = findings.index.finding(req.params['id'] ?? '');
    if (finding === undefined) {
      sendError(res, 404, 'no active finding has this id');
      return;
    }
    res.json({ item: findingJson(finding), stale: findings.stale });
  });

  // Express recognises an error handler by its four parameters.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  router.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const clientStatus = clientErrorStatus(e);
    if (clientStatus === undefined)
      logger.error({ err: e, path: req.path }, 'a cluster findings request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (clientStatus === undefined) sendError(res, 500, 'internal error');
    else sendError(res, 400, 'bad request');
  });
  return router;
}

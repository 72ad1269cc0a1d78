// The agent's one HTTP port: Prometheus metrics, Kubernetes probes, and a read-only JSON API
// over the findings, the image cache and the agent's status, as docs/openapi.yaml describes.
// Every refusal is JSON `{"error": ...}`; no stack trace or internal message reaches a client.
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BuildInfo } from '../version.ts';
import { buildInfo as currentBuild } from '../version.ts';
import type { AgentView } from '../view.ts';
import type { RequestAuthorizer } from './auth.ts';
import { OPEN_PATHS } from './auth.ts';
import { findingJson, findingsListJson } from './findings-json.ts';
import { parseFindingsFilter, selectFindings } from './findings-query.ts';
import { LastAnswer } from './last-answer.ts';
import type { OutputsStatusJson } from './outputs-status.ts';
import type { OpenApiDocument } from './openapi.ts';
import { loadOpenApiDocument, openApiDocumentPath, servedOpenApiDocument } from './openapi.ts';
import { parseQuery, rawQuery } from './query.ts';
import { imageJson, isStale, statusJson } from './representation.ts';

export interface HttpAppOptions {
  readonly view: AgentView;
  /** The agent's metrics registry (agent/metrics), served at /metrics. */
  readonly registry: Registry;
  readonly auth: RequestAuthorizer;
  readonly logger: Logger;
  /** For tests: the build to report instead of the running one. */
  readonly buildInfo?: BuildInfo;
  /** The report and Event writers' state for /api/v1/status (`pullwatch run` has them). */
  readonly outputs?: () => OutputsStatusJson;
  /** For tests: the OpenAPI document to serve instead of docs/openapi.yaml. */
  readonly openApiDocument?: OpenApiDocument;
}

/** The endpoints, for the landing page. */
export const ENDPOINTS: readonly { readonly path: string; readonly summary: string }[] = [
  { path: '/metrics', summary: 'Prometheus metrics' },
  { path: '/livez', summary: 'liveness probe (no authentication)' },
  { path: '/healthz', summary: 'liveness probe, older name (no authentication)' },
  { path: '/readyz', summary: 'readiness probe (no authentication)' },
  { path: '/api/v1/findings', summary: 'active findings, filterable' },
  { path: '/api/v1/findings/{id}', summary: 'one finding' },
  { path: '/api/v1/images', summary: 'the node image cache' },
  { path: '/api/v1/status', summary: 'sources, readiness, version, reports and Events' },
  { path: '/openapi.json', summary: 'OpenAPI 3.1 description of this API' },
];

function landingPage(node: string): string {
  const items = ENDPOINTS.map(({ path, summary }) =>
    path.includes('{')
      ? `<li><code>${path}</code>: ${summary}</li>`
      : `<li><a href="${path}"><code>${path}</code></a>: ${summary}</li>`,
  ).join('\n');
  const escapedNode = node.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>pullwatch on ${escapedNode}</title></head>
<body>
<h1>pullwatch on ${escapedNode}</h1>
<p>Finds private container images one tenant pulled and another runs from this node's image cache.</p>
<ul>
${items}
</ul>
</body>
</html>
`;
}

function sendError(res: Response, status: number, error: string, parameter?: string): void {
  res.status(status).json(parameter === undefined ? { error } : { error, parameter });
}

/** A 400 for any query parameter on endpoints that take none. */
function refuseQuery(req: Request, res: Response): boolean {
  const parsed = parseQuery(rawQuery(req.originalUrl), []);
  if (parsed.ok) return false;
  sendError(res, 400, parsed.error.error, parsed.error.parameter);
  return true;
}

/** Errors thrown by express itself for a bad request (e.g. a malformed %-escape in the path). */
export function clientErrorStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const status = (e as { status?: unknown; statusCode?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

export function createHttpApp(options: HttpAppOptions): Express {
  const { view, registry, auth, logger } = options;
  const build = options.buildInfo ?? currentBuild;
  // Found at start, so that an image without it fails there; parsed on the first request: the
  // YAML parse costs an agent about 8 MiB of resident memory for a document few ever ask for.
  if (options.openApiDocument === undefined) openApiDocumentPath();
  let openApi: OpenApiDocument | undefined;

  const app = express();
  app.disable('x-powered-by');
  // Every answer is Cache-Control: no-store, so an ETag would only cost a SHA-1 of each body
  // (1.6 MB for the findings of a busy node) per request.
  app.set('etag', false);
  // Exact paths: the path a SubjectAccessReview is asked about is the path that is served.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.set({
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'",
    });
    res.on('finish', () => {
      const locals = res.locals as { user?: string | null };
      logger.debug(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          user: locals.user ?? null,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'http request',
      );
    });
    next();
  });

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    res.set('Allow', 'GET, HEAD');
    sendError(res, 405, `method ${req.method} not allowed`);
  });

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (OPEN_PATHS.has(req.path)) {
      next();
      return;
    }
    const outcome = await auth.authorize({
      path: req.path,
      authorization: req.headers.authorization,
    });
    if (outcome.allowed) {
      (res.locals as { user?: string | null }).user = outcome.user;
      next();
      return;
    }
    if (outcome.status === 401) res.set('WWW-Authenticate', 'Bearer realm="pullwatch"');
    if (outcome.status === 429) res.set('Retry-After', '1');
    sendError(res, outcome.status, outcome.reason);
  });

  app.get('/livez', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const readiness = view.readiness();
    if (readiness.ready) res.json({ ready: true });
    else res.status(503).json({ ready: false, reason: readiness.reason });
  });

  app.get('/metrics', async (_req, res) => {
    const text = await registry.metrics();
    res.set('Content-Type', registry.contentType).send(text);
  });

  app.get('/', (req, res) => {
    if (refuseQuery(req, res)) return;
    res.type('text/html').send(landingPage(view.node));
  });

  app.get('/openapi.json', (req, res) => {
    if (refuseQuery(req, res)) return;
    openApi ??= servedOpenApiDocument(
      options.openApiDocument ?? loadOpenApiDocument(),
      build.version,
    );
    res.json(openApi);
  });

  const lastFindingsAnswer = new LastAnswer();
  app.get('/api/v1/findings', (req, res) => {
    const filter = parseFindingsFilter(rawQuery(req.originalUrl));
    if (!filter.ok) {
      sendError(res, 400, filter.error.error, filter.error.parameter);
      return;
    }
    const findings = view.findings();
    const stale = isStale(view);
    const make = (): string => {
      const items = selectFindings(findings, filter.value, (ns) => view.tenantOf(ns));
      return findingsListJson(items, stale);
    };
    // A tenant filter also depends on how namespaces map to tenants now, which can change
    // while the findings stay the same: those answers are made afresh.
    const body =
      filter.value.tenant === undefined
        ? lastFindingsAnswer.body([rawQuery(req.originalUrl), stale, ...findings], make)
        : make();
    res.set('Content-Type', 'application/json; charset=utf-8').send(body);
  });

  app.get('/api/v1/findings/:id', (req, res) => {
    if (refuseQuery(req, res)) return;
    const id = req.params['id'] ?? '';
    const finding = view.finding(id);
    if (finding === undefined) {
      sendError(res, 404, 'no active finding has this id');
      return;
    }
    res.json({ item: findingJson(finding), stale: isStale(view) });
  });

  app.get('/api/v1/images', (req, res) => {
    if (refuseQuery(req, res)) return;
    const items = [...view.images()]
      .sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0))
      .map(imageJson);
    res.json({ items, stale: isStale(view) });
  });

  app.get('/api/v1/status', (req, res) => {
    if (refuseQuery(req, res)) return;
    res.json(statusJson(view, build, options.outputs?.()));
  });

  app.use((_req: Request, res: Response) => {
    sendError(res, 404, 'not found');
  });

  // Express recognises an error handler by its four parameters.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const clientStatus = clientErrorStatus(e);
    if (clientStatus === undefined) {
      logger.error({ err: e, method: req.method, path: req.path }, 'request failed');
    } else {
      logger.debug({ status: clientStatus, method: req.method }, 'bad request');
    }
    if (res.headersSent) {
      // Too late for an error answer: cut the connection so the client sees it failed.
      res.destroy();
      return;
    }
    if (clientStatus === undefined) sendError(res, 500, 'internal error');
    else if (clientStatus === 404) sendError(res, 404, 'not found');
    else sendError(res, 400, 'bad request');
  });

  return app;
}

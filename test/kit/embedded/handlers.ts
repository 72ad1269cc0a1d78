// HTTP requests in, Kubernetes API answers out: authentication, authorization,
// discovery, the REST verbs on each resource, watches and reviews.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import type { AccessAttributes, AuthTable, UserInfo } from './auth.ts';
import {
  adminUser,
  bearerToken,
  reviewAccess,
  reviewToken,
  withAuthenticatedGroup,
} from './auth.ts';
import type { VersionInfo } from './discovery.ts';
import { discoveryDocument } from './discovery.ts';
import type { ResourceCatalog } from './catalog.ts';
import type { FaultState } from './faults.ts';
import type { GarbageCollector } from './gc.ts';
import type { KubeObject } from './objects.ts';
import { isRecord, parseKubeObject, without } from './objects.ts';
import { patchTypeOf } from './patch.ts';
import type { FieldManager, Registry } from './registry.ts';
import { parseResourceVersion, patchedObject } from './registry.ts';
import type { ResourceType } from './resources.ts';
import { apiVersionOf } from './resources.ts';
import type { Route } from './routes.ts';
import { parseRoute } from './routes.ts';
import type { ApiError } from './status.ts';
import {
  badRequest,
  entityTooLarge,
  fieldForbidden,
  fieldRequired,
  forbidden,
  listOptionsInvalid,
  methodNotAllowed,
  optionsInvalid,
  pathNotFound,
  statusOf,
  successStatus,
  unauthorized,
  unsupportedMediaType,
} from './status.ts';
import type { OpenWatch } from './watch.ts';
import { startWatch } from './watch.ts';
import type { WebhookDispatcher } from './webhooks.ts';
import { admitWrite } from './webhooks.ts';

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  /** The Kubernetes verb, as an audit log names it (get, list, watch, create, update, patch...). */
  readonly verb: string;
  /** API group ('' for core) and resource of a resource or review request; '' for other paths. */
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** The authenticated user (the identity), '' when the request was refused before that. */
  user: string;
  /** The HTTP status sent (0 while a delayed request has not been answered). */
  status: number;
  readonly startedAt: number;
}

export interface HandlerContext {
  readonly registry: Registry;
  readonly catalog: ResourceCatalog;
  readonly collector: GarbageCollector;
  readonly webhooks: WebhookDispatcher;
  readonly auth: AuthTable;
  readonly faults: FaultState;
  readonly adminToken: string;
  readonly requireAuth: boolean;
  readonly authorizeRequests: boolean;
  readonly bookmarkIntervalMs: number;
  readonly defaultWatchTimeoutSeconds: number;
  readonly version: VersionInfo;
  readonly openWatches: Set<OpenWatch>;
  readonly requestLog: RequestRecord[];
  serverAddress(): string;
}

// The real server's limit on request bodies (apiserver's MaxRequestBodyBytes).
const maxBodyBytes = 3 * 1024 * 1024;

const healthPaths = new Set(['/healthz', '/livez', '/readyz']);

function sendJson(res: ServerResponse, record: RequestRecord, code: number, body: unknown): void {
  record.status = code;
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, record: RequestRecord, error: ApiError): void {
  if (error.details?.retryAfterSeconds !== undefined && !res.headersSent && !res.destroyed) {
    res.setHeader('Retry-After', String(error.details.retryAfterSeconds));
  }
  sendJson(res, record, error.code, statusOf(error));
}

function sendResult(
  res: ServerResponse,
  record: RequestRecord,
  code: number,
  result: Result<unknown, ApiError>,
): void {
  if (result.ok) sendJson(res, record, code, result.value);
  else sendError(res, record, result.error);
}

function readBody(req: IncomingMessage): Promise<Result<string, ApiError>> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(
        size > maxBodyBytes ? err(entityTooLarge()) : ok(Buffer.concat(chunks).toString('utf8')),
      );
    });
    req.on('error', () => {
      resolve(err(badRequest('the request body could not be read')));
    });
  });
}

async function readJson(
  req: IncomingMessage,
  optional: boolean,
): Promise<Result<unknown, ApiError>> {
  const body = await readBody(req);
  if (!body.ok) return body;
  if (body.value.trim() === '') {
    return optional ? ok(undefined) : err(badRequest('the request has no body'));
  }
  try {
    return ok(JSON.parse(body.value) as unknown);
  } catch (e) {
    return err(badRequest(`the body of the request is not JSON: ${(e as Error).message}`));
  }
}

async function readObject(
  req: IncomingMessage,
  rt: ResourceType,
): Promise<Result<KubeObject, ApiError>> {
  const body = await readJson(req, false);
  if (!body.ok) return body;
  const parsed = parseKubeObject(body.value);
  return parsed.ok
    ? parsed
    : err(
        badRequest(
          `the object provided is unrecognized (must be of type ${rt.kind}): ${parsed.error}`,
        ),
      );
}

function isWatchRequest(route: Route, query: Readonly<Record<string, string>>): boolean {
  if (route.kind === 'resource' && route.watchPath) return true;
  return query['watch'] === 'true' || query['watch'] === '1';
}

/** Authenticates the request: the user, or undefined when it must be refused (401). */
function authenticate(ctx: HandlerContext, req: IncomingMessage): UserInfo | undefined {
  const token = bearerToken(req.headers.authorization);
  if (token === undefined) return ctx.requireAuth ? undefined : adminUser;
  if (token === ctx.adminToken) return adminUser;
  const entry = ctx.auth.lookup(token);
  return entry ? { ...entry, groups: withAuthenticatedGroup(entry) } : undefined;
}

function verbOf(method: string, route: Route, watch: boolean): string {
  const item = route.kind === 'resource' && route.name !== undefined;
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : item ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return item ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

function routeTarget(
  route: Route,
): Pick<RequestRecord, 'group' | 'resource' | 'subresource' | 'namespace' | 'name'> {
  if (route.kind === 'review') {
    const group =
      route.review === 'tokenreviews' ? 'authentication.k8s.io' : 'authorization.k8s.io';
    return { group, resource: route.review };
  }
  if (route.kind !== 'resource') return { group: '', resource: '' };
  return {
    group: route.rt.group,
    resource: route.rt.resource,
    ...(route.subresource ? { subresource: route.subresource } : {}),
    ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
    ...(route.name !== undefined ? { name: route.name } : {}),
  };
}

function accessAttributes(
  user: UserInfo,
  verb: string,
  route: Route,
  path: string,
): AccessAttributes {
  const base = {
    user: user.username,
    groups: user.groups ?? [],
    ...(user.uid ? { uid: user.uid } : {}),
    verb,
  };
  if (route.kind === 'resource') {
    return {
      ...base,
      resource: {
        group: route.rt.group,
        version: route.rt.version,
        resource: route.rt.resource,
        ...(route.subresource ? { subresource: route.subresource } : {}),
        ...(route.namespace ? { namespace: route.namespace } : {}),
        ...(route.name ? { name: route.name } : {}),
      },
    };
  }
  if (route.kind === 'review') {
    const group =
      route.review === 'tokenreviews' ? 'authentication.k8s.io' : 'authorization.k8s.io';
    return { ...base, resource: { group, version: 'v1', resource: route.review } };
  }
  return { ...base, path };
}

function forbiddenMessage(attributes: AccessAttributes, reason: string): string {
  const who = `User "${attributes.user}"`;
  const why = reason ? `: ${reason}` : '';
  const r = attributes.resource;
  if (!r)
    return `forbidden: ${who} cannot ${attributes.verb} path "${attributes.path ?? ''}"${why}`;
  const what = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  const name = r.name ? ` "${r.name}"` : '';
  const scope = r.namespace ? ` in the namespace "${r.namespace}"` : ' at the cluster scope';
  return `${r.resource}${name} is forbidden: ${who} cannot ${attributes.verb} resource "${what}" in API group "${r.group}"${scope}${why}`;
}

export async function handleRequest(
  ctx: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://embedded');
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname;
  const query = Object.fromEntries(url.searchParams);
  const route = parseRoute(path, ctx.catalog.find);
  const watch = method === 'GET' && isWatchRequest(route, query);
  const record: RequestRecord = {
    method,
    path,
    query,
    watch,
    verb: verbOf(method, route, watch),
    ...routeTarget(route),
    user: '',
    status: 0,
    startedAt: Date.now(),
  };
  ctx.requestLog.push(record);

  const delayMs = ctx.faults.delayFor({ method, path, watch });
  if (delayMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (res.destroyed) return;
  }
  const injected = ctx.faults.take({ method, path, watch });
  if (injected) {
    sendError(res, record, injected);
    return;
  }
  const user = authenticate(ctx, req);
  if (!user) {
    sendError(res, record, unauthorized());
    return;
  }
  record.user = user.username;
  if (ctx.authorizeRequests) {
    const attributes = accessAttributes(user, record.verb, route, path);
    const decision = ctx.auth.decide(attributes);
    if (!decision.allowed) {
      sendError(res, record, forbidden(forbiddenMessage(attributes, decision.reason)));
      return;
    }
  }

  if (healthPaths.has(path)) {
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('ok');
    return;
  }
  const document =
    method === 'GET'
      ? discoveryDocument(path, ctx.serverAddress(), ctx.version, ctx.catalog.all())
      : undefined;
  if (document !== undefined) {
    sendJson(res, record, 200, document);
    return;
  }
  switch (route.kind) {
    case 'review':
      await handleReview(ctx, req, res, record, route.review, method);
      return;
    case 'resource':
      await handleResource(ctx, req, res, record, route, method, query, watch, user);
      return;
    case 'other':
      sendError(res, record, pathNotFound());
      return;
  }
}

async function handleReview(
  ctx: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  review: 'tokenreviews' | 'subjectaccessreviews',
  method: string,
): Promise<void> {
  if (method !== 'POST') {
    sendError(res, record, methodNotAllowed());
    return;
  }
  const body = await readJson(req, false);
  if (!body.ok) {
    sendError(res, record, body.error);
    return;
  }
  if (!isRecord(body.value)) {
    sendError(res, record, badRequest('the body of the request must be an object'));
    return;
  }
  const answer =
    review === 'tokenreviews'
      ? reviewToken(ctx.auth, body.value)
      : reviewAccess(ctx.auth, body.value);
  sendJson(res, record, 201, answer);
}

type ResourceRoute = Extract<Route, { kind: 'resource' }>;

function listObject(
  rt: ResourceType,
  page: {
    items: KubeObject[];
    resourceVersion: string;
    continueToken?: string;
    remainingItemCount?: number;
  },
): unknown {
  return {
    kind: `${rt.kind}List`,
    apiVersion: apiVersionOf(rt),
    metadata: {
      resourceVersion: page.resourceVersion,
      ...(page.continueToken ? { continue: page.continueToken } : {}),
      ...(page.remainingItemCount !== undefined
        ? { remainingItemCount: page.remainingItemCount }
        : {}),
    },
    // List items carry no kind/apiVersion of their own, as from the real server.
    items: page.items.map((item) => without(item, ['kind', 'apiVersion'])),
  };
}

function parseLimit(text: string | undefined): Result<number | undefined, ApiError> {
  if (text === undefined || text === '') return ok(undefined);
  if (!/^-?\d+$/.test(text)) return err(badRequest(`invalid limit "${text}"`));
  return ok(Number(text));
}

async function handleResource(
  ctx: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  route: ResourceRoute,
  method: string,
  query: Readonly<Record<string, string>>,
  watch: boolean,
  user: UserInfo,
): Promise<void> {
  const { rt, name, subresource } = route;
  const manager = fieldManagerOf(req, query);
  const namespace = route.namespace;
  const ref = { name: name ?? '', ...(namespace !== undefined ? { namespace } : {}) };
  const registry = ctx.registry;

  if (method === 'GET' && watch) {
    serveWatch(ctx, res, record, route, query);
    return;
  }
  if (name === undefined) {
    switch (method) {
      case 'GET': {
        const limit = parseLimit(query['limit']);
        if (!limit.ok) {
          sendError(res, record, limit.error);
          return;
        }
        const page = registry.list(rt, {
          namespace,
          fieldSelector: query['fieldSelector'],
          labelSelector: query['labelSelector'],
          resourceVersion: query['resourceVersion'],
          resourceVersionMatch: query['resourceVersionMatch'],
          limit: limit.value,
          continueToken: query['continue'],
        });
        sendResult(res, record, 200, page.ok ? ok(listObject(rt, page.value)) : page);
        return;
      }
      case 'POST': {
        if (rt.namespaced && namespace === undefined) {
          sendError(res, record, methodNotAllowed());
          return;
        }
        const obj = await readObject(req, rt);
        const admitted = obj.ok
          ? await admitWrite(ctx.webhooks, res, {
              operation: 'CREATE',
              rt,
              namespace,
              name: obj.value.metadata.name ?? '',
              object: obj.value,
              user,
            })
          : obj;
        sendResult(
          res,
          record,
          201,
          admitted.ok
            ? registry.create(rt, admitted.value, 'request', namespace, manager)
            : admitted,
        );
        return;
      }
      case 'DELETE': {
        const page = registry.list(rt, {
          namespace,
          fieldSelector: query['fieldSelector'],
          labelSelector: query['labelSelector'],
        });
        if (!page.ok) {
          sendError(res, record, page.error);
          return;
        }
        const deleted = page.value.items.flatMap((obj) => {
          const r = registry.delete(rt, {
            name: obj.metadata.name ?? '',
            ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          });
          return r.ok ? [r.value] : [];
        });
        sendJson(
          res,
          record,
          200,
          listObject(rt, {
            items: deleted,
            resourceVersion: String(registry.store.resourceVersion),
          }),
        );
        return;
      }
      default:
        sendError(res, record, methodNotAllowed());
        return;
    }
  }
  switch (method) {
    case 'GET':
      sendResult(res, record, 200, registry.get(rt, ref));
      return;
    case 'PUT': {
      const obj = await readObject(req, rt);
      if (!obj.ok) {
        sendError(res, record, obj.error);
        return;
      }
      const old = registry.get(rt, ref);
      const existed = old.ok;
      const admitted = await admitWrite(ctx.webhooks, res, {
        operation: existed ? 'UPDATE' : 'CREATE',
        rt,
        subresource,
        namespace,
        name: ref.name,
        object: obj.value,
        oldObject: old.ok ? old.value : undefined,
        user,
      });
      if (!admitted.ok) {
        sendError(res, record, admitted.error);
        return;
      }
      const updated = registry.update(rt, ref, admitted.value, {
        origin: 'request',
        subresource,
        manager,
      });
      sendResult(res, record, existed ? 200 : 201, updated);
      return;
    }
    case 'PATCH': {
      const type = patchTypeOf(req.headers['content-type']);
      if (type === undefined) {
        await readBody(req);
        sendError(res, record, unsupportedMediaType(req.headers['content-type'] ?? ''));
        return;
      }
      if (type === 'apply') {
        await handleApply(ctx, req, res, record, route, query, user);
        return;
      }
      if (query['force'] !== undefined) {
        await readBody(req);
        sendError(
          res,
          record,
          optionsInvalid('PatchOptions', [
            fieldForbidden('force', 'may not be specified for non-apply patch'),
          ]),
        );
        return;
      }
      const body = await readJson(req, false);
      if (!body.ok) {
        sendError(res, record, body.error);
        return;
      }
      const old = registry.get(rt, ref);
      const patched = old.ok ? patchedObject(old.value, type, body.value) : old;
      if (!patched.ok) {
        sendError(res, record, patched.error);
        return;
      }
      const admitted = await admitWrite(ctx.webhooks, res, {
        operation: 'UPDATE',
        rt,
        subresource,
        namespace,
        name: ref.name,
        object: patched.value,
        oldObject: old.ok ? old.value : undefined,
        user,
      });
      sendResult(
        res,
        record,
        200,
        admitted.ok
          ? registry.update(rt, ref, admitted.value, { origin: 'request', subresource, manager })
          : admitted,
      );
      return;
    }
    case 'DELETE': {
      if (subresource !== undefined) {
        sendError(res, record, methodNotAllowed());
        return;
      }
      const body = await readJson(req, true);
      if (!body.ok) {
        sendError(res, record, body.error);
        return;
      }
      const preconditions =
        isRecord(body.value) && isRecord(body.value['preconditions'])
          ? body.value['preconditions']
          : {};
      const uid = preconditions['uid'];
      const resourceVersion = preconditions['resourceVersion'];
      if (orphans(body.value, query)) {
        const target = registry.get(rt, ref);
        if (target.ok) ctx.collector.orphanDependents(target.value.metadata.uid ?? '');
      }
      const deleted = registry.delete(rt, ref, {
        uid: typeof uid === 'string' ? uid : undefined,
        resourceVersion: typeof resourceVersion === 'string' ? resourceVersion : undefined,
      });
      if (!deleted.ok || rt.deleteReturnsObject) {
        sendResult(res, record, 200, deleted);
        return;
      }
      sendJson(
        res,
        record,
        200,
        successStatus({
          name: deleted.value.metadata.name ?? '',
          ...(rt.group ? { group: rt.group } : {}),
          kind: rt.resource,
          uid: deleted.value.metadata.uid ?? '',
        }),
      );
      return;
    }
    default:
      sendError(res, record, methodNotAllowed());
  }
}

/**
 * The manager of a write that is not an apply: the request's fieldManager, else the client's
 * user agent up to its first '/' (as the real server's prefixFromUserAgent names it).
 */
function fieldManagerOf(
  req: IncomingMessage,
  query: Readonly<Record<string, string>>,
): FieldManager {
  const named = query['fieldManager'];
  if (named) return { name: named, explicit: true };
  const agent = (req.headers['user-agent'] ?? '').split('/')[0] ?? '';
  return { name: agent || 'unknown', explicit: false };
}

/** PATCH with application/apply-patch+yaml: server-side apply (registry.apply). */
async function handleApply(
  ctx: HandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  route: ResourceRoute,
  query: Readonly<Record<string, string>>,
  user: UserInfo,
): Promise<void> {
  const { rt, name = '', namespace, subresource } = route;
  const ref = { name, ...(namespace !== undefined ? { namespace } : {}) };
  const body = await readBody(req);
  if (!body.ok) {
    sendError(res, record, body.error);
    return;
  }
  const manager = query['fieldManager'] ?? '';
  if (manager === '') {
    // ValidatePatchOptions: controllers must name themselves; only kubectl gets a default.
    sendError(
      res,
      record,
      optionsInvalid('PatchOptions', [
        fieldRequired('fieldManager', 'is required for apply patch'),
      ]),
    );
    return;
  }
  let parsedBody: unknown;
  try {
    // YAML, of which JSON is a part: client-node sends JSON.
    parsedBody = parseYaml(body.value) as unknown;
  } catch (e) {
    sendError(res, record, badRequest(`error decoding YAML: ${(e as Error).message}`));
    return;
  }
  const applied = parseKubeObject(parsedBody);
  if (!applied.ok) {
    sendError(res, record, badRequest(applied.error));
    return;
  }
  // An apply that creates the object needs `create` too (patch.go's createAuthorizerAttributes).
  if (ctx.authorizeRequests && !ctx.registry.get(rt, ref).ok) {
    const attributes = accessAttributes(user, 'create', route, record.path);
    const decision = ctx.auth.decide(attributes);
    if (!decision.allowed) {
      sendError(res, record, forbidden(forbiddenMessage(attributes, decision.reason)));
      return;
    }
  }
  const force = query['force'] === 'true' || query['force'] === '1';
  const result = ctx.registry.apply(rt, ref, applied.value, { manager, force, subresource });
  if (result.ok) sendJson(res, record, result.value.created ? 201 : 200, result.value.object);
  else sendError(res, record, result.error);
}

/** DeleteOptions asking to keep the dependents (propagationPolicy Orphan, or orphanDependents). */
function orphans(body: unknown, query: Readonly<Record<string, string>>): boolean {
  const options = isRecord(body) ? body : {};
  const policy = options['propagationPolicy'] ?? query['propagationPolicy'];
  return policy === 'Orphan' || options['orphanDependents'] === true;
}

function serveWatch(
  ctx: HandlerContext,
  res: ServerResponse,
  record: RequestRecord,
  route: ResourceRoute,
  query: Readonly<Record<string, string>>,
): void {
  const { rt, name, namespace } = route;
  // Watching one object is watching its collection narrowed to its name.
  const byName =
    name !== undefined
      ? `metadata.name=${name.replaceAll('\\', '\\\\').replaceAll(',', '\\,').replaceAll('=', '\\=')}`
      : '';
  const fieldSelector = [query['fieldSelector'] ?? '', byName].filter((s) => s !== '').join(',');
  const filter = ctx.registry.filterFor(rt, {
    namespace,
    fieldSelector,
    labelSelector: query['labelSelector'],
  });
  if (!filter.ok) {
    sendError(res, record, filter.error);
    return;
  }
  const resourceVersion = parseResourceVersion(query['resourceVersion']);
  if (!resourceVersion.ok) {
    sendError(res, record, resourceVersion.error);
    return;
  }
  const timeout = Number(query['timeoutSeconds']);
  const timeoutSeconds =
    Number.isFinite(timeout) && timeout > 0 ? timeout : ctx.defaultWatchTimeoutSeconds;
  const allowBookmarks =
    query['allowWatchBookmarks'] === 'true' || query['allowWatchBookmarks'] === '1';
  const sendInitialEvents =
    query['sendInitialEvents'] === 'true' || query['sendInitialEvents'] === '1';
  // The checks of ValidateListOptions for a watch-list request.
  if (sendInitialEvents && (!allowBookmarks || query['resourceVersionMatch'] !== 'NotOlderThan')) {
    sendError(
      res,
      record,
      listOptionsInvalid(
        allowBookmarks ? 'resourceVersionMatch' : 'allowWatchBookmarks',
        allowBookmarks
          ? 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'
          : 'allowWatchBookmarks required when sendInitialEvents is true',
      ),
    );
    return;
  }
  record.status = 200;
  startWatch(
    res,
    ctx.registry.store,
    {
      rt,
      filter: filter.value,
      resourceVersion: resourceVersion.value,
      sendInitialEvents,
      allowBookmarks,
      bookmarkIntervalMs: ctx.bookmarkIntervalMs,
      timeoutMs: timeoutSeconds * 1000,
    },
    ctx.openWatches,
  );
}

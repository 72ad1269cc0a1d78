// Raw GET, review POST, write (create, patch, delete) and watch requests to the API server with
// the credentials a ClusterAccess applies (cluster-access.ts: in a pod, the service account's
// token and CA; else client-node's KubeConfig.applyToHTTPSOptions: CA, client certificate, bearer
// token from a token, token file, exec plugin or OIDC provider, proxy agent), so that objects
// arrive as the server's JSON and a watch's timeouts are ours to choose. Given an
// ApiServerConnections, requests share its keep-alive sockets instead of client-node's agent
// (which closes each socket after one request); a proxied cluster keeps client-node's proxy agent.
//
// Why not client-node's Watch: it aborts a stream after 30 s without data, a limit its public
// API does not let us raise, while the API server sends watch bookmarks only about once a
// minute (cacher defaultBookmarkFrequency); every quiet node would reconnect twice a minute.
import type { ClientRequest, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { http } from '../node-http.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { err, ok, type Result } from '../result.ts';
import type { ApiServerConnections } from './connections.ts';

export type KubeRequestError =
  | {
      readonly kind: 'http';
      readonly status: number;
      /** The Status object's reason ("Expired", "Forbidden"...), or the HTTP status text. */
      readonly reason: string;
      readonly message: string;
      /** The Status object's details.kind: what was not found ("namespaces"...), when it says. */
      readonly detailsKind?: string;
    }
  | {
      readonly kind: 'network' | 'timeout' | 'aborted' | 'config' | 'protocol';
      readonly message: string;
    };

export function describeKubeError(error: KubeRequestError): string {
  return error.kind === 'http'
    ? `HTTP ${error.status} ${error.reason}: ${error.message}`
    : `${error.kind}: ${error.message}`;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

interface PreparedRequest {
  readonly url: URL;
  readonly options: https.RequestOptions;
  readonly request: typeof https.request;
}

const USER_AGENT = 'pullwatch';

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isHeaderList(
  headers: OutgoingHttpHeaders | readonly string[],
): headers is readonly string[] {
  return Array.isArray(headers);
}

// Node also accepts headers as a flat [name, value, ...] list; client-node writes an object.
function headerObject(
  given: OutgoingHttpHeaders | readonly string[] | undefined,
): OutgoingHttpHeaders {
  if (given === undefined) return {};
  if (!isHeaderList(given)) return { ...given };
  const headers: OutgoingHttpHeaders = {};
  for (let i = 0; i + 1 < given.length; i += 2) headers[given[i] ?? ''] = given[i + 1];
  return headers;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

async function prepare(
  kubeConfig: ClusterAccess,
  method: Method,
  path: string,
  query: Query,
  connections: ApiServerConnections | undefined,
  body?: string,
  contentType = 'application/json',
): Promise<Result<PreparedRequest, KubeRequestError>> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) return err({ kind: 'config', message: 'the kubeconfig has no current cluster' });
  let url: URL;
  try {
    url = new URL(cluster.server.replace(/\/+$/, '') + path);
  } catch {
    return err({ kind: 'config', message: `the cluster server "${cluster.server}" is not a URL` });
  }
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const options: https.RequestOptions = {};
  try {
    // Runs the user's authenticator on every request: rotated service account tokens and
    // expiring exec credentials are picked up without a restart.
    await kubeConfig.applyToHTTPSOptions(options);
  } catch (e) {
    return err({
      kind: 'config',
      message: `applying the kubeconfig's credentials failed: ${messageOf(e)}`,
    });
  }
  if (connections !== undefined && !cluster.proxyUrl) {
    const agent = connections.agentFor(url);
    if (agent === undefined) return err({ kind: 'aborted', message: 'the source was stopped' });
    options.agent = agent;
  }
  options.method = method;
  const headers = headerObject(options.headers);
  options.headers = { ...headers, Accept: 'application/json', 'User-Agent': USER_AGENT };
  if (body !== undefined) {
    options.headers['Content-Type'] = contentType;
    options.headers['Content-Length'] = Buffer.byteLength(body);
  }
  const request = url.protocol === 'http:' ? http.request : https.request;
  return ok({ url, options, request });
}

function httpError(status: number, body: string): KubeRequestError {
  let reason = http.STATUS_CODES[status] ?? 'Error';
  let message = '';
  let detailsKind: string | undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields['reason'] === 'string' && fields['reason'] !== '')
        reason = fields['reason'];
      if (typeof fields['message'] === 'string') message = fields['message'];
      const details = fields['details'] as { kind?: unknown } | null | undefined;
      if (typeof details?.kind === 'string') detailsKind = details.kind;
    }
  } catch {
    message = body.slice(0, 200);
  }
  return {
    kind: 'http',
    status,
    reason,
    message: message || reason,
    ...(detailsKind === undefined ? {} : { detailsKind }),
  };
}

interface RequestOptions {
  readonly signal: AbortSignal;
  /** Keep-alive sockets to share; without it every request has a connection of its own. */
  readonly connections?: ApiServerConnections | undefined;
}

export interface PostOptions extends Partial<RequestOptions> {
  /** Bounds the whole exchange. */
  readonly timeoutMs: number;
}

/** GET that reads the whole answer as JSON; the timeout bounds it, a signal may cut it short. */
export async function getJson(
  kubeConfig: ClusterAccess,
  path: string,
  query: Query,
  options: PostOptions,
): Promise<Result<unknown, KubeRequestError>> {
  const first = await requestJsonOnce(kubeConfig, 'GET', path, query, undefined, options);
  // The server may close an idle keep-alive socket just as we send on it (Node's
  // request.reusedSocket documentation): a GET is safe to send once more, on a new socket.
  return first.staleSocket
    ? (await requestJsonOnce(kubeConfig, 'GET', path, query, undefined, options)).result
    : first.result;
}

/**
 * POST of a JSON object whose answer (2xx) is read as JSON, for the API server's review
 * requests (TokenReview, SubjectAccessReview), which store nothing: like a GET, such a request
 * is sent once more on a new socket when a reused one turns out to be closed already.
 */
export async function postReview(
  kubeConfig: ClusterAccess,
  path: string,
  body: unknown,
  options: PostOptions,
): Promise<Result<unknown, KubeRequestError>> {
  const text = JSON.stringify(body);
  const first = await requestJsonOnce(kubeConfig, 'POST', path, {}, text, options);
  return first.staleSocket
    ? (await requestJsonOnce(kubeConfig, 'POST', path, {}, text, options)).result
    : first.result;
}

/** PUT of a whole object (an update); a 409 says it changed since it was read. */
export async function putJson(
  kubeConfig: ClusterAccess,
  path: string,
  body: unknown,
  options: PostOptions,
): Promise<Result<unknown, KubeRequestError>> {
  return (await requestJsonOnce(kubeConfig, 'PUT', path, {}, JSON.stringify(body), options)).result;
}

export interface SendOptions extends PostOptions {
  /** The body's media type (default application/json): a patch names its strategy here. */
  readonly contentType?: string;
  readonly query?: Query;
}

/**
 * A write (create, patch, delete) whose answer (2xx) is read as JSON. A PATCH or DELETE is
 * idempotent (an apply, a merge patch of absolute values, a delete) and is sent once more on a
 * new socket when a reused one turns out to be closed already; a POST creates, and is not.
 */
export async function sendJson(
  kubeConfig: ClusterAccess,
  method: 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body: unknown,
  options: SendOptions,
): Promise<Result<unknown, KubeRequestError>> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const send = () => requestJsonOnce(kubeConfig, method, path, options.query ?? {}, text, options);
  const first = await send();
  return first.staleSocket && method !== 'POST' ? (await send()).result : first.result;
}

interface Attempt {
  readonly result: Result<unknown, KubeRequestError>;
  /** Failed before any answer on a reused socket the server had already closed. */
  readonly staleSocket: boolean;
}

async function requestJsonOnce(
  kubeConfig: ClusterAccess,
  method: Method,
  path: string,
  query: Query,
  body: string | undefined,
  options: SendOptions,
): Promise<Attempt> {
  const prepared = await prepare(
    kubeConfig,
    method,
    path,
    query,
    options.connections,
    body,
    options.contentType,
  );
  if (!prepared.ok) return { result: prepared, staleSocket: false };
  const { url, options: requestOptions, request } = prepared.value;
  // A GET answers 200; a create answers 201 (200 from some servers for reviews).
  const success = (status: number): boolean =>
    method === 'GET' ? status === 200 : status >= 200 && status < 300;
  return new Promise((resolve) => {
    let settled = false;
    let failure: KubeRequestError | undefined;
    let answered = false;
    const settle = (result: Result<unknown, KubeRequestError>, staleSocket = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ result, staleSocket });
    };
    const fail = (error: KubeRequestError): void => {
      failure ??= error;
      req.destroy();
    };
    const onAbort = (): void => {
      fail({ kind: 'aborted', message: 'the request was cancelled' });
    };
    let req: ClientRequest;
    try {
      req = request(url, requestOptions, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let complete = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          complete = true;
          const answer = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (!success(status)) {
            settle(err(httpError(status, answer)));
            return;
          }
          try {
            settle(ok(JSON.parse(answer) as unknown));
          } catch {
            settle(
              err({
                kind: 'protocol',
                message: `the answer to ${method} ${url.pathname} is not JSON`,
              }),
            );
          }
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          if (!complete) {
            settle(
              err(failure ?? { kind: 'network', message: 'the connection closed mid-answer' }),
            );
          }
        });
      });
    } catch (e) {
      // Only options Node refuses outright get here, e.g. a token with a newline in it.
      resolve({
        result: err({ kind: 'config', message: `the request could not be made: ${messageOf(e)}` }),
        staleSocket: false,
      });
      return;
    }
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      const stale =
        failure === undefined &&
        !answered &&
        req.reusedSocket &&
        (code === 'ECONNRESET' || code === 'EPIPE');
      settle(err(failure ?? { kind: 'network', message: messageOf(e) }), stale);
    });
    const timer = setTimeout(() => {
      fail({
        kind: 'timeout',
        message: `no answer to ${method} ${url.pathname} within ${options.timeoutMs} ms`,
      });
    }, options.timeoutMs);
    if (options.signal?.aborted === true) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

export interface WatchStreamOptions extends RequestOptions {
  /** The stream is considered dead after this long without a byte (bookmarks count). */
  readonly idleTimeoutMs: number;
  /** The stream is ended by us after this long, in case the server never ends it. */
  readonly deadlineMs: number;
  /** The server accepted the watch (HTTP 200). */
  readonly onOpen?: () => void;
  /** Each event in order; returning 'stop' ends the stream. */
  readonly onEvent: (event: WatchEvent) => 'stop' | undefined;
}

/** How a watch stream ended when it did not fail. */
export type WatchEnd = 'ended' | 'stopped' | 'deadline';

/** A watch request (`watch=true` is added) whose events are handed to `onEvent` as they come. */
export async function streamWatch(
  kubeConfig: ClusterAccess,
  path: string,
  query: Query,
  options: WatchStreamOptions,
): Promise<Result<WatchEnd, KubeRequestError>> {
  const prepared = await prepare(
    kubeConfig,
    'GET',
    path,
    { ...query, watch: true },
    options.connections,
  );
  if (!prepared.ok) return prepared;
  const { url, options: requestOptions, request } = prepared.value;
  return new Promise((resolve) => {
    let settled = false;
    let outcome: Result<WatchEnd, KubeRequestError> | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    const settle = (result: Result<WatchEnd, KubeRequestError>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idleTimer);
      clearTimeout(deadline);
      options.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    // Ends the request; the first reason given is the one reported.
    const finish = (result: Result<WatchEnd, KubeRequestError>): void => {
      outcome ??= result;
      req.destroy();
      settle(outcome);
    };
    const resetIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        finish(
          err({
            kind: 'timeout',
            message: `no data on the watch of ${url.pathname} for ${options.idleTimeoutMs} ms`,
          }),
        );
      }, options.idleTimeoutMs);
    };
    const onAbort = (): void => {
      finish(err({ kind: 'aborted', message: 'the watch was cancelled' }));
    };

    let req: ClientRequest;
    try {
      req = request(url, requestOptions, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            finish(err(httpError(status, Buffer.concat(chunks).toString('utf8'))));
          });
          res.on('error', () => undefined);
          res.on('close', () => {
            finish(err({ kind: 'network', message: 'the connection closed mid-answer' }));
          });
          return;
        }
        options.onOpen?.();
        resetIdle();
        res.setEncoding('utf8');
        let pending = '';
        res.on('data', (chunk: string) => {
          resetIdle();
          pending += chunk;
          let newline = pending.indexOf('\n');
          while (newline >= 0 && !settled) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            newline = pending.indexOf('\n');
            if (line === '') continue;
            let event: unknown;
            try {
              event = JSON.parse(line) as unknown;
            } catch {
              finish(err({ kind: 'protocol', message: 'a watch event is not JSON' }));
              return;
            }
            const fields = typeof event === 'object' && event !== null ? event : {};
            const type = 'type' in fields && typeof fields.type === 'string' ? fields.type : '';
            const object = 'object' in fields ? fields.object : undefined;
            if (options.onEvent({ type, object }) === 'stop') finish(ok('stopped'));
          }
        });
        res.on('end', () => {
          finish(ok('ended'));
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          finish(err({ kind: 'network', message: 'the watch connection was lost' }));
        });
      });
    } catch (e) {
      // Only options Node refuses outright get here, e.g. a token with a newline in it.
      resolve(err({ kind: 'config', message: `the request could not be made: ${messageOf(e)}` }));
      return;
    }
    req.on('error', (e) => {
      finish(err({ kind: 'network', message: messageOf(e) }));
    });
    const deadline = setTimeout(() => {
      finish(ok('deadline'));
    }, options.deadlineMs);
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

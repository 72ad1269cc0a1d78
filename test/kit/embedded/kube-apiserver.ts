// An in-process Kubernetes API server for tests and `npm run demo`: real list/watch
// semantics (global resourceVersion, selectors, bookmarks, 410 on expired history)
// on loopback HTTP, so the real @kubernetes/client-node can be pointed at it. The
// modules beside this one hold the parts; this one wires them and the fault knobs.
//
// Custom resources: pass CRD YAML as `customResourceDefinitions` (test/kit/report-crds.ts
// reads the OpenReports CRDs from ../shared and derives the wgpolicyk8s.io ones), or POST a
// CRD to /apis/apiextensions.k8s.io/v1/customresourcedefinitions. Their objects are pruned
// and validated against the version's openAPIV3Schema (422 naming the field) and served with
// list/watch/selectors/discovery like built-in resources; the fixture store names them
// `reports.openreports.io`. Server-side apply (PATCH application/apply-patch+yaml with a
// fieldManager), events.k8s.io/v1 Events (stored as core/v1 Events) and ownerReference
// garbage collection work on every resource. MutatingWebhookConfigurations are stored and
// called on POST, PUT and JSON or merge PATCH through HTTP (not server-side apply, not fixture
// writes), as webhooks.ts describes.

import { randomBytes, randomUUID } from 'node:crypto';
import type { RequestListener, Server } from 'node:http';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Result } from '../../../agent/result.ts';
import { err } from '../../../agent/result.ts';
import type { AccessRule, TokenEntry } from './auth.ts';
import { AuthTable, denyAll } from './auth.ts';
import { ResourceCatalog } from './catalog.ts';
import { crdResource, parseCrds, serveStoredCrds } from './crd.ts';
import { eventsV1Resource } from './events-v1.ts';
import { GarbageCollector } from './gc.ts';
import type { VersionInfo } from './discovery.ts';
import type { DelayOptions, FailNextOptions } from './faults.ts';
import { FaultState } from './faults.ts';
import type { RequestRecord } from './handlers.ts';
import { handleRequest, sendError } from './handlers.ts';
import type { KubeObject, ObjectRef } from './objects.ts';
import { parseKubeObject } from './objects.ts';
import { Registry } from './registry.ts';
import type { KindName, ResourceName, ResourceType } from './resources.ts';
import type { ApiError } from './status.ts';
import { badRequest, errorForCode } from './status.ts';
import { VersionedStore } from './store.ts';
import type { OpenWatch } from './watch.ts';
import { mutatingWebhookConfigurations } from './webhook-configurations.ts';
import type { WebhookServices } from './webhooks.ts';
import { WebhookDispatcher } from './webhooks.ts';

export type { AccessAttributes, AccessDecision, AccessRule, TokenEntry, UserInfo } from './auth.ts';
export type { DelayOptions, FailNextOptions } from './faults.ts';
export type { RequestRecord } from './handlers.ts';
export type { KubeObject, ObjectMeta, ObjectRef } from './objects.ts';
export type { KindName, ResourceName } from './resources.ts';
export type { ApiError, StatusObject } from './status.ts';

export interface EmbeddedApiServerOptions {
  /** Loopback port to listen on; 0 (default) picks a free one. */
  readonly port?: number;
  /** Changes kept per resource for watches and exact lists (default 1000). */
  readonly historySize?: number;
  /** Interval between BOOKMARK events on watches that allow them (default 1000 ms). */
  readonly bookmarkIntervalMs?: number;
  /** Watch duration when the client sends no timeoutSeconds (default 1800 s, like --min-request-timeout). */
  readonly defaultWatchTimeoutSeconds?: number;
  readonly initialResourceVersion?: number;
  /** Namespaces present at start (default: default, kube-system, kube-public, kube-node-lease). */
  readonly namespaces?: readonly string[];
  /** Bearer tokens besides the admin token, for requests and TokenReviews. */
  readonly tokens?: Readonly<Record<string, TokenEntry>>;
  /** Decides SubjectAccessReviews (and requests, with authorizeRequests); system:masters always passes. */
  readonly authorize?: AccessRule;
  /** Refuse requests without a known bearer token with 401 (default true). */
  readonly requireAuth?: boolean;
  /** Check every request against `authorize` (default false: every authenticated user may do anything). */
  readonly authorizeRequests?: boolean;
  /** Run the AlwaysPullImages admission plugin on pod create and update. */
  readonly alwaysPullImages?: boolean;
  /** Refuse namespaced objects in namespaces that do not exist, like NamespaceLifecycle (default false). */
  readonly enforceNamespaceExists?: boolean;
  /** Clock and uid source for new objects, for deterministic fixtures. */
  readonly now?: () => Date;
  readonly newUid?: () => string;
  /** What `/version` reports (default v1.34.0). */
  readonly version?: VersionInfo;
  /**
   * CustomResourceDefinitions (apiextensions.k8s.io/v1) served from the start: YAML text (one
   * or more documents) or objects. See test/kit/report-crds.ts for the report CRDs.
   */
  readonly customResourceDefinitions?: readonly (string | object)[];
  /**
   * Where the Services that MutatingWebhookConfigurations name listen: `<namespace>/<name>` →
   * a loopback port (there is no cluster DNS). The certificate is checked against
   * `<name>.<namespace>.svc` with the webhook's caBundle. See webhooks.ts.
   */
  readonly webhookServices?: WebhookServices;
  /**
   * Serve HTTPS with this certificate and key (PEM), as a real API server does, instead of
   * plain HTTP: for clients that, like client-go's in-cluster config, only speak HTTPS. The
   * kubeconfigs then carry the certificate as the cluster's CA (it must be self-signed and valid
   * for 127.0.0.1; test/helpers/tls.ts makes one).
   */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** The shape `KubeConfig.loadFromOptions` takes. */
export interface KubeConfigOptions {
  readonly clusters: Cluster[];
  readonly users: User[];
  readonly contexts: Context[];
  readonly currentContext: string;
}

export interface KubeConfigRequest {
  /** Bearer token to use (default: the admin token). */
  readonly token?: string;
  readonly namespace?: string;
}

export interface ListFixtureOptions {
  readonly namespace?: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
}

/**
 * A core resource by plural or kind (`pods`, `Pod`), or another group's resource as
 * `plural.group` (`reports.openreports.io`, `customresourcedefinitions.apiextensions.k8s.io`).
 */
export type ResourceKey = ResourceName | KindName | `${string}.${string}`;

/**
 * Writes for test setup. They take the same path as HTTP requests (same
 * resourceVersions, same watch events, same pod defaulting), except that a fixture
 * may set status, uid and creationTimestamp, which an HTTP client cannot.
 */
export interface FixtureStore {
  create(kind: ResourceKey, obj: object): Result<KubeObject, ApiError>;
  /** Replaces the whole object (status included); 409 if it carries a stale resourceVersion. */
  update(kind: ResourceKey, obj: object): Result<KubeObject, ApiError>;
  /** Reads, lets `change` edit (or return) the object, and writes it back unconditionally. */
  modify(
    kind: ResourceKey,
    ref: ObjectRef,
    change: (obj: KubeObject) => KubeObject | undefined,
  ): Result<KubeObject, ApiError>;
  delete(kind: ResourceKey, ref: ObjectRef): Result<KubeObject, ApiError>;
  get(kind: ResourceKey, ref: ObjectRef): Result<KubeObject, ApiError>;
  list(kind: ResourceKey, options?: ListFixtureOptions): Result<KubeObject[], ApiError>;
  /** The current global resourceVersion. */
  resourceVersion(): string;
}

export interface Faults {
  /** Ends every open watch: by resetting its connection (default) or cleanly. Returns how many. */
  dropWatches(options?: { readonly graceful?: boolean }): number;
  /** Forgets watch history: a watch or exact list from any resourceVersion handed out so far gets 410. */
  expireHistory(): void;
  /** Delays every request by `ms` before it is handled. */
  setLatency(ms: number): void;
  /**
   * Delays requests whose path matches (e.g. one secret, one pod's events) by `ms`, or by what
   * the function returns per request: tests choose the order concurrent answers arrive in.
   */
  delay(path: RegExp | string, ms: number | (() => number), options?: DelayOptions): void;
  /** true: closes the listening socket and every connection; false: listens again on the same port. */
  setDown(down: boolean): Promise<void>;
  /** The next matching request(s) get `status` as a Status error (path is matched without the query). */
  failNext(path: RegExp | string, status: number, options?: FailNextOptions): void;
  /** Removes latency and pending failures (not a down state). */
  clear(): void;
}

export interface AuthControl {
  setToken(token: string, entry: TokenEntry): void;
  removeToken(token: string): void;
  setRule(rule: AccessRule): void;
}

export interface EmbeddedApiServer {
  /** `http://127.0.0.1:PORT` (`https://` with the tls option) */
  readonly url: string;
  readonly port: number;
  readonly adminToken: string;
  /** For `new KubeConfig().loadFromOptions(...)`. */
  kubeconfig(request?: KubeConfigRequest): KubeConfigOptions;
  /** The same as a kubeconfig file, for `loadFromString` or writing to disk. */
  kubeconfigYaml(request?: KubeConfigRequest): string;
  readonly store: FixtureStore;
  readonly faults: Faults;
  readonly auth: AuthControl;
  /** Every request received, in order (watch requests included). */
  readonly requestLog: readonly RequestRecord[];
  clearRequestLog(): void;
  /** Watches currently streaming. */
  openWatchCount(): number;
  /** TCP connections accepted since the start (clients that reuse connections open few). */
  connectionCount(): number;
  /** Closes everything; idempotent. */
  stop(): Promise<void>;
}

const defaultNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      reject(e);
    };
    server.once('error', onError);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.off('error', onError);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('the embedded API server has no TCP address'));
        return;
      }
      resolve(address.port);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}

/** Turns a test's object (plain JSON or a client-node model) into a stored object's input. */
function fixtureInput(obj: object): Result<KubeObject, ApiError> {
  const parsed = parseKubeObject(JSON.parse(JSON.stringify(obj)) as unknown);
  return parsed.ok ? parsed : err(badRequest(parsed.error));
}

export async function startEmbeddedApiServer(
  options: EmbeddedApiServerOptions = {},
): Promise<EmbeddedApiServer> {
  const store = new VersionedStore({
    initialResourceVersion: options.initialResourceVersion ?? 1,
    historySize: options.historySize ?? 1000,
  });
  const registry = new Registry(store, {
    now: options.now ?? (() => new Date()),
    newUid: options.newUid ?? randomUUID,
    alwaysPullImages: options.alwaysPullImages ?? false,
    enforceNamespaceExists: options.enforceNamespaceExists ?? false,
  });
  const catalog = new ResourceCatalog([
    eventsV1Resource,
    crdResource,
    mutatingWebhookConfigurations,
  ]);
  const resourceType = (key: ResourceKey): ResourceType => {
    const rt = catalog.lookup(key);
    if (!rt) throw new Error(`embedded API server: unknown resource ${key}`);
    return rt;
  };
  serveStoredCrds(store, catalog, registry);
  const collector = new GarbageCollector(store, catalog, registry);
  for (const name of options.namespaces ?? defaultNamespaces) {
    registry.create(resourceType('namespaces'), { metadata: { name } }, 'fixture');
  }
  const crds = parseCrds(options.customResourceDefinitions ?? []);
  if (!crds.ok) throw new Error(`embedded API server: ${crds.error}`);
  for (const crd of crds.value) {
    const installed = registry.create(crdResource, crd, 'fixture');
    if (!installed.ok) throw new Error(`embedded API server: ${installed.error.message}`);
  }
  const webhooks = new WebhookDispatcher(registry, {
    services: options.webhookServices,
    alwaysPullImages: options.alwaysPullImages ?? false,
  });
  const auth = new AuthTable(options.tokens ?? {}, options.authorize ?? denyAll);
  const faults = new FaultState();
  const openWatches = new Set<OpenWatch>();
  const requestLog: RequestRecord[] = [];
  const adminToken = `embedded-admin-${randomBytes(16).toString('hex')}`;
  let port = 0;

  const context = {
    registry,
    catalog,
    collector,
    webhooks,
    auth,
    faults,
    adminToken,
    requireAuth: options.requireAuth ?? true,
    authorizeRequests: options.authorizeRequests ?? false,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    defaultWatchTimeoutSeconds: options.defaultWatchTimeoutSeconds ?? 1800,
    version: options.version ?? { major: '1', minor: '34', gitVersion: 'v1.34.0' },
    openWatches,
    requestLog,
    serverAddress: () => `127.0.0.1:${port}`,
  };
  const handler: RequestListener = (req, res) => {
    handleRequest(context, req, res).catch((e: unknown) => {
      // A throw here is a bug in the embedded server: answer like the real server's panic handler.
      const record = requestLog.at(-1) ?? {
        method: '',
        path: '',
        query: {},
        watch: false,
        verb: '',
        group: '',
        resource: '',
        user: '',
        status: 0,
        startedAt: Date.now(),
      };
      sendError(res, record, errorForCode(500, `Internal error occurred: ${String(e)}`));
    });
  };
  const server: Server = options.tls
    ? createTlsServer(options.tls, handler)
    : createServer(handler);
  server.keepAliveTimeout = 30_000;
  let connections = 0;
  server.on('connection', () => {
    connections++;
  });
  port = await listen(server, options.port ?? 0);
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const caData = options.tls ? Buffer.from(options.tls.cert).toString('base64') : undefined;
  let down = false;
  let stopped = false;

  const kubeconfig = (request: KubeConfigRequest = {}): KubeConfigOptions => ({
    clusters: [
      caData === undefined
        ? { name: 'embedded', server: url, skipTLSVerify: true }
        : { name: 'embedded', server: url, caData, skipTLSVerify: false },
    ],
    users: [{ name: 'embedded-user', token: request.token ?? adminToken }],
    contexts: [
      {
        name: 'embedded',
        cluster: 'embedded',
        user: 'embedded-user',
        ...(request.namespace ? { namespace: request.namespace } : {}),
      },
    ],
    currentContext: 'embedded',
  });

  const kubeconfigYaml = (request: KubeConfigRequest = {}): string =>
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses an http:// server unless TLS verification is explicitly off.
      clusters: [
        {
          name: 'embedded',
          cluster:
            caData === undefined
              ? { server: url, 'insecure-skip-tls-verify': true }
              : { server: url, 'certificate-authority-data': caData },
        },
      ],
      users: [{ name: 'embedded-user', user: { token: request.token ?? adminToken } }],
      contexts: [
        {
          name: 'embedded',
          context: {
            cluster: 'embedded',
            user: 'embedded-user',
            ...(request.namespace ? { namespace: request.namespace } : {}),
          },
        },
      ],
      'current-context': 'embedded',
    });

  const refOf = (kind: ResourceKey, obj: KubeObject): ObjectRef => ({
    name: obj.metadata.name ?? '',
    ...(resourceType(kind).namespaced ? { namespace: obj.metadata.namespace ?? 'default' } : {}),
  });

  const fixtureStore: FixtureStore = {
    create: (kind, obj) => {
      const input = fixtureInput(obj);
      return input.ok ? registry.create(resourceType(kind), input.value, 'fixture') : input;
    },
    update: (kind, obj) => {
      const input = fixtureInput(obj);
      if (!input.ok) return input;
      return registry.update(resourceType(kind), refOf(kind, input.value), input.value, {
        origin: 'fixture',
      });
    },
    modify: (kind, ref, change) => {
      let failure: ApiError | undefined;
      const modified = registry.modify(
        resourceType(kind),
        ref,
        (current) => {
          const input = fixtureInput(change(current) ?? current);
          if (input.ok) return input.value;
          failure = input.error;
          return current;
        },
        'fixture',
      );
      return failure ? err(failure) : modified;
    },
    delete: (kind, ref) => registry.delete(resourceType(kind), ref),
    get: (kind, ref) => registry.get(resourceType(kind), ref),
    list: (kind, listOptions = {}) => {
      const page = registry.list(resourceType(kind), listOptions);
      return page.ok ? { ok: true, value: page.value.items } : page;
    },
    resourceVersion: () => String(store.resourceVersion),
  };

  const dropWatches = (graceful: boolean): number => {
    const watches = [...openWatches];
    for (const watch of watches) watch.drop(graceful);
    return watches.length;
  };

  const faultControl: Faults = {
    dropWatches: (dropOptions = {}) => dropWatches(dropOptions.graceful ?? false),
    expireHistory: () => {
      store.expireHistory();
    },
    setLatency: (ms) => {
      faults.latencyMs = Math.max(0, ms);
    },
    delay: (path, ms, delayOptions) => {
      faults.delay(path, ms, delayOptions);
    },
    setDown: async (wantDown) => {
      if (stopped || wantDown === down) return;
      down = wantDown;
      if (wantDown) await close(server);
      else await listen(server, port);
    },
    failNext: (path, status, failOptions) => {
      faults.failNext(path, status, failOptions);
    },
    clear: () => {
      faults.clear();
    },
  };

  return {
    url,
    port,
    adminToken,
    kubeconfig,
    kubeconfigYaml,
    store: fixtureStore,
    faults: faultControl,
    auth: {
      setToken: (token, entry) => {
        auth.setToken(token, entry);
      },
      removeToken: (token) => {
        auth.removeToken(token);
      },
      setRule: (rule) => {
        auth.setRule(rule);
      },
    },
    requestLog,
    clearRequestLog: () => {
      requestLog.length = 0;
    },
    openWatchCount: () => openWatches.size,
    connectionCount: () => connections,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      collector.stop();
      webhooks.stop();
      faults.clear();
      await close(server);
    },
  };
}

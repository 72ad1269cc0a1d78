// `pullwatch run`: wires the sources, the detection loop and the outputs. Besides building the
// parts it adapts each source to its port (agent/core/ports.ts) and chooses where pull secrets
// and registry answers come from (the controller, or the agent itself in direct mode); every
// decision about what the node holds is made in agent/core and agent/detect.
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { AgentConfig } from './config.ts';
import { CachePoller } from './cri/cache-poller.ts';
import { connectCri } from './cri/client.ts';
import type { CriEndpoint } from './cri/endpoint.ts';
import { resolveCriEndpoint, WELL_KNOWN_CRI_SOCKETS } from './cri/endpoint.ts';
import { describeCriError } from './cri/errors.ts';
import type { ImageId } from './image/digest.ts';
import { BrokerClient } from './broker/client.ts';
import { ApiServerConnections } from './kube/connections.ts';
import { startKubeSource } from './kube/kube-source.ts';
import type { Logger } from './log.ts';
import { NodeAgent } from './core/node-agent.ts';
import { startHeapReductions } from './heap-reducer.ts';
import { canReportFrom } from './events/event.ts';
import { apiServerEventSink } from './events/sink.ts';
import { EventWriter } from './events/writer.ts';
import { REPORT_KINDS } from './reports/kinds.ts';
import { ReportReconciler } from './reports/reconciler.ts';
import { apiServerReportSink, listOwnReports } from './reports/sink.ts';
import { loadWrittenSet, saveWrittenSet } from './reports/written-set.ts';
import type { KubePort, ProvenancePort, RegistryPort } from './core/ports.ts';
import { readPulledRecords } from './provenance/kubelet-records.ts';
import { loadFindingTimes, saveFindingTimes } from './findings/times-file.ts';
import { kubeletConfigSource, readKubeletConfig } from './kubelet-config/read.ts';
import {
  loadOrCreateFingerprintKey,
  loadProvenance,
  saveProvenance,
} from './provenance/state-store.ts';
import type { FingerprintKey } from './credentials/credential-identity.ts';
import { createFingerprintKey } from './credentials/credential-identity.ts';
import { VisibilityResolver } from './registry/visibility.ts';
import { createHttpApp } from './http/app.ts';
import { eventsStatusJson, reportsStatusJson } from './http/outputs-status.ts';
import { allowAll, kubernetesAuthorizer } from './http/auth.ts';
import { startHttpServer } from './http/server.ts';
import { loadClusterAccess, type ClusterAccess } from './kube/cluster-access.ts';
import { createMetricsRegistry } from './metrics/registry.ts';

/** The sources and the detection loop, without the HTTP server (what `scan --once` needs). */
export interface AgentCore {
  readonly agent: NodeAgent;
  readonly kubeConfig: ClusterAccess;
  /** Writes Warning Events on flagged pods; undefined with --events off. */
  readonly events: EventWriter | undefined;
  /** Keeps the node's report objects equal to its findings; undefined with --reports off. */
  readonly reports: ReportReconciler | undefined;
  stop(): Promise<void>;
}

export interface RunningAgent extends AgentCore {
  /** `http://host:port` the API listens on. */
  readonly url: string;
}

export interface RunDependencies {
  readonly logger: Logger;
  /** Overrides the kubeconfig lookup (the demo hands in its embedded API server). */
  readonly kubeConfig?: ClusterAccess;
}

async function fingerprintKeyFor(stateDir: string, logger: Logger): Promise<FingerprintKey> {
  const key = await loadOrCreateFingerprintKey(stateDir);
  if (key.ok) return key.value;
  // Keep detecting: fingerprints then differ across restarts, which costs only
  // the match between a restarted agent's state and new observations.
  logger.error({ source: 'state' }, `${key.error}; using a temporary key for this run`);
  const temporary = createFingerprintKey(randomBytes(32));
  if (!temporary.ok) throw new Error(temporary.error);
  return temporary.value;
}

async function criEndpointFor(config: AgentConfig, logger: Logger): Promise<CriEndpoint> {
  const resolved = await resolveCriEndpoint(config['cri-endpoint']);
  if (resolved.ok) return resolved.value;
  // The runtime may come up after us: keep the configured (or the usual) socket and retry.
  logger.error({ source: 'cri' }, resolved.error.message);
  const path =
    config['cri-endpoint']?.replace(/^unix:\/\//, '') ??
    WELL_KNOWN_CRI_SOCKETS[0]?.path ??
    '/run/containerd/containerd.sock';
  return { socketPath: path, target: `unix://${path}` };
}

/** The Event writer, unless --events off or the node cannot be named in a label. */
function eventWriterFor(
  config: AgentConfig,
  kubeConfig: ClusterAccess,
  connections: ApiServerConnections,
  logger: Logger,
): EventWriter | undefined {
  if (config.events === 'off') return undefined;
  const node = config['node-name'];
  if (!canReportFrom(node)) {
    logger.warn(
      { source: 'events', node },
      'the node name is longer than 63 characters (no valid label value): this agent writes no Events',
    );
    return undefined;
  }
  return new EventWriter({ sink: apiServerEventSink(kubeConfig, connections), logger });
}

/** The report writer, unless --reports off or the node cannot be named in a label. */
function reportReconcilerFor(
  config: AgentConfig,
  kubeConfig: ClusterAccess,
  connections: ApiServerConnections,
  broker: BrokerClient | undefined,
  agent: () => NodeAgent | undefined,
  logger: Logger,
): ReportReconciler | undefined {
  const flavor = config.reports;
  if (flavor === 'off') return undefined;
  const node = config['node-name'];
  if (!canReportFrom(node)) {
    logger.warn(
      { source: 'reports', node },
      'the node name is longer than 63 characters (no valid label value): this agent writes no reports',
    );
    return undefined;
  }
  const stateDir = config['state-dir'];
  return new ReportReconciler({
    flavor,
    node,
    sink: apiServerReportSink(kubeConfig, connections),
    store: {
      load: () => loadWrittenSet(stateDir, node),
      save: (set) => saveWrittenSet(stateDir, set),
    },
    // The agent may not read reports; the controller (or, in direct mode, a list the
    // direct-secrets component grants) names the objects labeled for this node.
    ownReports: async () => {
      if (broker !== undefined) return broker.ownReports();
      const listed = await listOwnReports(kubeConfig, flavor, node, connections);
      return listed.ok ? listed : { ok: false, error: listed.error.message };
    },
    findings: () => agent()?.view.findings() ?? [],
    ready: () => agent()?.view.readiness().ready ?? false,
    settled: () => agent()?.settled() ?? false,
    workloadOf: ({ namespace, podUid }) => {
      const controller = agent()?.view.podController(podUid);
      return controller && { ...controller, namespace };
    },
    writeIntervalMs: config['report-write-interval'],
    logger,
  });
}

/** The controller client, unless the agent reads pull secrets itself (--secrets-from direct). */
function brokerFor(config: AgentConfig, logger: Logger): BrokerClient | undefined {
  if (config['secrets-from'] === 'direct') {
    logger.warn(
      { source: 'controller' },
      '--secrets-from direct: this agent reads pull secrets itself, so its token can read every tenant secret a pod names (docs/security.md)',
    );
    return undefined;
  }
  const url = config['controller-url'];
  if (url === undefined)
    throw new Error('--controller-url is required with --secrets-from controller');
  return new BrokerClient({
    url,
    caFile: config['controller-ca-file'],
    tokenFile: config['controller-token-file'],
    logger,
  });
}

export async function startAgentCore(
  config: AgentConfig,
  deps: RunDependencies,
): Promise<AgentCore> {
  const { logger } = deps;
  const node = config['node-name'];
  if (config.auth === 'none') {
    logger.warn('--auth none: the HTTP API and /metrics answer anyone who can reach the port');
  }
  await mkdir(config['state-dir'], { recursive: true }).catch((error: unknown) => {
    logger.error(
      { source: 'state' },
      `cannot create state dir ${config['state-dir']}: ${String(error)}`,
    );
  });
  const fingerprintKey = await fingerprintKeyFor(config['state-dir'], logger);
  const loaded = await loadProvenance(config['state-dir'], { node });
  for (const p of loaded.problems) logger.warn({ source: 'state' }, p);
  logger.info(
    { source: 'state', images: loaded.images.size, outcome: loaded.outcome },
    'provenance loaded',
  );
  const findingTimes = await loadFindingTimes(config['state-dir'], node, Date.now());
  if (findingTimes.problem !== undefined) logger.warn({ source: 'state' }, findingTimes.problem);

  const endpoint = await criEndpointFor(config, logger);
  const cri = connectCri(endpoint);
  // The sources' callbacks are created before the agent they notify exists.
  // eslint-disable-next-line prefer-const
  let agent: NodeAgent | undefined;
  const cache = new CachePoller(cri, {
    intervalMs: config['cri-poll-interval'],
    onChange: () => agent?.changed(),
    onError: (error) => {
      agent?.noteCriError();
      logger.warn({ source: 'cri' }, describeCriError(error));
    },
  });

  const kubeConfig =
    deps.kubeConfig ??
    (await loadClusterAccess({
      kubeconfig: config.kubeconfig,
      serviceAccountDir: config['service-account-dir'],
    }));
  const broker = brokerFor(config, logger);
  // One keep-alive pool for every request to the API server: watches, reads, Events, reports.
  const connections = new ApiServerConnections();
  const events = eventWriterFor(config, kubeConfig, connections, logger);
  const reports = reportReconcilerFor(config, kubeConfig, connections, broker, () => agent, logger);
  let lastCacheRefresh = 0;
  const kube = startKubeSource({
    kubeConfig,
    connections,
    nodeName: node,
    fingerprintKey,
    ...(broker === undefined
      ? {}
      : { fetchSecret: (ref, _reason, pod) => broker.pullSecret(ref, pod) }),
    secretTtlMs: config['secret-refresh-interval'],
    eventTtlMs: config['event-ttl'],
    logger,
    onChange: () => {
      agent?.changed();
      // A pod event may mean a pull is under way: look at the cache soon, at most once a second.
      const now = Date.now();
      if (now - lastCacheRefresh > 1000) {
        lastCacheRefresh = now;
        void cache.refresh();
      }
    },
  });
  const kubePort: KubePort = {
    pods: () => kube.pods(),
    namespaces: () => kube.namespaces(),
    secrets: () => kube.secrets(),
    kubeletEvents: () => kube.kubeletEvents(),
    health: () => {
      const { pods, namespaces } = kube.status();
      return {
        synced: pods.synced && namespaces.synced,
        up: pods.up && namespaces.up,
        lastSync: pods.lastSync,
        lastError: pods.lastError ?? namespaces.lastError,
      };
    },
  };

  const resolver = new VisibilityResolver({
    registryProbe: config['registry-probe'],
    verifyCredentials: config['verify-credentials'] === 'on',
    publicRegistries: config['public-registries'],
    nodeCredentialRegistries: config['node-credential-registries'],
    insecureRegistries: config['insecure-registries'],
  });
  const registryPort: RegistryPort = {
    // Through the controller, registry answers are cached once for the whole cluster.
    repositoryVisibility: (name, reference) =>
      broker === undefined
        ? resolver.repositoryVisibility(name, reference)
        : broker.visibility(name, reference),
    verifyCredential: (check, name, reference) =>
      check.via === 'self'
        ? resolver.verifyCredential(check.authorization, name, reference)
        : broker === undefined
          ? Promise.resolve('unknown')
          : broker.verdict(check, name, reference),
    probeCounts: () => {
      const s = resolver.stats();
      const out = new Map<string, number>();
      for (const counts of [s.visibility, s.credential]) {
        for (const [result, n] of Object.entries(counts)) {
          // Answers served from the resolver's cache are not requests to a registry.
          if (result !== 'cached') out.set(result, (out.get(result) ?? 0) + n);
        }
      }
      return out;
    },
  };
  const provenancePort: ProvenancePort = {
    readKubeletRecords: (ids: readonly ImageId[]) => readPulledRecords(config['kubelet-root'], ids),
    save: async (images) => {
      const saved = await saveProvenance(config['state-dir'], {
        node,
        savedAt: Date.now(),
        images,
      });
      return saved.ok ? undefined : saved.error;
    },
  };

  const heap = startHeapReductions(() => agent?.view.readiness().ready ?? false, logger);
  agent = new NodeAgent({
    node,
    cache,
    kube: kubePort,
    registry: registryPort,
    controller: broker,
    provenance: provenancePort,
    kubeletConfig: {
      read: () =>
        readKubeletConfig(
          kubeletConfigSource(config['kubelet-config'], config['kubelet-config-dir']),
        ),
    },
    initialProvenance: loaded.images,
    initialFindingTimes: findingTimes.times,
    findingTimes: {
      save: (times) => saveFindingTimes(config['state-dir'], node, times, Date.now()),
    },
    tenantLabel: config['tenant-label'],
    ignoredNamespaces: config['ignore-namespaces'],
    resyncIntervalMs: config['resync-interval'],
    logger,
    onPublished: (change) => {
      events?.record(change);
      reports?.published();
      heap?.published();
    },
  });
  cache.start();
  agent.start();
  reports?.start();

  const runningAgent = agent;
  return {
    agent: runningAgent,
    kubeConfig,
    events,
    reports,
    stop: async () => {
      cache.stop();
      await kube.stop();
      await runningAgent.stop();
      await events?.stop();
      await reports?.stop();
      connections.close();
      cri.close();
      broker?.close();
      heap?.stop();
    },
  };
}

/** `pullwatch run`: the core plus the HTTP API and /metrics. */
export async function runAgent(config: AgentConfig, deps: RunDependencies): Promise<RunningAgent> {
  const { logger } = deps;
  const core = await startAgentCore(config, deps);
  const { events, reports } = core;
  const reportKinds =
    config.reports === 'off'
      ? []
      : [REPORT_KINDS[config.reports].namespaced.kind, REPORT_KINDS[config.reports].cluster.kind];
  const metrics = createMetricsRegistry(core.agent.view, {
    maxFindingInfoSeries: config['finding-info-max-series'],
    events: events && (() => events.counts()),
    reports:
      reports &&
      (() => ({ kinds: reportKinds, counts: reports.counts(), status: reports.status() })),
  });
  const app = createHttpApp({
    view: core.agent.view,
    registry: metrics,
    outputs: () => ({
      reports: reportsStatusJson(
        config.reports,
        config.reports === 'off' ? 'off' : (reports ?? 'node-name-too-long'),
      ),
      events: eventsStatusJson(
        config.events,
        config.events === 'off' ? 'off' : (events ?? 'node-name-too-long'),
      ),
    }),
    auth:
      config.auth === 'kubernetes'
        ? kubernetesAuthorizer({ kubeConfig: core.kubeConfig, logger })
        : allowAll(),
    logger,
  });
  let server;
  try {
    server = await startHttpServer({
      app,
      listen: config.listen.host.includes(':')
        ? `[${config.listen.host}]:${config.listen.port}`
        : `${config.listen.host}:${config.listen.port}`,
      logger,
      drainTimeoutMs: 5000,
      ...(config['tls-cert-file'] !== undefined && config['tls-key-file'] !== undefined
        ? { tls: { certFile: config['tls-cert-file'], keyFile: config['tls-key-file'] } }
        : {}),
    });
  } catch (error) {
    await core.stop();
    throw error;
  }
  const url = `${server.protocol}://${server.address}`;
  logger.info({ url, node: config['node-name'] }, 'pullwatch agent started');
  const running = server;
  return {
    ...core,
    url,
    stop: async () => {
      await running.stop();
      await core.stop();
    },
  };
}

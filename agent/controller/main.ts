// `pullwatch controller`: wires the broker. The only pullwatch component that reads Secrets:
// it answers each agent about its own node's pull secrets (as fingerprints, never credentials)
// and asks registries once for the whole cluster. It also serves people the whole cluster's
// findings, from a watch of the reports the agents write.
import type { KubeConfig } from '@kubernetes/client-node';
import { Counter, Registry, collectDefaultMetrics, Gauge } from 'prom-client';
import { ApiServerConnections } from '../kube/connections.ts';
import { getJson } from '../kube/kube-http.ts';
import type { Logger } from '../log.ts';
import { kubernetesAuthorizer } from '../http/auth.ts';
import { startHttpServer, type TlsFiles, type TlsPems } from '../http/server.ts';
import { TokenReviewer } from '../http/token-review.ts';
import { VisibilityResolver } from '../registry/visibility.ts';
import { findingsOfClusterReport } from '../reports/decode.ts';
import type { CredentialVerdict, SecretView } from '../model/snapshot.ts';
import { withAdmissionWebhook } from './admission-webhook.ts';
import { createControllerApp } from './app.ts';
import { CallerAuthenticator } from './caller.ts';
import { clusterFindingsRouter } from './cluster-api.ts';
import { reportsOff, watchClusterReports } from './cluster-reports-watch.ts';
import type { ControllerConfig } from './config.ts';
import { loadOrCreateClusterKey } from './fingerprint-key.ts';
import { PodIndex } from './pod-index.ts';
import { SecretCache } from './secret-cache.ts';
import { startPrevention } from './prevention.ts';
import {
  loadOrCreateServingCertificate,
  publishCaBundle,
  readServingCertificate,
  type ServingCertificate,
} from './serving-certificate.ts';
import { reloadTlsSecretPeriodically } from './tls-secret-reload.ts';

export interface RunningController {
  /** `https://host:port` */
  readonly url: string;
  stop(): Promise<void>;
}

/** Up to this fraction of --registry-answer-ttl is taken off each answer, so they expire apart. */
export const CONTROLLER_ANSWER_TTL_JITTER = 0.1;

/** Kubernetes 1.30 put the node into bound service-account tokens (ServiceAccountTokenPodNodeInfo). */
const MIN_MINOR = 30;

async function serverMinorVersion(kubeConfig: KubeConfig): Promise<number | undefined> {
  const answer = await getJson(
    kubeConfig,
    '/version',
    {},
    {
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    },
  );
  if (!answer.ok) return undefined;
  const v = answer.value as { major?: unknown; minor?: unknown };
  // "30", or "30+" on some managed control planes.
  const minor = typeof v.minor === 'string' ? Number.parseInt(v.minor, 10) : Number.NaN;
  return v.major === '1' && Number.isFinite(minor) ? minor : undefined;
}

export async function runController(
  config: ControllerConfig,
  deps: { readonly logger: Logger; readonly kubeConfig: KubeConfig },
): Promise<RunningController> {
  const { logger, kubeConfig } = deps;
  // Fail closed: without the node claim in bound tokens the broker cannot tell nodes apart.
  const minor = await serverMinorVersion(kubeConfig);
  if (minor !== undefined && minor < MIN_MINOR) {
    throw new Error(
      `Kubernetes 1.${minor} puts no node into service-account tokens (1.${MIN_MINOR}+ does): the controller refuses to broker pull secrets. Run the agents with --secrets-from direct instead (docs/security.md says what that exposes).`,
    );
  }
  const key = await loadOrCreateClusterKey(kubeConfig, {
    namespace: config.namespace,
    name: config['fingerprint-key-secret'],
  });
  if (!key.ok) throw new Error(key.error);

  const serving = await servingTls(config, kubeConfig);
  const connections = new ApiServerConnections();
  const pods = new PodIndex({ kubeConfig, connections, logger });
  const secrets = new SecretCache({
    kubeConfig,
    fingerprintKey: key.value,
    connections,
    ttlMs: config['secret-ttl'],
    // A rotated credential is a new fingerprint, a new question: the old verdicts can go.
    onCredentialsDropped: (fingerprints) => {
      for (const fingerprint of fingerprints) resolver.forgetCredential(fingerprint);
    },
  });
  const resolver = new VisibilityResolver({
    registryProbe: config['registry-probe'],
    verifyCredentials: config['verify-credentials'] === 'on',
    publicRegistries: config['public-registries'],
    nodeCredentialRegistries: config['node-credential-registries'],
    insecureRegistries: config['insecure-registries'],
    // One answer serves the whole cluster: a registry is the thing to protect, host by host.
    rateLimit: {
      perSecond: config['registry-requests-per-second'],
      burst: 2 * config['registry-requests-per-second'],
      concurrency: config['registry-concurrency'],
    },
    // Agents and admission reviews hold their request open: a probe waits up to 2 s for its
    // turn rather than answering "unknown" (a forced pull, or a question asked again 10 min
    // later). Within the webhook's 4 s deadline, with room for the probe itself.
    rateWaitMs: 2000,
    // The kubelet trusts a pull made with a credential until the image is removed (KEP-2535
    // pulled records): definite answers are kept for hours, 404s and failures briefly.
    answerTtlMs: config['registry-answer-ttl'],
    answerTtlJitter: CONTROLLER_ANSWER_TTL_JITTER,
    // The whole cluster's distinct questions, not one node's.
    maxCacheEntries: 50_000,
  });
  const callers = new CallerAuthenticator(
    new TokenReviewer({
      kubeConfig,
      logger,
      audiences: [config.audience],
      // One identity per agent: a cache smaller than the cluster makes agents evict each other
      // and every call a review. A cold start of every agent waits its turn rather than 429.
      maxCacheEntries: config['token-cache-entries'],
      maxReviewsPerSecond: config['token-reviews-per-second'],
      maxReviewWaitMs: 5_000,
    }),
    { namespace: config.namespace, name: config['agent-service-account'] },
  );

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pullwatch_controller_' });
  new Gauge({
    name: 'pullwatch_controller_pods',
    help: 'Pods the controller knows, cluster-wide (its own list-watch).',
    registers: [registry],
    collect() {
      this.set(pods.size());
    },
  });
  new Gauge({
    name: 'pullwatch_controller_secrets_cached',
    help: 'Pull secrets whose views the controller holds.',
    registers: [registry],
    collect() {
      this.set(secrets.size());
    },
  });

  const reports =
    config.reports === 'off'
      ? reportsOff()
      : watchClusterReports({
          kubeConfig,
          connections,
          logger,
          registry,
          flavor: config.reports,
          decode: findingsOfClusterReport,
        });
  const prevention = startPrevention(config, {
    kubeConfig,
    connections,
    logger,
    registry,
    secrets,
    resolver,
  });
  const app = createControllerApp({
    registry,
    logger,
    // People's tokens, for the API server's audience: never the agents' broker audience.
    findingsApi: clusterFindingsRouter({
      source: reports,
      auth: kubernetesAuthorizer({ kubeConfig, logger }),
      logger,
    }),
    perNodeRequestsPerSecond: config['per-node-requests'],
    ports: {
      authenticate: (header) => callers.authenticate(header),
      podBinding: (node, namespace, pod, secret) => pods.check(node, namespace, pod, secret),
      secretNamedOnNode: (node, namespace, secret) => pods.namedOnNode(node, namespace, secret),
      secret: (namespace, name) => secrets.view(namespace, name),
      visibility: (name, reference) => resolver.repositoryVisibility(name, reference),
      verify: (view, fingerprint, name, reference) =>
        verify(resolver, view, fingerprint, name, reference),
      ownReports: (node) => reports.ownReports(node),
      ready: () =>
        pods.status().synced
          ? { ready: true }
          : { ready: false, reason: "waiting for the first list of the cluster's pods" },
    },
  });
  const tlsReloads = new Counter({
    name: 'pullwatch_controller_tls_reloads_total',
    help: 'Serving certificates changed while running: reloaded, or rejected (a pair that does not fit together; the previous one is kept).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const server = await startHttpServer({
    // POST /admission/pods: the API server calls it without credentials.
    app: withAdmissionWebhook(app, prevention.webhook),
    listen: config.listen.host.includes(':')
      ? `[${config.listen.host}]:${config.listen.port}`
      : `${config.listen.host}:${config.listen.port}`,
    logger,
    drainTimeoutMs: 5000,
    tls: serving.tls,
    onCertificateReload: (result) => {
      tlsReloads.inc({ result });
    },
  });
  const secretRef = { namespace: config.namespace, name: config['tls-secret'] };
  const stopTlsReload =
    serving.fromSecret === undefined
      ? () => undefined
      : reloadTlsSecretPeriodically({
          read: () => readServingCertificate(kubeConfig, secretRef),
          replace: (pair) => server.replaceCertificate(pair),
          publishCa: (ca) =>
            publishCaBundle(
              kubeConfig,
              { namespace: config.namespace, name: config['ca-configmap'] },
              ca,
            ),
          current: serving.fromSecret,
          intervalMs: TLS_SECRET_REREAD_MS,
          logger,
        });
  const url = `${server.protocol}://${server.address}`;
  logger.info({ url, namespace: config.namespace }, 'pullwatch controller started');
  return {
    url,
    stop: async () => {
      stopTlsReload();
      await server.stop();
      secrets.stop();
      prevention.stop();
      await Promise.all([pods.stop(), reports.stop()]);
    },
  };
}

/** The TLS Secret is read again this often, to follow a rotation (files are watched instead). */
const TLS_SECRET_REREAD_MS = 60_000;

/**
 * The certificate files given (the server reloads them when they change), else the one in the
 * TLS Secret (made when missing), whose CA is published for the agents.
 */
async function servingTls(
  config: ControllerConfig,
  kubeConfig: KubeConfig,
): Promise<{ tls: TlsFiles | TlsPems; fromSecret?: ServingCertificate }> {
  const certFile = config['tls-cert-file'];
  const keyFile = config['tls-key-file'];
  if (certFile !== undefined && keyFile !== undefined) return { tls: { certFile, keyFile } };
  const made = await loadOrCreateServingCertificate(kubeConfig, {
    namespace: config.namespace,
    name: config['tls-secret'],
    service: config.service,
  });
  if (!made.ok) throw new Error(made.error);
  const published = await publishCaBundle(
    kubeConfig,
    { namespace: config.namespace, name: config['ca-configmap'] },
    made.value.ca,
  );
  if (!published.ok) throw new Error(published.error);
  return { tls: { cert: made.value.cert, key: made.value.key }, fromSecret: made.value };
}

/** The registry's answer on the secret's credential with this fingerprint. */
async function verify(
  resolver: VisibilityResolver,
  view: SecretView,
  fingerprint: string,
  name: string,
  reference: string,
): Promise<CredentialVerdict> {
  if (view.state !== 'ok') return 'unknown';
  const credential = view.credentials.find((c) => c.fingerprint === fingerprint);
  const check = credential?.check;
  if (check?.via !== 'self') return 'unknown';
  return resolver.verifyCredential(check.authorization, name, reference);
}

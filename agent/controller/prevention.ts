// Wires the admission webhook of `pullwatch controller` (issue 14) from its settings and the
// controller's shared parts: the secret cache and the one VisibilityResolver, so that the
// webhook and the broker share their registry answers.
import type { KubeConfig } from '@kubernetes/client-node';
import type { RequestListener } from 'node:http';
import type { Registry } from 'prom-client';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson } from '../kube/kube-http.ts';
import type { Logger } from '../log.ts';
import type { VisibilityResolver } from '../registry/visibility.ts';
import { createAdmissionWebhook } from './admission-webhook.ts';
import type { ControllerConfig } from './config.ts';
import { ImageProofs } from './image-proofs.ts';
import { NamespaceLabels } from './namespace-labels.ts';
import type { SecretCache } from './secret-cache.ts';
import { keepWebhookCaBundle } from './webhook-ca.ts';

export interface Prevention {
  /** POST /admission/pods (admission-webhook.ts), served ahead of the app. */
  readonly webhook: RequestListener;
  stop(): void;
}

/** How often the webhook's caBundle is checked again, in case an apply reset it. */
const CA_BUNDLE_RECHECK_MS = 10 * 60_000;

export function startPrevention(
  config: ControllerConfig,
  deps: {
    readonly kubeConfig: KubeConfig;
    readonly connections: ApiServerConnections;
    readonly logger: Logger;
    readonly registry: Registry;
    readonly secrets: Pick<SecretCache, 'view' | 'viewNow'>;
    readonly resolver: Pick<VisibilityResolver, 'repositoryVisibility' | 'verifyCredential'>;
  },
): Prevention {
  const { kubeConfig, connections, logger, resolver, secrets } = deps;
  const namespaces = new NamespaceLabels({ kubeConfig, connections });
  const proofs = new ImageProofs({
    ports: {
      secret: (namespace, name) => secrets.view(namespace, name),
      secretNow: (namespace, name) => secrets.viewNow(namespace, name),
      visibility: (name, reference) => resolver.repositoryVisibility(name, reference),
      verify: (authorization, name, reference) =>
        resolver.verifyCredential(authorization, name, reference),
    },
  });
  const webhook = createAdmissionWebhook({
    proofs,
    namespaceLabels: namespaces,
    modes: {
      clusterMode: config.prevention,
      exemptions: config['prevention-exempt-labels'],
    },
    allowlist: config['prevention-allowlist'],
    onRegistryError: config['on-registry-error'],
    registry: deps.registry,
    logger,
  });

  // With certificate files the operator owns the CA and the webhook's caBundle.
  let timer: NodeJS.Timeout | undefined;
  if (config['tls-cert-file'] === undefined) {
    const keep = async (): Promise<void> => {
      const ca = await publishedCa(kubeConfig, config.namespace, config['ca-configmap']);
      if (ca === undefined) return;
      const kept = await keepWebhookCaBundle(
        kubeConfig,
        {
          name: config['webhook-configuration'],
          service: { namespace: config.namespace, name: config.service },
        },
        ca,
      );
      if (!kept.ok) logger.warn({ err: kept.error }, 'admission webhook caBundle not kept');
      else if (kept.value === 'changed')
        logger.info({ name: config['webhook-configuration'] }, 'admission webhook caBundle set');
    };
    const keepLogged = (): void => {
      keep().catch((error: unknown) => {
        logger.warn({ err: String(error) }, 'admission webhook caBundle not kept');
      });
    };
    keepLogged();
    timer = setInterval(keepLogged, CA_BUNDLE_RECHECK_MS);
    timer.unref();
  }
  return {
    webhook,
    stop: () => {
      clearInterval(timer);
      namespaces.stop();
    },
  };
}

/** The CA the controller published for the agents (serving-certificate.ts publishCaBundle). */
async function publishedCa(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<string | undefined> {
  const answer = await getJson(
    kubeConfig,
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
    {},
    { timeoutMs: 10_000, signal: new AbortController().signal },
  );
  if (!answer.ok) return undefined;
  const ca = (answer.value as { data?: Record<string, unknown> }).data?.['ca.crt'];
  return typeof ca === 'string' && ca !== '' ? ca : undefined;
}

// `pullwatch controller` settings: flags, PULLWATCH_* variables and --config YAML, as the
// agent's (agent/config.ts), validated at start with errors that name the flag and the fix.
import { z } from 'zod';
import {
  LOG_LEVELS,
  csv,
  duration,
  listenAddress,
  loadSettings,
  onOff,
  positiveInteger,
  requireTlsFilePair,
} from '../settings.ts';
import type { Result } from '../result.ts';
import { parseImageAllowlist } from '../admission/allowlist.ts';
import { PREVENTION_MODES, parseNamespaceExemption } from '../admission/prevention-mode.ts';
import { REPORTS_SETTINGS } from './report-collections.ts';

export const CONTROLLER_SETTINGS = {
  kubeconfig: ['string', 'kubeconfig file; default: in-cluster, then $KUBECONFIG'],
  listen: ['string', 'HOST:PORT of the broker, probes and /metrics (default 0.0.0.0:9747)'],
  'tls-cert-file': [
    'string',
    'serving certificate file (reloaded on change); without it the certificate comes from --tls-secret',
  ],
  'tls-key-file': ['string', 'private key for --tls-cert-file'],
  'tls-secret': [
    'string',
    'kubernetes.io/tls Secret (with ca.crt) holding the serving certificate; made with a new CA when missing (default pullwatch-controller-tls)',
  ],
  'ca-configmap': [
    'string',
    'ConfigMap the CA bundle is published to, for the agents (key ca.crt; default pullwatch-controller-ca)',
  ],
  service: [
    'string',
    'the Service agents reach the controller by, named in the certificate (default pullwatch-controller)',
  ],
  namespace: ['string', "pullwatch's namespace (default $POD_NAMESPACE, else pullwatch)"],
  'agent-service-account': [
    'string',
    "the agents' service account in that namespace (default pullwatch-agent)",
  ],
  audience: [
    'string',
    "the audience agents' projected tokens are issued for (default pullwatch-controller)",
  ],
  'fingerprint-key-secret': [
    'string',
    'Secret in that namespace holding the cluster-wide fingerprint key (default pullwatch-fingerprint-key; created when missing)',
  ],
  'secret-ttl': [
    'string',
    'how long a pull secret read answers agents before it is read again (default 60s)',
  ],
  'per-node-requests': [
    'string',
    'broker calls per second each node may make, bursts of twice that (default 20)',
  ],
  'token-cache-entries': [
    'string',
    "agents' token identities kept between TokenReviews, about one per node (default 10000)",
  ],
  'token-reviews-per-second': [
    'string',
    'TokenReviews asked of the API server per second; a call waits up to 5 s for its turn (default 200)',
  ],
  'registry-requests-per-second': [
    'string',
    'probes started per second per registry host, bursts of twice that (default 50)',
  ],
  'registry-concurrency': ['string', 'probes in flight at once per registry host (default 16)'],
  'registry-answer-ttl': [
    'string',
    'how long a definite registry answer (public, private, can read, cannot read) is kept, less up to 10 % jitter (default 12h)',
  ],
  'public-registries': [
    'string',
    'comma-separated registries (or registry/path prefixes) known public',
  ],
  'node-credential-registries': [
    'string',
    'comma-separated registries the kubelets authenticate to themselves',
  ],
  'insecure-registries': ['string', 'comma-separated registries probed over plain HTTP'],
  'registry-probe': [
    'string',
    'on (default) or off: ask registries anonymously whether a repository is public',
  ],
  'verify-credentials': [
    'string',
    "on (default) or off: ask registries whether a tenant's own credential can read an image",
  ],
  prevention: [
    'string',
    'admission webhook mode unless a namespace label pullwatch.dev/prevention says otherwise: enforce, warn (default) or off',
  ],
  'prevention-allowlist': [
    'string',
    "comma-separated images never forced to pull, as the kubelet's preloadedImagesVerificationAllowlist: full names, or prefixes ending in /*",
  ],
  'prevention-exempt-labels': [
    'string',
    'comma-separated namespace labels (key or key=value) whose namespaces the webhook leaves alone',
  ],
  'on-registry-error': [
    'string',
    'when the registry cannot answer in time: always (default: force the pull, the kubelet decides) or allow',
  ],
  'webhook-configuration': [
    'string',
    'MutatingWebhookConfiguration whose caBundle the controller keeps equal to the CA it made (default pullwatch-controller)',
  ],
  reports: [
    'string',
    "openreports (default), wgpolicy or off: which reports the agents write, watched for the cluster's findings API",
  ],
  'log-level': ['string', `one of ${LOG_LEVELS.join(', ')} (default info)`],
} as const;

const k8sName = (name: string) =>
  z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    error: `--${name} must be a Kubernetes name (lowercase letters, digits and -)`,
  });

const schema = z
  .object({
    kubeconfig: z.string().optional(),
    listen: listenAddress.default({ host: '0.0.0.0', port: 9747 }),
    'tls-cert-file': z.string().optional(),
    'tls-key-file': z.string().optional(),
    'tls-secret': k8sName('tls-secret').default('pullwatch-controller-tls'),
    'ca-configmap': k8sName('ca-configmap').default('pullwatch-controller-ca'),
    service: k8sName('service').default('pullwatch-controller'),
    namespace: k8sName('namespace').default('pullwatch'),
    'agent-service-account': k8sName('agent-service-account').default('pullwatch-agent'),
    audience: z.string().min(1).default('pullwatch-controller'),
    'fingerprint-key-secret': k8sName('fingerprint-key-secret').default(
      'pullwatch-fingerprint-key',
    ),
    'secret-ttl': duration('secret-ttl').default(60_000),
    'per-node-requests': positiveInteger('per-node-requests').default(20),
    'token-cache-entries': positiveInteger('token-cache-entries').default(10_000),
    'token-reviews-per-second': positiveInteger('token-reviews-per-second').default(200),
    'registry-requests-per-second': positiveInteger('registry-requests-per-second').default(50),
    'registry-concurrency': positiveInteger('registry-concurrency').default(16),
    'registry-answer-ttl': duration('registry-answer-ttl').default(12 * 3_600_000),
    'public-registries': z.string().optional().transform(csv),
    'node-credential-registries': z.string().optional().transform(csv),
    'insecure-registries': z.string().optional().transform(csv),
    'registry-probe': onOff('registry-probe').default('on'),
    'verify-credentials': onOff('verify-credentials').default('on'),
    prevention: z
      .enum(PREVENTION_MODES, {
        error: `--prevention must be one of ${PREVENTION_MODES.join(', ')}`,
      })
      .default('warn'),
    'prevention-allowlist': z
      .string()
      .optional()
      .transform((v, ctx) => {
        const parsed = parseImageAllowlist(csv(v));
        if (parsed.ok) return parsed.value;
        ctx.addIssue({ code: 'custom', message: `--prevention-allowlist: ${parsed.error}` });
        return z.NEVER;
      }),
    'prevention-exempt-labels': z
      .string()
      .optional()
      .transform((v) => csv(v).map(parseNamespaceExemption)),
    'on-registry-error': z
      .enum(['always', 'allow'], { error: '--on-registry-error must be always or allow' })
      .default('always'),
    'webhook-configuration': k8sName('webhook-configuration').default('pullwatch-controller'),
    reports: z
      .enum(REPORTS_SETTINGS, {
        error: `--reports must be one of ${REPORTS_SETTINGS.join(', ')}`,
      })
      .default('openreports'),
    'log-level': z
      .enum(LOG_LEVELS, { error: `--log-level must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info'),
  })
  .superRefine(requireTlsFilePair);

export type ControllerConfig = z.output<typeof schema>;

export function loadControllerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile?: (path: string) => string,
): Result<ControllerConfig, string> {
  return loadSettings(CONTROLLER_SETTINGS, schema, argv, env, readFile, {
    namespace: env.POD_NAMESPACE,
  });
}

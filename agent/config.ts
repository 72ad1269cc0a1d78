// The agent's settings from flags, PULLWATCH_* environment variables and a YAML file, in that
// order of precedence, validated at start with errors that name the flag and the fix.
import { z } from 'zod';
import { SERVICE_ACCOUNT_DIR } from './kube/in-cluster.ts';
import type { Result } from './result.ts';
import {
  LOG_LEVELS,
  csv,
  duration,
  listenAddress,
  loadSettings,
  onOff,
  requireTlsFilePair,
  settingsHelp as helpFor,
} from './settings.ts';

export { envName } from './settings.ts';

// name -> [type, description]; the single list that flags, env vars, YAML keys and --help share.
/** The Service manifests/base/controller-service.yaml defines, in the agent's own namespace. */
const controllerUrlIn = (namespace: string): string =>
  `https://pullwatch-controller.${namespace}.svc:9747`;

export const SETTINGS = {
  'node-name': ['string', 'this node (env NODE_NAME from the downward API also works)'],
  'cri-endpoint': ['string', 'runtime socket; default: auto-detected among the well-known sockets'],
  kubeconfig: ['string', 'kubeconfig file; default: in-cluster, then $KUBECONFIG'],
  'service-account-dir': [
    'string',
    'in-cluster: where the token and ca.crt for the API server are (default /var/run/secrets/kubernetes.io/serviceaccount)',
  ],
  listen: ['string', 'HOST:PORT of the HTTP API and /metrics (default 0.0.0.0:9746)'],
  'state-dir': [
    'string',
    'where provenance and the fingerprint key are kept (default /var/lib/pullwatch)',
  ],
  'kubelet-root': [
    'string',
    "the kubelet's root dir, for KEP-2535 records (default /var/lib/kubelet)",
  ],
  'kubelet-config': [
    'string',
    "the kubelet's --config file, read for its KEP-2535 policy; auto (default): the usual places (kubeadm, k3s, RKE2); off: not read",
  ],
  'kubelet-config-dir': [
    'string',
    "the kubelet's --config-dir drop-in directory (*.conf, merged over --kubelet-config); default with auto: the usual one",
  ],
  auth: ['string', 'kubernetes (TokenReview + SubjectAccessReview, default) or none'],
  'secrets-from': [
    'string',
    'controller (default): pull secrets and registry answers come from pullwatch controller; direct: the agent reads Secrets itself (docs/security.md)',
  ],
  'controller-url': [
    'string',
    `the controller's HTTPS URL (default ${controllerUrlIn('$POD_NAMESPACE')})`,
  ],
  'controller-ca-file': [
    'string',
    "CA bundle the controller's certificate must chain to (default /var/run/secrets/pullwatch/controller-ca/ca.crt)",
  ],
  'controller-token-file': [
    'string',
    'projected service-account token for the controller (default /var/run/secrets/pullwatch/token/token)',
  ],
  'tls-cert-file': ['string', 'serve HTTPS with this certificate (reloaded when it changes)'],
  'tls-key-file': ['string', 'private key for --tls-cert-file'],
  'tenant-label': [
    'string',
    'namespace label whose value names the tenant (default: tenant = namespace)',
  ],
  'ignore-namespaces': ['string', 'comma-separated namespaces left out of findings'],
  'public-registries': [
    'string',
    'comma-separated registries (or registry/path prefixes) known public',
  ],
  'node-credential-registries': [
    'string',
    'comma-separated registries the kubelet itself authenticates to',
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
  'cri-poll-interval': ['string', 'how often the image cache is listed (default 15s)'],
  'resync-interval': ['string', 'full recomputation as a safety net (default 60s)'],
  'secret-refresh-interval': [
    'string',
    "how long a running pod's pull secret may go unread, e.g. after a rotation (default 30m, at least 1m)",
  ],
  'event-ttl': [
    'string',
    "the API server's --event-ttl (default 1h): kubelet events are not looked up for containers started before it",
  ],
  'finding-info-max-series': [
    'string',
    'cap on pullwatch_finding_info series (default 500, 0 disables)',
  ],
  events: [
    'string',
    'on (default) or off: a Warning Event on each pod newly flagged for unauthorized cached image use',
  ],
  reports: [
    'string',
    'openreports (default), wgpolicy or off: write findings as OpenReports Report/ClusterReport objects, as wgpolicyk8s.io PolicyReports, or not at all',
  ],
  'report-write-interval': [
    'string',
    'at most one write per report object per this long, coalescing changes (default 5s)',
  ],
  'log-level': ['string', `one of ${LOG_LEVELS.join(', ')} (default info)`],
} as const;

export type SettingName = keyof typeof SETTINGS;

const schema = z
  .object({
    'node-name': z
      .string({
        error:
          'a node name is required: set --node-name or NODE_NAME (the DaemonSet sets it from spec.nodeName)',
      })
      .min(1),
    'cri-endpoint': z.string().optional(),
    kubeconfig: z.string().optional(),
    'service-account-dir': z.string().min(1).default(SERVICE_ACCOUNT_DIR),
    listen: listenAddress.default({ host: '0.0.0.0', port: 9746 }),
    'state-dir': z.string().default('/var/lib/pullwatch'),
    'kubelet-root': z.string().default('/var/lib/kubelet'),
    'kubelet-config': z.string().min(1).default('auto'),
    'kubelet-config-dir': z.string().min(1).optional(),
    auth: z
      .enum(['kubernetes', 'none'], { error: '--auth must be "kubernetes" or "none"' })
      .default('kubernetes'),
    'tls-cert-file': z.string().optional(),
    'tls-key-file': z.string().optional(),
    'secrets-from': z
      .enum(['controller', 'direct'], { error: '--secrets-from must be "controller" or "direct"' })
      .default('controller'),
    'controller-url': z
      .url({ protocol: /^https$/, error: '--controller-url must be an https:// URL' })
      .optional(),
    'controller-ca-file': z.string().default('/var/run/secrets/pullwatch/controller-ca/ca.crt'),
    'controller-token-file': z.string().default('/var/run/secrets/pullwatch/token/token'),
    'tenant-label': z.string().optional(),
    'ignore-namespaces': z.string().optional().transform(csv),
    'public-registries': z.string().optional().transform(csv),
    'node-credential-registries': z.string().optional().transform(csv),
    'insecure-registries': z.string().optional().transform(csv),
    'registry-probe': onOff('registry-probe').default('on'),
    'verify-credentials': onOff('verify-credentials').default('on'),
    'cri-poll-interval': duration('cri-poll-interval').default(15_000),
    'resync-interval': duration('resync-interval').default(60_000),
    // Pod starts re-read their secrets at once; this bounds how stale a running pod's view gets.
    'secret-refresh-interval': duration('secret-refresh-interval')
      .refine((ms) => ms >= 60_000, {
        error: '--secret-refresh-interval must be at least 1m (each refresh is a GET per secret)',
      })
      .default(30 * 60_000),
    // Events older than this are gone from the API server: asking about them only costs requests.
    'event-ttl': duration('event-ttl').default(60 * 60_000),
    'finding-info-max-series': z
      .string()
      .regex(/^\d+$/, { error: '--finding-info-max-series must be a whole number' })
      .transform(Number)
      .default(500),
    events: onOff('events').default('on'),
    reports: z
      .enum(['openreports', 'wgpolicy', 'off'], {
        error: '--reports must be "openreports", "wgpolicy" or "off"',
      })
      .default('openreports'),
    'report-write-interval': duration('report-write-interval')
      .refine((ms) => ms >= 1000, {
        error: '--report-write-interval must be at least 1s (each write sends the whole report)',
      })
      .default(5000),
    'log-level': z
      .enum(LOG_LEVELS, { error: `--log-level must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info'),
  })
  .superRefine((c, ctx) => {
    if (c['secrets-from'] === 'controller' && c['controller-url'] === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          '--controller-url is required with --secrets-from controller (the DaemonSet sets POD_NAMESPACE, which gives the default)',
      });
    }
    requireTlsFilePair(c, ctx);
  });

export type AgentConfig = z.output<typeof schema>;

/** Flags > PULLWATCH_* env > --config YAML > defaults. */
export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile?: (path: string) => string,
): Result<AgentConfig, string> {
  return loadSettings(SETTINGS, schema, argv, env, readFile, {
    'node-name': env.NODE_NAME,
    'controller-url':
      env.POD_NAMESPACE === undefined ? undefined : controllerUrlIn(env.POD_NAMESPACE),
  });
}

/** The agent's flags for --help. */
export function settingsHelp(): string {
  return helpFor(SETTINGS);
}

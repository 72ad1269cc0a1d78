// The agent's settings from flags, PULLWATCH_* environment variables and a YAML file, in that
// order of precedence, validated at start with errors that name the flag and the fix.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { z } from 'zod';
import type { Result } from './result.ts';
import { err, ok } from './result.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

// name -> [type, description]; the single list that flags, env vars, YAML keys and --help share.
export const SETTINGS = {
  'node-name': ['string', 'this node (env NODE_NAME from the downward API also works)'],
  'cri-endpoint': ['string', 'runtime socket; default: auto-detected among the well-known sockets'],
  kubeconfig: ['string', 'kubeconfig file; default: in-cluster, then $KUBECONFIG'],
  listen: ['string', 'HOST:PORT of the HTTP API and /metrics (default 0.0.0.0:9746)'],
  'state-dir': [
    'string',
    'where provenance and the fingerprint key are kept (default /var/lib/pullwatch)',
  ],
  'kubelet-root': [
    'string',
    "the kubelet's root dir, for KEP-2535 records (default /var/lib/kubelet)",
  ],
  auth: ['string', 'kubernetes (TokenReview + SubjectAccessReview, default) or none'],
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
  'log-level': ['string', `one of ${LOG_LEVELS.join(', ')} (default info)`],
} as const;

export type SettingName = keyof typeof SETTINGS;

export function envName(setting: string): string {
  return `PULLWATCH_${setting.toUpperCase().replace(/-/g, '_')}`;
}

const csv = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const onOff = (name: string) => z.enum(['on', 'off'], { error: `--${name} must be "on" or "off"` });

const duration = (name: string) =>
  z.string().transform((v, ctx) => {
    const m = /^(\d+)(ms|s|m|h)$/.exec(v.trim());
    if (m === null) {
      ctx.addIssue({
        code: 'custom',
        message: `--${name} must be a duration like 500ms, 15s, 2m or 1h (got "${v}")`,
      });
      return z.NEVER;
    }
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    return Number(m[1]) * unitMs;
  });

const listenAddress = z.string().transform((v, ctx) => {
  const m = /^(.*):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (m === null || port > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `--listen must be HOST:PORT, e.g. 0.0.0.0:9746 or 127.0.0.1:0 (got "${v}")`,
    });
    return z.NEVER;
  }
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port };
});

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
    listen: listenAddress.default({ host: '0.0.0.0', port: 9746 }),
    'state-dir': z.string().default('/var/lib/pullwatch'),
    'kubelet-root': z.string().default('/var/lib/kubelet'),
    auth: z
      .enum(['kubernetes', 'none'], { error: '--auth must be "kubernetes" or "none"' })
      .default('kubernetes'),
    'tls-cert-file': z.string().optional(),
    'tls-key-file': z.string().optional(),
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
    'log-level': z
      .enum(LOG_LEVELS, { error: `--log-level must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info'),
  })
  .superRefine((c, ctx) => {
    if ((c['tls-cert-file'] === undefined) !== (c['tls-key-file'] === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: '--tls-cert-file and --tls-key-file go together: set both or neither',
      });
    }
  });

export type AgentConfig = z.output<typeof schema>;

/** Flags > PULLWATCH_* env > --config YAML > defaults. */
export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Result<AgentConfig, string> {
  const options = Object.fromEntries(
    [...Object.keys(SETTINGS), 'config'].map((name) => [name, { type: 'string' as const }]),
  );
  let flags: Record<string, string | undefined>;
  try {
    flags = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    return err((e as Error).message);
  }
  let fromFile: Record<string, unknown> = {};
  const configPath = flags.config ?? env.PULLWATCH_CONFIG;
  if (configPath !== undefined) {
    try {
      const parsed: unknown = YAML.parse(readFile(configPath));
      if (parsed !== null && typeof parsed !== 'object')
        return err(`--config ${configPath}: expected a YAML mapping of settings`);
      fromFile = (parsed ?? {}) as Record<string, unknown>;
    } catch (e) {
      return err(`--config ${configPath}: ${(e as Error).message}`);
    }
    const unknown = Object.keys(fromFile).filter((k) => !(k in SETTINGS));
    if (unknown.length > 0)
      return err(`--config ${configPath}: unknown setting(s) ${unknown.join(', ')}`);
  }
  const merged: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTINGS)) {
    const fileValue = fromFile[name];
    merged[name] =
      flags[name] ??
      env[envName(name)] ??
      (name === 'node-name' ? env.NODE_NAME : undefined) ??
      (fileValue === undefined || fileValue === null
        ? undefined
        : Array.isArray(fileValue)
          ? fileValue.map((v) => scalarText(v)).join(',')
          : scalarText(fileValue));
  }
  const result = schema.safeParse(merged);
  if (!result.success) {
    return err(result.error.issues.map((i) => i.message).join('; '));
  }
  return ok(result.data);
}

/** YAML scalars as the flag would have been written; a nested mapping is left for the schema to refuse. */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value}`;
  return JSON.stringify(value) ?? '';
}

export function settingsHelp(): string {
  return Object.entries(SETTINGS)
    .map(
      ([name, [, description]]) =>
        `  --${name.padEnd(28)} ${description}\n  ${''.padEnd(30)} env ${envName(name)}`,
    )
    .join('\n');
}

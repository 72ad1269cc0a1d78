// Settings of a pullwatch program (the agent, the controller) from flags, PULLWATCH_* environment
// variables and a --config YAML file, in that order of precedence, with the value parsers the
// programs share. Each program declares its own settings table and zod schema.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { z } from 'zod';
import type { Result } from './result.ts';
import { err, ok } from './result.ts';

/** name -> [type, description]: the single list that flags, env vars, YAML keys and --help share. */
export type SettingsTable = Readonly<Record<string, readonly [string, string]>>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export function envName(setting: string): string {
  return `PULLWATCH_${setting.toUpperCase().replace(/-/g, '_')}`;
}

export const csv = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export const onOff = (name: string) =>
  z.enum(['on', 'off'], { error: `--${name} must be "on" or "off"` });

export const duration = (name: string) =>
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

/** A whole number of at least 1, for counts and rates given as flags. */
export const positiveInteger = (name: string) =>
  z
    .string()
    .regex(/^[1-9]\d*$/, { error: `--${name} must be a positive whole number` })
    .transform(Number);

/**
 * Serving HTTPS needs both files or neither: a refinement both programs (the agent, the
 * controller) add to their schemas.
 */
export function requireTlsFilePair(
  c: {
    readonly 'tls-cert-file'?: string | undefined;
    readonly 'tls-key-file'?: string | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if ((c['tls-cert-file'] === undefined) !== (c['tls-key-file'] === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: '--tls-cert-file and --tls-key-file go together: set both or neither',
    });
  }
}

export const listenAddress = z.string().transform((v, ctx) => {
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

/**
 * One program's settings (the agent's, the controller's) from flags, PULLWATCH_* variables and
 * a --config YAML file, in that order, validated by `settingsSchema`. `fallbacks` are values
 * from the environment under other names (NODE_NAME from the downward API).
 */
export function loadSettings<S extends z.ZodType>(
  settings: SettingsTable,
  settingsSchema: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  fallbacks: Readonly<Record<string, string | undefined>> = {},
): Result<z.output<S>, string> {
  const names = Object.keys(settings);
  const options = Object.fromEntries(
    [...names, 'config'].map((name) => [name, { type: 'string' as const }]),
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
    const unknown = Object.keys(fromFile).filter((k) => !(k in settings));
    if (unknown.length > 0)
      return err(`--config ${configPath}: unknown setting(s) ${unknown.join(', ')}`);
  }
  const merged: Record<string, string | undefined> = {};
  for (const name of names) {
    const fileValue = fromFile[name];
    merged[name] =
      flags[name] ??
      env[envName(name)] ??
      fallbacks[name] ??
      (fileValue === undefined || fileValue === null
        ? undefined
        : Array.isArray(fileValue)
          ? fileValue.map((v) => scalarText(v)).join(',')
          : scalarText(fileValue));
  }
  const result = settingsSchema.safeParse(merged);
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

export function settingsHelp(settings: SettingsTable): string {
  return Object.entries(settings)
    .map(
      ([name, [, description]]) =>
        `  --${name.padEnd(28)} ${description}\n  ${''.padEnd(30)} env ${envName(name)}`,
    )
    .join('\n');
}

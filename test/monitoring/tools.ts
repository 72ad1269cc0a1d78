// What the monitoring tests share: running a command-line tool (promtool) with its exit code and
// output, and reading the alert rule files in their two shapes.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const RULE_FILE = `${REPO}manifests/monitoring/prometheus-rules.yaml`;
export const PROMETHEUS_RULE = `${REPO}manifests/components/prometheus-operator/prometheusrule.yaml`;
export const RUNBOOK = `${REPO}docs/runbook.md`;
export const DASHBOARD = `${REPO}dashboards/pullwatch.json`;

export interface ToolResult {
  readonly code: number | null;
  /** stdout and stderr together, in the order they came. */
  readonly output: string;
}

/** Runs `command args`, feeding `stdin` when given; never rejects on a non-zero exit. */
export function runTool(command: string, args: readonly string[], stdin = ''): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, output });
    });
    child.stdin.end(stdin);
  });
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `groups` of a rule file (or of a PrometheusRule's `spec`), checked for shape. */
export function ruleGroups(document: unknown, where: string): RuleGroup[] {
  if (!isRecord(document) || !Array.isArray(document['groups'])) {
    throw new Error(`${where}: no groups list`);
  }
  return document['groups'].map((group: unknown, i) => {
    if (!isRecord(group) || typeof group['name'] !== 'string' || !Array.isArray(group['rules'])) {
      throw new Error(`${where}: group ${i} needs a name and rules`);
    }
    for (const rule of group['rules'] as unknown[]) {
      if (
        !isRecord(rule) ||
        typeof rule['alert'] !== 'string' ||
        typeof rule['expr'] !== 'string'
      ) {
        throw new Error(`${where}: group ${group['name']} has a rule without alert or expr`);
      }
    }
    return group as unknown as RuleGroup;
  });
}

export async function readYaml(path: string): Promise<unknown> {
  return YAML.parse(await readFile(path, 'utf8')) as unknown;
}

export async function alertRules(): Promise<AlertRule[]> {
  return ruleGroups(await readYaml(RULE_FILE), RULE_FILE).flatMap((g) => g.rules);
}

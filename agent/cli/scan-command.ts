import { parseArgs } from 'node:util';
import { loadConfig, settingsHelp } from '../config.ts';
import type { Severity } from '../detect/finding.ts';
import { SEVERITIES, severityRank } from '../detect/finding.ts';
import { createLogger } from '../log.ts';
import { startAgentCore } from '../main.ts';
import { renderFindingsTable, sortFindings } from './findings-output.ts';
import type { CommandIo } from './io.ts';
import { EXIT, parseOutputFormat, UsageError } from './io.ts';
import { findingJson } from '../http/findings-json.ts';
import { toJson } from './table.ts';

/** `scan --fail-on`: a finding reached the threshold. */
export const EXIT_FINDINGS = 3;

export const scanUsage = `Usage: pullwatch scan --once [--output table|json] [--fail-on SEVERITY] [agent flags]

Takes one snapshot of this node (image cache, pods, secrets, registry answers), prints the
findings and exits: 0 when clean, 3 when a finding reaches --fail-on, 1 when a source could
not be read, 2 on bad flags. For cron jobs, CI and an SRE on a node. The agent flags (below)
are those of 'pullwatch run'; --listen, --auth and --events are ignored
(a scan writes no Event).

  --once              required: scan once and exit (a continuous mode is 'pullwatch run')
  --output, -o        table (default) or json
  --fail-on           one of ${SEVERITIES.join(', ')}: exit 3 if a finding is at least this severe
  --timeout           how long to wait for the sources (default 30s)

${settingsHelp()}
`;

const SCAN_OPTIONS = {
  once: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  'fail-on': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Splits the scan's own flags from the agent settings that loadConfig validates. */
function splitArgs(argv: readonly string[]): { own: string[]; agent: string[] } {
  const own: string[] = [];
  const agent: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const name = arg.replace(/^--?/, '').split('=')[0] ?? '';
    const known = Object.entries(SCAN_OPTIONS).find(
      ([long, o]) => name === long || ('short' in o && name === o.short && !arg.startsWith('--')),
    );
    if (known === undefined) {
      agent.push(arg);
      continue;
    }
    own.push(arg);
    if (known[1].type === 'string' && !arg.includes('=') && i + 1 < argv.length) {
      own.push(argv[i + 1] ?? '');
      i += 1;
    }
  }
  return { own, agent };
}

function parseSeverity(value: string | undefined): Severity | undefined {
  if (value === undefined) return undefined;
  if ((SEVERITIES as readonly string[]).includes(value)) return value as Severity;
  throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')} (got "${value}")`);
}

function parseTimeoutMs(value: string | undefined): number {
  if (value === undefined) return 30_000;
  const m = /^(\d+)(ms|s)$/.exec(value);
  if (m === null) throw new UsageError(`--timeout must be a duration like 30s (got "${value}")`);
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
}

export async function scanCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const { own, agent: agentArgs } = splitArgs(argv);
  const { values } = parseArgs({ args: own, options: SCAN_OPTIONS, allowPositionals: false });
  if (values.help === true) {
    io.stdout(scanUsage);
    return EXIT.ok;
  }
  if (values.once !== true) {
    throw new UsageError('--once is required (for continuous detection, run `pullwatch run`)');
  }
  const output = parseOutputFormat(values.output);
  const failOn = parseSeverity(values['fail-on']);
  const timeoutMs = parseTimeoutMs(values.timeout);
  const config = loadConfig(agentArgs, io.env);
  if (!config.ok) throw new UsageError(config.error);
  // A one-shot prints findings on stdout: only warnings and errors go to stderr by default.
  const level = config.value['log-level'] === 'info' ? 'warn' : config.value['log-level'];
  const logger = createLogger(level, { node: config.value['node-name'] });
  // A one-shot only reads: it leaves no Event or report behind (the running agent writes those).
  const core = await startAgentCore({ ...config.value, events: 'off', reports: 'off' }, { logger });
  try {
    const agent = core.agent;
    const deadline = Date.now() + timeoutMs;
    while (!agent.view.readiness().ready || !agent.settled()) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const readiness = agent.view.readiness();
    if (!readiness.ready) {
      io.stderr(`pullwatch scan: ${readiness.reason} (gave up after ${timeoutMs / 1000}s)\n`);
      for (const [name, health] of Object.entries(agent.view.sources())) {
        if (health.lastError !== undefined)
          io.stderr(`pullwatch scan: ${name}: ${health.lastError}\n`);
      }
      return EXIT.failure;
    }
    agent.reconcile();
    const findings = sortFindings(agent.view.findings());
    if (output === 'json')
      io.stdout(`${toJson({ node: agent.node, items: findings.map(findingJson) })}\n`);
    else io.stdout(renderFindingsTable(findings));
    if (
      failOn !== undefined &&
      findings.some((f) => severityRank(f.severity) >= severityRank(failOn))
    ) {
      return EXIT_FINDINGS;
    }
    return EXIT.ok;
  } finally {
    await core.stop();
  }
}

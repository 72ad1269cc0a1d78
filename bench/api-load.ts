// 4. The HTTP API and the Prometheus scrape under load, with 1,000 active findings: autocannon
// in a second process on loopback against `pullwatch run`.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { Benchmark, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import type { AgentProcess } from './lib/environment.ts';
import { startCliAgent, startNodeEnvironment, waitForFindings } from './lib/environment.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { sampleProcess } from './lib/proc.ts';
import { sharedBenchNode } from './lib/scenario.ts';
import { fmt } from './lib/stats.ts';
import { sleep, Teardowns } from './lib/teardown.ts';

const execFileP = promisify(execFile);
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');
const METRICS_P99_TARGET_MS = 50;

interface AutocannonResult {
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly latency: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly average: number;
  };
  readonly requests: { readonly average: number; readonly total: number };
  readonly throughput: { readonly average: number };
}

interface LoadRun {
  readonly path: string;
  readonly connections: number;
  readonly seconds: number;
  readonly result: AutocannonResult;
  /** Agent CPU during the run, in cores. */
  readonly agentCores: number;
}

async function autocannon(
  url: string,
  connections: number,
  seconds: number,
): Promise<AutocannonResult> {
  const { stdout } = await execFileP(
    process.execPath,
    [AUTOCANNON, '--json', '-c', String(connections), '-d', String(seconds), url],
    { maxBuffer: 16 * 1024 * 1024, timeout: (seconds + 60) * 1000 },
  );
  return JSON.parse(stdout) as AutocannonResult;
}

async function load(
  agent: AgentProcess,
  path: string,
  connections: number,
  seconds: number,
): Promise<LoadRun> {
  await autocannon(`${agent.url}${path}`, connections, 2); // warm-up, not counted
  const before = await sampleProcess(agent.pid);
  const result = await autocannon(`${agent.url}${path}`, connections, seconds);
  const after = await sampleProcess(agent.pid);
  await sleep(1000);
  return {
    path,
    connections,
    seconds,
    result,
    agentCores: (after.cpuSeconds - before.cpuSeconds) / ((after.at - before.at) / 1000),
  };
}

async function bodyBytes(url: string): Promise<number> {
  const res = await fetch(url);
  return (await res.arrayBuffer()).byteLength;
}

export const apiLoadBenchmark: Benchmark = {
  name: 'api',
  title: '4. API and scrape under load',
  summary: 'autocannon (second process) on /metrics and /api/v1/findings with 1,000 findings',
  async run(context) {
    const machine = describeMachine();
    const seconds = context.quick ? 10 : 20;
    const scenario = sharedBenchNode();
    const teardowns = new Teardowns();
    try {
      const env = await startNodeEnvironment(teardowns, scenario);
      const agent = await startCliAgent(teardowns, env);
      await waitForFindings(agent, scenario.expectedFindings);
      await sleep(2000);
      const metricsBytes = await bodyBytes(`${agent.url}/metrics`);
      const findingsBytes = await bodyBytes(`${agent.url}/api/v1/findings`);
      const plan: readonly [string, number][] = [
        ['/metrics', 1],
        ['/metrics', 10],
        ['/api/v1/findings', 1],
        ['/api/v1/findings', 10],
        ['/api/v1/findings?namespace=team-01-dev', 10],
      ];
      const runs: LoadRun[] = [];
      for (const [path, connections] of plan) {
        context.log(`api: ${path} with ${connections} connection(s) for ${seconds} s`);
        runs.push(await load(agent, path, connections, seconds));
      }
      const metrics10 = runs.find((r) => r.path === '/metrics' && r.connections === 10);
      if (metrics10 === undefined) throw new Error('no /metrics run at 10 connections');
      const failures = (r: LoadRun) => r.result.errors + r.result.timeouts + r.result.non2xx;
      const targets: TargetCheck[] = [
        {
          figure: '`/metrics` p99 at 10 concurrent connections, 1,000 findings',
          target: `< ${METRICS_P99_TARGET_MS} ms`,
          measured: `p99 ${fmt(metrics10.result.latency.p99)} ms, p50 ${fmt(metrics10.result.latency.p50)} ms, ${fmt(metrics10.result.requests.average, 0)} req/s`,
          met: metrics10.result.latency.p99 < METRICS_P99_TARGET_MS && failures(metrics10) === 0,
        },
      ];
      const body = [
        `Measured ${machineLine(machine)}. **Embedded runtime** and **embedded API server** in the benchmark process, the agent as \`node agent/cli.ts run\` (a separate process, \`--auth none\`, \`--log-level info\`, \`--finding-info-max-series\` at its default 500), and **autocannon 8** as a third process (\`node …/autocannon.js --json\`), all on 127.0.0.1 of this ${machine.cores}-core machine, so the load generator competes with the agent for CPU.`,
        '',
        `**Node:** ${scenario.describe()}. Response sizes: \`/metrics\` ${fmt(metricsBytes / 1024, 0)} KiB, \`/api/v1/findings\` ${fmt(findingsBytes / 1024, 0)} KiB. Each row: a 2 s warm-up run, then ${seconds} s measured; agent CPU from /proc over the measured run.`,
        '',
        '| endpoint | connections | p50 (ms) | p99 (ms) | max (ms) | requests/s | MiB/s | errors + non-2xx | agent CPU (cores) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...runs.map(
          (r) =>
            `| \`${r.path}\` | ${r.connections} | ${fmt(r.result.latency.p50)} | ${fmt(r.result.latency.p99)} | ${fmt(r.result.latency.max)} | ${fmt(r.result.requests.average, 0)} | ${fmt(r.result.throughput.average / 2 ** 20, 1)} | ${failures(r)} | ${fmt(r.agentCores, 2)} |`,
        ),
        '',
        ...targetTable(targets),
      ].join('\n');
      return { body, targets };
    } finally {
      await teardowns.run();
    }
  },
};

// 2. Detection latency: a pod of tenant B that runs tenant A's private image from the cache is
// created in the API server; how long until the agent has the finding (inside the agent
// process), and until it is served on /api/v1/findings (from this process, over HTTP).
import type { Benchmark, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import type { ChurnLatencyRun } from './lib/churn-latency.ts';
import { churnThenOffend } from './lib/churn-latency.ts';
import type { InstrumentedAgent, NodeEnvironment } from './lib/environment.ts';
import {
  startInstrumentedAgent,
  startNodeEnvironment,
  waitForFindings,
} from './lib/environment.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import type { PodModel } from './lib/scenario.ts';
import { sharedBenchNode, podObject } from './lib/scenario.ts';
import type { Summary } from './lib/stats.ts';
import { fmt, summarize } from './lib/stats.ts';
import { sleep, Teardowns } from './lib/teardown.ts';

const TARGET_P99_MS = 100;
/** Issue 16: a new offending pod must not wait behind a backlog of updates to other pods. */
const CHURN_TARGET_MS = 500;
const CHURN_UPDATES = 1000;
const EVENT_TIMEOUT_MS = 10_000;
const RULE = 'unauthorized-cached-image-use';

const msSince = (t0: bigint, t1: bigint): number => Number(t1 - t0) / 1e6;

interface Cycle {
  readonly created: number | undefined;
  readonly deleted: number | undefined;
  readonly http?: number | undefined;
  readonly servedAfterDetect?: number | undefined;
}

async function cycle(
  env: NodeEnvironment,
  agent: InstrumentedAgent,
  probe: PodModel,
  overHttp: boolean,
): Promise<Cycle> {
  const isOurs =
    (type: 'detected' | 'retired') => (e: { type: string; rule: string; pod: string | null }) =>
      e.type === type && e.rule === RULE && e.pod === probe.name;
  const t0 = process.hrtime.bigint();
  const created = env.api.store.create('pods', podObject(probe));
  if (!created.ok) throw new Error(`creating ${probe.name}: ${created.error.message}`);
  let http: number | undefined;
  if (overHttp) {
    const query = `/api/v1/findings?namespace=${probe.namespace}&rule=${RULE}`;
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const body = await agent.getJson<{ items: { pod: string | null }[] }>(query);
      if (body.items.some((f) => f.pod === probe.name)) {
        http = msSince(t0, process.hrtime.bigint());
        break;
      }
    }
  }
  const detected = await agent.nextEvent(isOurs('detected'), EVENT_TIMEOUT_MS);
  await sleep(Math.random() * 20);
  const t1 = process.hrtime.bigint();
  const deleted = env.api.store.delete('pods', { namespace: probe.namespace, name: probe.name });
  if (!deleted.ok) throw new Error(`deleting ${probe.name}: ${deleted.error.message}`);
  const retired = await agent.nextEvent(isOurs('retired'), EVENT_TIMEOUT_MS);
  await sleep(Math.random() * 20);
  const createdMs = detected === undefined ? undefined : msSince(t0, BigInt(detected.at));
  return {
    created: createdMs,
    deleted: retired === undefined ? undefined : msSince(t1, BigInt(retired.at)),
    ...(overHttp
      ? {
          http,
          servedAfterDetect:
            http === undefined || createdMs === undefined ? undefined : http - createdMs,
        }
      : {}),
  };
}

function line(label: string, s: Summary, missed: number): string {
  return `| ${label} | ${fmt(s.median)} | ${fmt(s.p99)} | ${fmt(s.min)}–${fmt(s.max)} | ${fmt(s.mean)} | ${s.n} | ${missed} |`;
}

export const latencyBenchmark: Benchmark = {
  name: 'latency',
  title: '2. Detection latency',
  summary: 'pod created in the API server -> finding in the agent / on /api/v1/findings',
  async run(context) {
    const machine = describeMachine();
    const cycles = 500; // 500 creates + 500 deletes = 1,000 pod events
    const httpCycles = context.quick ? 100 : 200;
    const scenario = sharedBenchNode();
    const teardowns = new Teardowns();
    try {
      const env = await startNodeEnvironment(teardowns, scenario);
      const agent = await startInstrumentedAgent(teardowns, env);
      await waitForFindings(agent, scenario.expectedFindings);
      await sleep(2000);
      context.log(`latency: ${cycles} create/delete cycles, in the agent`);
      const inAgent: Cycle[] = [];
      for (let i = 0; i < cycles; i += 1) {
        inAgent.push(await cycle(env, agent, scenario.probePod(i), false));
      }
      context.log(`latency: ${httpCycles} create/delete cycles, polling /api/v1/findings`);
      const overHttp: Cycle[] = [];
      for (let i = 0; i < httpCycles; i += 1) {
        overHttp.push(await cycle(env, agent, scenario.probePod(cycles + i), true));
      }
      const churnRuns = context.quick ? 5 : 15;
      context.log(
        `latency: ${churnRuns} × (${CHURN_UPDATES} pod updates, then an offending pod), interleaved with quiet runs`,
      );
      const afterChurn: ChurnLatencyRun[] = [];
      const quiet: ChurnLatencyRun[] = [];
      for (let i = 0; i < churnRuns; i += 1) {
        const base = 10_000 + 2 * i;
        afterChurn.push(
          await churnThenOffend(env, agent, scenario.probePod(base), CHURN_UPDATES, i),
        );
        quiet.push(await churnThenOffend(env, agent, scenario.probePod(base + 1), 0, i));
      }
      const values = (xs: readonly (number | undefined)[]) =>
        xs.filter((x): x is number => x !== undefined);
      const created = values(inAgent.map((c) => c.created));
      const deleted = values(inAgent.map((c) => c.deleted));
      const all = [...created, ...deleted];
      const missedCreated = cycles - created.length;
      const missedDeleted = cycles - deleted.length;
      const http = values(overHttp.map((c) => c.http));
      const httpDetect = values(overHttp.map((c) => c.created));
      const served = values(overHttp.map((c) => c.servedAfterDetect));
      const sAll = summarize(all);
      const sCreated = summarize(created);
      const sHttp = summarize(http);
      const missedAll = missedCreated + missedDeleted;
      const churnServed = values(afterChurn.map((r) => r.servedMs));
      const sChurn = summarize(churnServed);
      const missedChurn = churnRuns - churnServed.length;
      const churnRow = (label: string, runs: readonly ChurnLatencyRun[]) => {
        const served = values(runs.map((r) => r.servedMs));
        const detected = values(runs.map((r) => r.detectedMs));
        const cpu = summarize(runs.map((r) => r.agentCpuMs));
        const s = summarize(served);
        return `| ${label} | ${fmt(s.median)} | ${fmt(s.min)}–${fmt(s.max)} | ${fmt(summarize(detected).median)} | ${fmt(cpu.median)} | ${s.n} | ${runs.length - served.length} |`;
      };
      const targets: TargetCheck[] = [
        {
          figure: `pod event -> finding in the agent, p99 over ${all.length} events (5,000 images / 500 pods)`,
          target: `< ${TARGET_P99_MS} ms`,
          measured: `p99 ${fmt(sAll.p99)} ms, p50 ${fmt(sAll.median)} ms${missedAll > 0 ? `, ${missedAll} not seen within ${EVENT_TIMEOUT_MS / 1000} s` : ''}`,
          met: sAll.p99 < TARGET_P99_MS && missedAll === 0,
        },
        {
          figure: 'API server accepts the pod -> finding served on /api/v1/findings, p99',
          target: `< ${TARGET_P99_MS} ms (same target, for reference)`,
          measured: `p99 ${fmt(sHttp.p99)} ms, p50 ${fmt(sHttp.median)} ms`,
          met: sHttp.p99 < TARGET_P99_MS && http.length === httpCycles,
        },
        {
          figure: `new offending pod -> finding served on /api/v1/findings, right after ${CHURN_UPDATES.toLocaleString('en-US')} pod updates, median of ${churnRuns} runs`,
          target: `< ${CHURN_TARGET_MS} ms`,
          measured: `median ${fmt(sChurn.median)} ms, max ${fmt(sChurn.max)} ms${missedChurn > 0 ? `, ${missedChurn} not served within 15 s` : ''}`,
          met: sChurn.median < CHURN_TARGET_MS && missedChurn === 0,
        },
      ];
      const body = [
        `Measured ${machineLine(machine)}. **Embedded runtime** (test/kit/embedded/cri-runtime.ts) and **embedded API server** (watch bookmarks every 60 s) in the benchmark process; the agent in a **child process** (bench/lib/instrumented-agent.ts: \`loadConfig\` + \`runAgent\`, exactly what \`pullwatch run\` wires, plus an IPC channel).`,
        '',
        `**Node:** ${scenario.describe()} (the same node as the footprint and API benchmarks). Each cycle creates pod \`probe-N\` of tenant team-01 (init, app, sidecar; pull secrets that do not match) whose app runs a private image of team-00 with IfNotPresent, already running from the cache, then deletes it. The agent coalesces changes for 10 ms before a reconcile and lists the image cache on pod events (at most once a second), as in \`pullwatch run\`.`,
        '',
        '**In the agent:** from just before `store.create`/`store.delete` in the embedded API server to the agent\'s "finding detected"/"finding retired" log line for that pod, which the agent writes synchronously right after its findings store changed, i.e. when `/api/v1/findings` would serve it. Both timestamps are `process.hrtime.bigint()` (CLOCK_MONOTONIC, shared by the two processes).',
        '',
        `**Over HTTP:** ${httpCycles} further cycles in which this process polls \`GET /api/v1/findings?namespace=…&rule=${RULE}\` back to back (keep-alive) from the moment the API server accepted the pod until the finding is in the answer.`,
        '',
        '| events | median (ms) | p99 | min–max | mean | n | not seen in 10 s |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        line('pod created -> finding detected (in the agent)', sCreated, missedCreated),
        line('pod deleted -> finding retired (in the agent)', summarize(deleted), missedDeleted),
        line('**all 1,000 pod events**', sAll, missedAll),
        line(
          'pod created -> finding served on /api/v1/findings (HTTP polling)',
          sHttp,
          httpCycles - http.length,
        ),
        line(
          '… of which: created -> detected in the agent, while polled',
          summarize(httpDetect),
          httpCycles - httpDetect.length,
        ),
        line(
          '… of which: detected -> first answer that contains it',
          summarize(served),
          httpCycles - served.length,
        ),
        '',
        `**Under churn** (issue 16): ${churnRuns} runs, each sending ${CHURN_UPDATES.toLocaleString('en-US')} updates to the node's running pods back to back through the embedded API server (bench/lib/churn-latency.ts: a Ready condition's \`lastProbeTime\`, round-robin over the 500 pods, as status heartbeats look; none can change a finding), then at once creating an offending pod as above, and polling \`/api/v1/findings\` until it is served; each run is followed by a quiet run (the same pod, no updates before it), interleaved so that both see the same machine load; 3 s of rest after each. Agent CPU is \`process.cpuUsage()\` in the agent from just before the updates to the finding served.`,
        '',
        '| run | served, median (ms) | min–max | detected in the agent, median (ms) | agent CPU, median (ms) | n | not served in 15 s |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        churnRow(`right after ${CHURN_UPDATES.toLocaleString('en-US')} pod updates`, afterChurn),
        churnRow('quiet (no updates before it)', quiet),
        '',
        ...targetTable(targets),
      ].join('\n');
      return { body, targets };
    } finally {
      await teardowns.run();
    }
  },
};

// The agent built as deployed (`node dist/agent/cli.js run` with the container image's
// environment), measured from outside through /proc as a node's kubelet would account it:
// resident memory when it first serves its findings, after settling, over a steady window, and
// after bursts of pod updates each followed by a new offending pod (issue 16's figures).
import type { OutsideChurnRun } from './churn-latency.ts';
import { churnThenOffendFromOutside } from './churn-latency.ts';
import type { NodeEnvironment } from './environment.ts';
import { startCliAgent, waitForFindings } from './environment.ts';
import type { ProcSample } from './proc.ts';
import { sampleProcess } from './proc.ts';
import type { Teardowns } from './teardown.ts';
import { sleep } from './teardown.ts';

export interface DeployedRunOptions {
  readonly name: string;
  /** The build's `cli.js` (lib/build.ts). */
  readonly cli: string;
  /** The image's environment, or a variant of it. */
  readonly env: Readonly<Record<string, string>>;
  /** From ready to the first steady sample. */
  readonly settleMs: number;
  /** Samples one second apart after settling (0: one sample). */
  readonly steadySeconds: number;
  /** Bursts of `updates` pod updates, each followed by an offending pod (0: none). */
  readonly bursts: number;
  readonly updates: number;
  /** probePod indexes used: probeBase, probeBase + 1, ... (unique per run of a benchmark). */
  readonly probeBase: number;
}

export interface DeployedRun {
  readonly readyAfterMs: number;
  /** When the agent first served the node's findings (lib/environment.ts waitForFindings). */
  readonly atReady: ProcSample;
  /** After settling: the first sample, then one per second. */
  readonly steady: readonly ProcSample[];
  /** After the first burst, once the agent was back at its findings and rested: 3 samples 1 s apart. */
  readonly afterUpdates: readonly ProcSample[];
  /** After the last burst and its rest (undefined without bursts). */
  readonly afterBursts: ProcSample | undefined;
  readonly bursts: readonly OutsideChurnRun[];
}

/** Rest after the first burst, on top of the burst's own rest, before RSS is sampled. */
const AFTER_BURST_MS = 2000;
const RSS_SAMPLES = 3;

async function samplesEverySecond(pid: number, count: number): Promise<ProcSample[]> {
  const out: ProcSample[] = [await sampleProcess(pid)];
  while (out.length < count) {
    await sleep(1000);
    out.push(await sampleProcess(pid));
  }
  return out;
}

/** Starts the build on `env`, measures it, stops it. */
export async function measureDeployedAgent(
  teardowns: Teardowns,
  env: NodeEnvironment,
  options: DeployedRunOptions,
): Promise<DeployedRun> {
  const agent = await startCliAgent(teardowns, env, {
    name: options.name,
    cli: options.cli,
    env: options.env,
  });
  try {
    await waitForFindings(agent, env.scenario.expectedFindings);
    const atReady = await sampleProcess(agent.pid);
    await sleep(options.settleMs);
    const steady = await samplesEverySecond(agent.pid, options.steadySeconds + 1);
    const bursts: OutsideChurnRun[] = [];
    let afterUpdates: ProcSample[] = [];
    for (let i = 0; i < options.bursts; i += 1) {
      const probe = env.scenario.probePod(options.probeBase + i);
      bursts.push(await churnThenOffendFromOutside(env, agent, probe, options.updates, i));
      if (i === 0) {
        // The offending pod's finding is retired: the agent is back at the node's findings.
        await waitForFindings(agent, env.scenario.expectedFindings);
        await sleep(AFTER_BURST_MS);
        afterUpdates = await samplesEverySecond(agent.pid, RSS_SAMPLES);
      }
    }
    const afterBursts = bursts.length > 0 ? await sampleProcess(agent.pid) : undefined;
    return {
      readyAfterMs: agent.readyAfterMs,
      atReady,
      steady,
      afterUpdates,
      afterBursts,
      bursts,
    };
  } finally {
    await agent.stop();
  }
}

// A new offending pod right after a burst of updates to the node's other pods: how long until
// the agent has the finding and serves it on /api/v1/findings (issue 16, point 3). The updates
// change only what a kubelet's status heartbeat changes (a condition's lastProbeTime), so none
// of them can change a finding; the offending pod must not wait behind them. Run on the
// instrumented agent (section 2) or on the build, seen from outside (section 3).
import type { AgentProcess, InstrumentedAgent, NodeEnvironment } from './environment.ts';
import { sampleProcess } from './proc.ts';
import type { PodModel } from './scenario.ts';
import { podObject } from './scenario.ts';
import { sleep, waitFor } from './teardown.ts';

const RULE = 'unauthorized-cached-image-use';
const TIMEOUT_MS = 15_000;
/** Rest after each run, so that the burst's aftermath (a cache listing, the reconciles) ends. */
const REST_MS = 3000;

export interface ChurnLatencyRun {
  /** Pod updates sent right before the offending pod (0: a quiet agent). */
  readonly updates: number;
  /** From just before the pod is created to the agent's "finding detected" line (ms). */
  readonly detectedMs: number | undefined;
  /** From just before the pod is created to the first /api/v1/findings answer holding it (ms). */
  readonly servedMs: number | undefined;
  /** The agent's CPU from the first update to the finding served (ms). */
  readonly agentCpuMs: number;
}

/** Status-only updates (a Ready condition's lastProbeTime), round-robin over the node's pods. */
function statusUpdates(env: NodeEnvironment, count: number, round: number): void {
  const pods = env.scenario.pods;
  for (let i = 0; i < count; i += 1) {
    const pod = pods[i % pods.length];
    if (pod === undefined) return;
    const probed = new Date(Date.now() + round * 1000 + i).toISOString();
    const modified = env.api.store.modify(
      'pods',
      { namespace: pod.namespace, name: pod.name },
      (obj) => {
        const status = (obj as { status?: Record<string, unknown> }).status ?? {};
        status['conditions'] = [{ type: 'Ready', status: 'True', lastProbeTime: probed }];
        return obj;
      },
    );
    if (!modified.ok) throw new Error(`updating ${pod.name}: ${modified.error.message}`);
  }
}

/** Creates the offending pod and polls /api/v1/findings until it is served. */
async function offendAndAwaitServed(
  env: NodeEnvironment,
  agent: AgentProcess,
  probe: PodModel,
): Promise<{ readonly t0: bigint; readonly servedMs: number | undefined }> {
  const t0 = process.hrtime.bigint();
  const created = env.api.store.create('pods', podObject(probe));
  if (!created.ok) throw new Error(`creating ${probe.name}: ${created.error.message}`);
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await serves(agent, probe)) {
      return { t0, servedMs: Number(process.hrtime.bigint() - t0) / 1e6 };
    }
  }
  return { t0, servedMs: undefined };
}

async function serves(agent: AgentProcess, probe: PodModel): Promise<boolean> {
  const query = `/api/v1/findings?namespace=${probe.namespace}&rule=${RULE}`;
  const body = await agent.getJson<{ items: { pod: string | null }[] }>(query);
  return body.items.some((f) => f.pod === probe.name);
}

function deleteProbe(env: NodeEnvironment, probe: PodModel): void {
  const deleted = env.api.store.delete('pods', { namespace: probe.namespace, name: probe.name });
  if (!deleted.ok) throw new Error(`deleting ${probe.name}: ${deleted.error.message}`);
}

/**
 * One run: `updates` status updates sent back to back, then the offending `probe` pod created
 * at once; /api/v1/findings is polled until it holds the finding; the pod is deleted and the
 * agent left to rest before the next run.
 */
export async function churnThenOffend(
  env: NodeEnvironment,
  agent: InstrumentedAgent,
  probe: PodModel,
  updates: number,
  round: number,
): Promise<ChurnLatencyRun> {
  const isOurs =
    (type: 'detected' | 'retired') => (e: { type: string; rule: string; pod: string | null }) =>
      e.type === type && e.rule === RULE && e.pod === probe.name;
  const cpuBefore = (await agent.usage(false)).cpuMicros;
  statusUpdates(env, updates, round);
  const { t0, servedMs } = await offendAndAwaitServed(env, agent, probe);
  const agentCpuMs = ((await agent.usage(false)).cpuMicros - cpuBefore) / 1000;
  const detected = await agent.nextEvent(isOurs('detected'), TIMEOUT_MS);
  deleteProbe(env, probe);
  await agent.nextEvent(isOurs('retired'), TIMEOUT_MS);
  await sleep(REST_MS);
  return {
    updates,
    detectedMs: detected === undefined ? undefined : Number(BigInt(detected.at) - t0) / 1e6,
    servedMs,
    agentCpuMs,
  };
}

export interface OutsideChurnRun extends ChurnLatencyRun {
  /**
   * The agent's CPU from the first update until it had retired the offending pod's finding
   * and rested REST_MS (ms): the whole cost of the burst, whatever the agent put off.
   */
  readonly settledCpuMs: number;
}

/**
 * The same run for an agent seen only from outside (the build as deployed, `node
 * dist/agent/cli.js run`): its CPU from /proc/PID/stat (10 ms ticks), the finding's retirement
 * seen on /api/v1/findings; the agent's own "detected" time is not known (detectedMs undefined).
 */
export async function churnThenOffendFromOutside(
  env: NodeEnvironment,
  agent: AgentProcess,
  probe: PodModel,
  updates: number,
  round: number,
): Promise<OutsideChurnRun> {
  const cpuSeconds = async (): Promise<number> => (await sampleProcess(agent.pid)).cpuSeconds;
  const cpuBefore = await cpuSeconds();
  statusUpdates(env, updates, round);
  const { servedMs } = await offendAndAwaitServed(env, agent, probe);
  const agentCpuMs = ((await cpuSeconds()) - cpuBefore) * 1000;
  deleteProbe(env, probe);
  await waitFor(
    `the agent to retire ${probe.name}'s finding`,
    async () => ((await serves(agent, probe)) ? undefined : true),
    TIMEOUT_MS,
    20,
  );
  await sleep(REST_MS);
  const settledCpuMs = ((await cpuSeconds()) - cpuBefore) * 1000;
  return { updates, detectedMs: undefined, servedMs, agentCpuMs, settledCpuMs };
}

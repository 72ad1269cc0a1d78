// 7. API server writes of the agent's reports and Events (issue 13): the real agent as a
// process, on the embedded runtime and the in-process API server serving the report CRDs from
// ../shared, under its own bound token; every write it makes is counted from the API server's
// request log, by object. Steady state is a node whose findings stand while its pods keep
// changing status; the burst is 1,000 pod events (flagged pods starting from the cache and
// going, status changes of the standing ones) paced at 20 a second.
import type { BenchContext, Benchmark, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { fmt } from './lib/stats.ts';
import { sleep, Teardowns, waitFor } from './lib/teardown.ts';
import type { StatusJson } from '../agent/http/representation.ts';
import type { AgentProcess } from '../test/helpers/agent-process.ts';
import { flagAdmin2, NODE, seed } from '../test/helpers/embedded-story.ts';
import { issueBoundToken } from '../test/kit/bound-tokens.ts';
import type { RequestRecord } from '../test/kit/embedded/handlers.ts';
import type { EmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import { openReportsCrdsPresent, reportCrds } from '../test/kit/report-crds.ts';

const NODES = 5000;
const NAMESPACES = ['team-1', 'team-2', 'team-3', 'team-4', 'team-5'];
const STANDING_PER_NAMESPACE = 6;
const BURST_EVENTS = 1000;
const EVENTS_PER_SECOND = 20;
/** The agent's default --report-write-interval. */
const WRITE_INTERVAL_S = 5;
const AGENT = { namespace: 'pullwatch', serviceAccount: 'pullwatch-agent', pod: 'agent-bench' };
const AGENT_USER = `system:serviceaccount:${AGENT.namespace}:${AGENT.serviceAccount}`;
const WRITES = new Set(['create', 'update', 'patch', 'delete']);

interface Writes {
  readonly reports: number;
  readonly events: number;
  /** Writes per report object (path). */
  readonly perObject: ReadonlyMap<string, number>;
  readonly byVerb: Readonly<Record<string, number>>;
}

function writesIn(log: readonly RequestRecord[]): Writes {
  const mine = log.filter((r) => r.user === AGENT_USER && WRITES.has(r.verb));
  const reports = mine.filter((r) => r.group === 'openreports.io');
  const events = mine.filter((r) => r.group === 'events.k8s.io');
  const perObject = new Map<string, number>();
  for (const r of reports) perObject.set(r.path, (perObject.get(r.path) ?? 0) + 1);
  const byVerb: Record<string, number> = {};
  for (const r of mine) {
    const key = `${r.group === 'events.k8s.io' ? 'Event' : r.resource} ${r.verb}`;
    byVerb[key] = (byVerb[key] ?? 0) + 1;
  }
  return { reports: reports.length, events: events.length, perObject, byVerb };
}

/** The agent's report writer once it holds `objects` and has nothing left to write. */
function inStep(agent: AgentProcess, objects?: number): Promise<StatusJson> {
  return waitFor(
    'the reports to be in step',
    async () => {
      const { body } = await agent.getJson<StatusJson>('/api/v1/status');
      const r = body.reports;
      const held = objects === undefined || r?.objects === objects;
      return r?.state === 'writing' && r.pending === 0 && held ? body : undefined;
    },
    60_000,
  );
}

function annotate(api: EmbeddedApiServer, ref: { namespace: string; name: string }, tick: number) {
  api.store.modify('pods', ref, (pod) => ({
    ...pod,
    metadata: { ...pod.metadata, annotations: { 'bench.pullwatch.dev/tick': String(tick) } },
  }));
}

async function measure(context: BenchContext, teardowns: Teardowns) {
  const s = await seed(teardowns, 'bench-reports', {
    customResourceDefinitions: await reportCrds(),
  });
  const { api } = s;
  for (const name of ['pullwatch', ...NAMESPACES])
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  const agent = await s.start({
    name: 'pullwatch-bench-reports',
    stateDir: 'state',
    token: issueBoundToken(api, { ...AGENT, node: NODE }),
  });
  context.log('playing the seed story, then standing findings in 5 namespaces');
  await flagAdmin2(s, agent);
  const standing = NAMESPACES.flatMap((namespace) =>
    Array.from({ length: STANDING_PER_NAMESPACE }, (_, i) => ({ namespace, name: `app-${i}` })),
  );
  for (const pod of standing) s.story.runFromCache(pod.namespace, pod.name);
  // tenant-b's Report, one per team namespace, and the ClusterReport.
  const objects = 1 + NAMESPACES.length + 1;
  await inStep(agent, objects);
  await sleep(WRITE_INTERVAL_S * 1000 + 500);
  await inStep(agent, objects);

  const steadySeconds = context.quick ? 20 : 60;
  context.log(`steady state: ${steadySeconds} s of status changes, no finding changing`);
  api.clearRequestLog();
  const steadyStart = Date.now();
  let tick = 0;
  while (Date.now() - steadyStart < steadySeconds * 1000) {
    const pod = standing[tick % standing.length];
    if (pod !== undefined) annotate(api, pod, tick);
    tick += 1;
    await sleep(1000);
  }
  const steady = writesIn(api.requestLog);
  const steadyPodEvents = tick;

  context.log(`burst: ${BURST_EVENTS} pod events at ${EVENTS_PER_SECOND}/s`);
  api.clearRequestLog();
  const burstStart = Date.now();
  // 200 flagged pods start from the cache (2 events each) and go (1 each): 600 events; the
  // other 400 are status changes of the standing pods.
  const comers = Array.from({ length: 200 }, (_, i) => ({
    namespace: NAMESPACES[i % NAMESPACES.length] ?? 'team-1',
    name: `burst-${i}`,
  }));
  let sent = 0;
  const pace = async (events: number) => {
    sent += events;
    const due = burstStart + (sent * 1000) / EVENTS_PER_SECOND;
    await sleep(Math.max(0, due - Date.now()));
  };
  for (let i = 0; i < comers.length; i++) {
    const comer = comers[i];
    if (comer === undefined) continue;
    s.story.runFromCache(comer.namespace, comer.name);
    await pace(2);
    const pod = standing[i % standing.length];
    if (pod !== undefined) annotate(api, pod, tick++);
    await pace(1);
    // Each comer stays about 5 s (100 events), then goes.
    const leaving = comers[i - 33];
    if (leaving !== undefined) {
      api.store.delete('pods', leaving);
      await pace(1);
    }
  }
  for (const leaving of comers.slice(-33)) {
    api.store.delete('pods', leaving);
    await pace(1);
  }
  while (sent < BURST_EVENTS) {
    const pod = standing[sent % standing.length];
    if (pod !== undefined) annotate(api, pod, tick++);
    await pace(1);
  }
  const burstSeconds = (Date.now() - burstStart) / 1000;
  await inStep(agent, objects);
  await sleep(WRITE_INTERVAL_S * 1000 + 500);
  await inStep(agent, objects);
  const burst = writesIn(api.requestLog);
  return { steady, steadySeconds, steadyPodEvents, burst, burstSeconds, podEvents: sent, objects };
}

export const reportsBenchmark: Benchmark = {
  name: 'reports',
  title: '7. API server writes of reports and Events (issue 13)',
  summary:
    'report and Event writes per hour per agent, steady and in 1,000 pod events; 5,000 nodes',
  async run(context) {
    if (!(await openReportsCrdsPresent()))
      throw new Error('the OpenReports CRDs are not in ../shared/reference/openreports');
    const machine = describeMachine();
    const teardowns = new Teardowns();
    try {
      const m = await measure(context, teardowns);
      const perHour = (n: number, seconds: number) => (n * 3600) / seconds;
      const steadyReportsHour = perHour(m.steady.reports, m.steadySeconds);
      const steadyEventsHour = perHour(m.steady.events, m.steadySeconds);
      const maxPerObject = Math.max(0, ...m.burst.perObject.values());
      const bound = Math.ceil(m.burstSeconds / WRITE_INTERVAL_S) + 1;
      const burstTotal = m.burst.reports + m.burst.events;
      const fleet = (n: number) => `${fmt(n * NODES, 0)} (${fmt((n * NODES) / 3600, 1)}/s)`;
      const targets: TargetCheck[] = [
        {
          figure: 'steady state: report and Event writes per hour per agent',
          target: '0 (no finding changes)',
          measured: fmt(steadyReportsHour + steadyEventsHour, 0),
          met: m.steady.reports + m.steady.events === 0,
        },
        {
          figure: `${m.podEvents} pod events: writes per report object`,
          target: `≤ one per ${WRITE_INTERVAL_S} s while it changes (≤ ${bound})`,
          measured: `at most ${maxPerObject}`,
          met: maxPerObject <= bound,
        },
      ];
      const verbs = Object.entries(m.burst.byVerb)
        .sort()
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const body = [
        machineLine(machine),
        '',
        `Method: the real agent (\`pullwatch run\`, default \`--report-write-interval\` ${WRITE_INTERVAL_S}s and Event rate limits) as a process on the embedded runtime, against the in-process API server serving the OpenReports CRDs from \`../shared\`, under a bound token of its own; every write it makes is counted from the API server's request log. The node holds the seed story plus ${STANDING_PER_NAMESPACE} flagged pods in each of ${NAMESPACES.length} namespaces: ${m.objects} report objects (a Report per namespace and the ClusterReport).`,
        '',
        `- **Steady state** (${m.steadySeconds} s, ${m.steadyPodEvents} pod status changes, no finding changing): ${m.steady.reports} report writes and ${m.steady.events} Event writes, so ${fmt(steadyReportsHour, 0)} report and ${fmt(steadyEventsHour, 0)} Event writes per hour per agent. Reports are rewritten only when their content changes (a result's timestamp is its finding's first-seen time), and an Event only when a finding is raised; a restart writes nothing either (test/e2e/reports.test.ts). At ${NODES.toLocaleString('en-US')} nodes: ${fleet(steadyReportsHour + steadyEventsHour)} writes per hour.`,
        `- **${m.podEvents} pod events** in ${fmt(m.burstSeconds, 0)} s (200 flagged pods start from the cache and go again about 5 s later, the rest status changes of standing pods): ${m.burst.reports} report writes (at most ${maxPerObject} to one object; the bound is one per ${WRITE_INTERVAL_S} s while it changes, ${bound}) and ${m.burst.events} Event writes (one create per newly flagged pod, within the agent's rate limit of 5/s after 10); ${verbs}. That is ${fmt(burstTotal / m.podEvents, 2)} writes per pod event, ${fmt((m.burst.reports / m.podEvents) * 1000, 0)} report writes per 1,000 pod events.`,
        `- **At ${NODES.toLocaleString('en-US')} nodes**, if every node saw such a burst within the same hour: ${fleet(burstTotal)} writes that hour (reports ${fleet(m.burst.reports)}, Events ${fleet(m.burst.events)}). Report writes grow with the number of report objects a node's churn touches and the burst's length, not with its pod events: a node's churn is at most one write per object per ${WRITE_INTERVAL_S} s (${fmt(3600 / WRITE_INTERVAL_S, 0)} per object per hour of uninterrupted change); Events grow with newly flagged pods, capped per agent by the rate limit.`,
        '',
        ...targetTable(targets),
      ].join('\n');
      return { body, targets };
    } finally {
      await teardowns.run();
    }
  },
};

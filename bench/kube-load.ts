// 5. Load on the Kubernetes API server: the requests one agent makes per hour in steady state,
// counted from the embedded API server's requestLog, and what that costs at 5,000 nodes.
//
// Steady state is shaped by timers of minutes (watch timeouts of 300 s + up to 60 s, pull secret
// refreshes every 24-30 min), which a window of a few minutes barely sees. So the agent's API-facing
// part (agent/kube/kube-source.ts, started exactly as agent/main.ts starts it) also runs with
// every one of those timers divided by TIME_SCALE, against an API server whose bookmark interval
// is divided likewise: one real minute of it covers TIME_SCALE minutes of the agent's life.
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { KubeConfig } from '@kubernetes/client-node';
import { startEmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import type { EmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import { startKubeSource } from '../agent/kube/kube-source.ts';
import { DEFAULT_SECRET_TTL_MS, SECRET_TTL_JITTER } from '../agent/kube/pull-secrets.ts';
import { createFingerprintKey } from '../agent/credentials/credential-identity.ts';
import type { KubeWindow } from './footprint.ts';
import { kubeWindowOf } from './footprint.ts';
import { KUBE_WINDOW } from './footprint.ts';
import type { BenchContext, Benchmark, TargetCheck } from './lib/benchmark.ts';
import { startCliAgent, startNodeEnvironment, waitForFindings } from './lib/environment.ts';
import { populateApiServer } from './lib/environment.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import type { PodModel, Scenario } from './lib/scenario.ts';
import { sharedBenchNode, NODE, podObject } from './lib/scenario.ts';
import { fmt } from './lib/stats.ts';
import { sleep, Teardowns, waitFor } from './lib/teardown.ts';

const TIME_SCALE = 20;
const NODES = 5000;
const CHURN_PODS = 40;

// The agent's defaults (agent/kube/list-watch.ts, pull-secrets.ts, pod-events.ts).
const WATCH_TIMEOUT_S = 300;
const WATCH_JITTER_S = 60;
const SECRET_TTL_S = DEFAULT_SECRET_TTL_MS / 1000;
// A refresh falls due U((1 - jitter) × TTL, TTL) after the last read and is made at the next
// refresh tick (a sixtieth of the TTL, at most 30 s).
const SECRET_TICK_S = Math.min(30, SECRET_TTL_S / 60);
const SECRET_PERIOD_S = SECRET_TTL_S * (1 - SECRET_TTL_JITTER / 2) + SECRET_TICK_S / 2;

const CLASSES = [
  'list pods',
  'watch pods',
  'list namespaces',
  'watch namespaces',
  'get secret',
  'list events',
  'other',
] as const;
type RequestClass = (typeof CLASSES)[number];

function classify(r: {
  readonly method: string;
  readonly path: string;
  readonly watch: boolean;
}): RequestClass {
  if (r.path === '/api/v1/pods') return r.watch ? 'watch pods' : 'list pods';
  if (r.path === '/api/v1/namespaces') return r.watch ? 'watch namespaces' : 'list namespaces';
  if (r.method === 'GET' && /^\/api\/v1\/namespaces\/[^/]+\/secrets\/[^/]+$/.test(r.path))
    return 'get secret';
  if (r.method === 'GET' && /^\/api\/v1\/namespaces\/[^/]+\/events$/.test(r.path))
    return 'list events';
  return 'other';
}

function count(
  requests: readonly { readonly method: string; readonly path: string; readonly watch: boolean }[],
): Record<RequestClass, number> {
  const out = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<RequestClass, number>;
  for (const r of requests) out[classify(r)] += 1;
  return out;
}

const total = (c: Record<RequestClass, number>): number =>
  CLASSES.reduce((sum, k) => sum + c[k], 0);

function pulledEvent(pod: PodModel, container: string, image: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { namespace: pod.namespace, name: `${pod.name}.${container}.pulled` },
    involvedObject: {
      kind: 'Pod',
      apiVersion: 'v1',
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      fieldPath: `spec.${container === 'init' ? 'initContainers' : 'containers'}{${container}}`,
    },
    reason: 'Pulled',
    message: `Container image "${image}" already present on machine`,
    source: { component: 'kubelet', host: NODE },
    type: 'Normal',
  };
}

type LoggedRequest = {
  readonly method: string;
  readonly path: string;
  readonly watch: boolean;
  readonly startedAt: number;
};

/**
 * Requests per hour of agent time by class, from the mean interval between successive requests
 * for the same thing (one watch resource, one secret): unlike a count in a window, this does
 * not depend on where the window's edges fall within the periods.
 */
function ratesFromIntervals(
  requests: readonly LoggedRequest[],
  timeScale: number,
): Record<RequestClass, number> {
  const byKey = new Map<string, { cls: RequestClass; times: number[] }>();
  for (const r of requests) {
    const cls = classify(r);
    const key = cls === 'get secret' ? r.path : cls;
    const entry = byKey.get(key) ?? { cls, times: [] };
    entry.times.push(r.startedAt);
    byKey.set(key, entry);
  }
  const out = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<RequestClass, number>;
  for (const { cls, times } of byKey.values()) {
    if (times.length < 2) continue;
    times.sort((a, b) => a - b);
    const meanIntervalMs = ((times[times.length - 1] ?? 0) - (times[0] ?? 0)) / (times.length - 1);
    if (meanIntervalMs > 0) out[cls] += 3_600_000 / (meanIntervalMs * timeScale);
  }
  return out;
}

/** Counts TCP connections this process opens (the kube source runs in it in the ×N run). */
function connectionCounter(): { count(): number; stop(): void } {
  let opened = 0;
  const onSocket = (): void => {
    opened += 1;
  };
  diagnosticsChannel.subscribe('net.client.socket', onSocket);
  return {
    count: () => opened,
    stop: () => {
      diagnosticsChannel.unsubscribe('net.client.socket', onSocket);
    },
  };
}

interface Compressed {
  readonly startup: Record<RequestClass, number>;
  readonly quiet: Record<RequestClass, number>;
  readonly quietRates: Record<RequestClass, number>;
  /** New TCP connections to the API server during the quiet window and the churn. */
  readonly quietConnections: number;
  readonly churnConnections: number;
  readonly quietAgentSeconds: number;
  readonly churn: Record<RequestClass, number>;
  readonly churnAgentSeconds: number;
  readonly withEvents: number;
  readonly withoutEvents: number;
  readonly eventListsWith: number;
  readonly eventListsWithout: number;
  readonly secretGetsPerStart: number;
  readonly secretsPerProbe: number;
  readonly secretsReferenced: number;
}

async function compressedRun(
  context: BenchContext,
  scenario: Scenario,
  teardowns: Teardowns,
): Promise<Compressed> {
  const api: EmbeddedApiServer = await startEmbeddedApiServer({
    bookmarkIntervalMs: 60_000 / TIME_SCALE,
    historySize: 20_000,
  });
  teardowns.teardown(() => api.stop());
  populateApiServer(api, scenario);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeconfigYaml());
  const key = createFingerprintKey(randomBytes(32));
  if (!key.ok) throw new Error(key.error);
  const source = startKubeSource({
    kubeConfig,
    nodeName: NODE,
    fingerprintKey: key.value,
    listWatch: {
      watchTimeoutSeconds: WATCH_TIMEOUT_S / TIME_SCALE,
      watchTimeoutJitterSeconds: WATCH_JITTER_S / TIME_SCALE,
      idleTimeoutMs: 150_000 / TIME_SCALE,
    },
    secretTtlMs: (SECRET_TTL_S * 1000) / TIME_SCALE,
    secretMinRefetchMs: 10_000 / TIME_SCALE,
    eventRetryDelaysMs: [5000 / TIME_SCALE, 30_000 / TIME_SCALE],
  });
  teardowns.teardown(() => source.stop());
  const secretsReferenced = new Set(
    scenario.pods.flatMap((p) => p.pullSecrets.map((s) => `${p.namespace}/${s}`)),
  ).size;
  await waitFor(
    'the kube source to sync',
    () => {
      const s = source.status();
      return s.pods.synced && s.namespaces.synced && source.secrets().size >= secretsReferenced
        ? true
        : undefined;
    },
    60_000,
  );
  await sleep(2000);
  const startup = count(api.requestLog);

  // Long enough for every secret to be refreshed twice (one interval each).
  const quietSeconds = Math.max(
    context.quick ? 60 : 120,
    Math.ceil((2 * SECRET_TTL_S) / TIME_SCALE + 10),
  );
  context.log(`kube-load: quiet window of ${quietSeconds} s at ×${TIME_SCALE}`);
  api.clearRequestLog();
  let connections = connectionCounter();
  let started = performance.now();
  await sleep(quietSeconds * 1000);
  const quietConnections = connections.count();
  connections.stop();
  const quiet = count(api.requestLog);
  const quietRates = ratesFromIntervals(api.requestLog, TIME_SCALE);
  const quietAgentSeconds = ((performance.now() - started) / 1000) * TIME_SCALE;

  context.log(`kube-load: ${CHURN_PODS} pod starts at ×${TIME_SCALE}`);
  api.clearRequestLog();
  connections = connectionCounter();
  started = performance.now();
  const probes: PodModel[] = [];
  const withEvents = CHURN_PODS / 2;
  for (let i = 0; i < CHURN_PODS; i += 1) {
    const probe = { ...scenario.probePod(10_000 + i), uid: `uid-kube-load-${i}` };
    probes.push(probe);
    if (i < withEvents) {
      // The kubelet's Pulled events are already there: one query answers the pod.
      for (const c of probe.containers) {
        const created = api.store.create('events', pulledEvent(probe, c.name, c.image));
        if (!created.ok) throw new Error(created.error.message);
      }
    }
    const created = api.store.create('pods', podObject(probe));
    if (!created.ok) throw new Error(created.error.message);
    // Pods start more than the secret re-read floor (10 s, scaled) apart.
    await sleep(15_000 / TIME_SCALE);
  }
  // Let the event retries (5 s and 30 s, scaled) run out before the pods go.
  await sleep(45_000 / TIME_SCALE);
  for (const probe of probes) {
    api.store.delete('pods', { namespace: probe.namespace, name: probe.name });
  }
  await sleep(1000);
  const churnConnections = connections.count();
  connections.stop();
  const churnRequests = [...api.requestLog];
  const churnAgentSeconds = ((performance.now() - started) / 1000) * TIME_SCALE;
  const eventLists = (group: readonly PodModel[]) =>
    churnRequests.filter(
      (r) =>
        classify(r) === 'list events' &&
        group.some((p) => r.query.fieldSelector?.includes(`involvedObject.uid=${p.uid},`) === true),
    ).length;
  // Each start re-reads the pod's pull secrets (older than the 10 s floor), which also pushes
  // their TTL refresh back: every GET of those secrets during the churn is due to a start.
  const probeSecrets = new Set(
    probes.flatMap((p) =>
      p.pullSecrets.map((name) => `/api/v1/namespaces/${p.namespace}/secrets/${name}`),
    ),
  );
  const probeSecretGets = churnRequests.filter(
    (r) => classify(r) === 'get secret' && probeSecrets.has(r.path),
  ).length;
  return {
    startup,
    quiet,
    quietRates,
    quietConnections,
    churnConnections,
    quietAgentSeconds,
    churn: count(churnRequests),
    churnAgentSeconds,
    withEvents,
    withoutEvents: CHURN_PODS - withEvents,
    eventListsWith: eventLists(probes.slice(0, withEvents)),
    eventListsWithout: eventLists(probes.slice(withEvents)),
    secretGetsPerStart: probeSecretGets / CHURN_PODS,
    secretsPerProbe: probes[0]?.pullSecrets.length ?? 0,
    secretsReferenced,
  };
}

async function realTimeWindow(
  context: BenchContext,
  scenario: Scenario,
  teardowns: Teardowns,
): Promise<KubeWindow> {
  const shared = context.shared.get(KUBE_WINDOW) as KubeWindow | undefined;
  if (shared !== undefined) return shared;
  const seconds = 60;
  context.log(`kube-load: real-time window of ${seconds} s with pullwatch run`);
  const env = await startNodeEnvironment(teardowns, scenario);
  const agent = await startCliAgent(teardowns, env);
  await waitForFindings(agent, scenario.expectedFindings);
  await sleep(5000);
  env.api.clearRequestLog();
  const started = performance.now();
  await sleep(seconds * 1000);
  const window = kubeWindowOf(
    env,
    scenario,
    (performance.now() - started) / 1000,
    (started - agent.spawnedAt) / 1000,
  );
  await agent.stop();
  return window;
}

export const kubeLoadBenchmark: Benchmark = {
  name: 'kube-load',
  title: '5. Load on the Kubernetes API server',
  summary: 'requests per hour per agent from the API server requestLog; cost at 5,000 nodes',
  async run(context) {
    const machine = describeMachine();
    const scenario = sharedBenchNode();
    const teardowns = new Teardowns();
    try {
      const real = await realTimeWindow(context, scenario, teardowns);
      const compressed = await compressedRun(context, scenario, teardowns);
      const realCounts = count(real.requests);
      const q = compressed.quiet;
      const hourly = compressed.quietRates;
      const hourlyTotal = total(hourly);
      // Design: a watch per resource every 300 + U(0..60) s; each referenced secret every
      // SECRET_PERIOD_S; no list, no event query without a pod change.
      const S = compressed.secretsReferenced;
      const designWatches = 2 * (3600 / (WATCH_TIMEOUT_S + WATCH_JITTER_S / 2));
      const designSecrets = S * (3600 / SECRET_PERIOD_S);
      const designTotal = designWatches + designSecrets;
      const secretGetsPerStart = compressed.secretGetsPerStart;
      const perStartWith = compressed.eventListsWith / compressed.withEvents;
      const perStartWithout = compressed.eventListsWithout / compressed.withoutEvents;
      const exampleStarts = 20;
      const churnPerHour = exampleStarts * (perStartWith + secretGetsPerStart);
      const fleet = (perAgentHour: number) =>
        `${fmt((perAgentHour * NODES) / 1e6, 2)} M/h = ${fmt((perAgentHour * NODES) / 3600, 0)} req/s`;
      const startupTotal = total(compressed.startup);

      const targets: TargetCheck[] = [];
      const body = [
        `Measured ${machineLine(machine)}. **Embedded API server** (test/kit/embedded/kube-apiserver.ts) and its \`requestLog\`; no container runtime involved (the agent's API server traffic comes only from agent/kube/kube-source.ts; with \`--auth kubernetes\` each distinct scraper token adds a TokenReview and SubjectAccessReview, cached, not counted here).`,
        '',
        `**Node:** ${scenario.pods.length} pods, ${S} distinct pull secrets referenced by them, ${scenario.namespaces.size} namespaces (${scenario.describe()}).`,
        '',
        '**Per agent, by kind of request:**',
        '',
        `| request | real time: \`pullwatch run\`, ${fmt(real.seconds, 0)} s idle window | ×${TIME_SCALE} time: count in ${fmt(compressed.quietAgentSeconds / 60, 0)} agent-minutes (${fmt(compressed.quietAgentSeconds / TIME_SCALE, 0)} s) | per hour (×${TIME_SCALE}, from the mean interval per watch / secret) | design, per hour | at agent start (×${TIME_SCALE} run) |`,
        '| --- | ---: | ---: | ---: | ---: | ---: |',
        ...CLASSES.map(
          (c) =>
            `| ${c} | ${realCounts[c]} | ${q[c]} | ${fmt(hourly[c], 1)} | ${c === 'watch pods' || c === 'watch namespaces' ? fmt(designWatches / 2, 1) : c === 'get secret' ? fmt(designSecrets, 1) : '0'} | ${compressed.startup[c]} |`,
        ),
        `| **total** | **${total(realCounts)}** | **${total(q)}** | **${fmt(hourlyTotal, 1)}** | **${fmt(designTotal, 1)}** | **${startupTotal}** |`,
        '',
        `- **Real time**: \`node agent/cli.ts run\` with the default timers, ${fmt(real.seconds, 0)} s without pod changes, from ${fmt(real.startedAfterAgentSeconds, 0)} s to ${fmt(real.startedAfterAgentSeconds + real.seconds, 0)} s after the agent started (${context.shared.has(KUBE_WINDOW) ? "the footprint benchmark's idle window of this run" : 'a window of its own'}); ${real.openWatches} watches open at its end. The first watch ends 300–360 s and secret refreshes fall due ${fmt(SECRET_TTL_S * (1 - SECRET_TTL_JITTER), 0)}–${fmt(SECRET_TTL_S, 0)} s after the start, so a window of a few minutes may see none of them, which is why the ×${TIME_SCALE} run exists.`,
        `- **×${TIME_SCALE} time**: \`startKubeSource\` with watch timeout ${WATCH_TIMEOUT_S / TIME_SCALE} s + up to ${WATCH_JITTER_S / TIME_SCALE} s, idle timeout, secret TTL, secret re-read floor and event retry delays all divided by ${TIME_SCALE}; the API server sends BOOKMARKs every ${60 / TIME_SCALE} s (kube-apiserver: about once a minute). Per hour = Σ over each watched resource and each secret of 3600 s / (mean interval between its requests × ${TIME_SCALE}); the secret cache's refresh tick scales with the TTL (a sixtieth of it). No LIST after the start: watches resume from their last resourceVersion and bookmarks keep it fresh, so no 410 occurred.`,
        `- **Design**: one watch per resource per ${WATCH_TIMEOUT_S}+U(0..${WATCH_JITTER_S}) s (mean ${WATCH_TIMEOUT_S + WATCH_JITTER_S / 2} s: ${fmt(designWatches / 2, 1)}/h each), each pull secret a running pod references re-read every ${fmt(SECRET_PERIOD_S, 0)} s on average (due U(${fmt(SECRET_TTL_S * (1 - SECRET_TTL_JITTER), 0)}..${fmt(SECRET_TTL_S, 0)}) s after the last read, made at the next ${SECRET_TICK_S} s refresh tick: ${fmt(3600 / SECRET_PERIOD_S, 2)}/h each, × ${S} secrets), event queries only when a pod starts.`,
        `- **At agent start** (the ×${TIME_SCALE} run, pods running for an hour, so no event retries): one LIST per resource, one GET per referenced secret, one event query per pod with a container that may use the cache.`,
        '',
        `**Per pod start** (${CHURN_PODS} pods of the scenario's probe kind started 15 s apart, scaled): ${fmt(perStartWith, 2)} event queries when the kubelet's Pulled events are already there (${compressed.withEvents} pods), ${fmt(perStartWithout, 2)} when they are not yet (${compressed.withoutEvents} pods; retried after 5 s and 30 s); ${fmt(secretGetsPerStart, 2)} secret GETs for its ${compressed.secretsPerProbe} pull secret(s) (re-read when older than 10 s).`,
        '',
        `**Connections:** the ×${TIME_SCALE} run opened ${compressed.quietConnections} new TCP connections to the API server for ${total(q)} requests in the quiet window and ${compressed.churnConnections} for ${total(compressed.churn)} requests during the pod starts (counted on \`net.client.socket\`). Every request goes through agent/kube/kube-http.ts over one keep-alive pool per API server (agent/kube/connections.ts: at most 16 sockets, idle ones closed after 15 s)${compressed.quietConnections >= q['get secret'] ? ', yet each secret GET was a new connection (with TLS, a new handshake)' : ''}.`,
        '',
        `**At ${NODES.toLocaleString('en-US')} nodes** (one agent each, this node's shape):`,
        '',
        '| | per agent per hour | all agents |',
        '| --- | ---: | ---: |',
        `| quiet steady state, measured (×${TIME_SCALE}) | ${fmt(hourlyTotal, 1)} | ${fleet(hourlyTotal)} |`,
        `| … of which watch requests | ${fmt(hourly['watch pods'] + hourly['watch namespaces'], 1)} | ${fleet(hourly['watch pods'] + hourly['watch namespaces'])} |`,
        `| … of which secret GETs (${S} secrets) | ${fmt(hourly['get secret'], 1)} | ${fleet(hourly['get secret'])} |`,
        `| design (formula above) | ${fmt(designTotal, 1)} | ${fleet(designTotal)} |`,
        `| + ${exampleStarts} pod starts per node per hour (with events) | ${fmt(churnPerHour, 1)} | ${fleet(churnPerHour)} |`,
        `| one rolling restart of the DaemonSet (start cost once) | ${startupTotal} | ${fmt((startupTotal * NODES) / 1e6, 2)} M requests in total |`,
        '',
        `Long-running watches held open: 2 per agent = ${(2 * NODES).toLocaleString('en-US')} at ${NODES.toLocaleString('en-US')} nodes. The pods watch is narrowed by \`spec.nodeName\` (indexed in the apiserver's watch cache); the namespaces watch is cluster-wide, so every namespace change is sent to all ${NODES.toLocaleString('en-US')} agents. No benchmark target was set for this figure.`,
      ].join('\n');
      return { body, targets };
    } finally {
      await teardowns.run();
    }
  },
};

// 6. The controller under its cluster: `pullwatch controller` as a separate process answering
// thousands of simulated agents (bench/lib/broker-load.ts, in a worker thread) during a cold
// start of all of them, then in steady state; the embedded API server holds every node's pods,
// the tenants' pull secrets and one bound token per agent, and two real docker-registry
// processes (one private with htpasswd, one public) answer the controller's probes through
// counting proxies. Registry load for the whole cluster is then worked out from the same
// placement, with the controller and with --secrets-from direct.
//
// PULLWATCH_BENCH_CONTROLLER_NODES overrides the number of simulated nodes (default 5,000;
// 500 with --quick).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFingerprintKey } from '../agent/credentials/credential-identity.ts';
import { REGISTRY_ANSWER_REFRESH_MS } from '../agent/core/registry-questions.ts';
import { DEFAULT_SECRET_TTL_MS, SECRET_TTL_JITTER } from '../agent/kube/pull-secrets.ts';
import { secretViewFromObject } from '../agent/kube/secret-view.ts';
import { MAX_QUESTIONS_PER_CALL } from '../agent/broker/wire.ts';
import { loadControllerConfig } from '../agent/controller/config.ts';
import { CONTROLLER_ANSWER_TTL_JITTER } from '../agent/controller/main.ts';
import { DEFAULT_ANSWER_TTL_MS, VisibilityResolver } from '../agent/registry/visibility.ts';
import { issueBoundToken } from '../test/kit/bound-tokens.ts';
import type { EmbeddedApiServer, RequestRecord } from '../test/kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import { dockerConfigSecret } from '../test/kit/embedded/kubelet-pods.ts';
import { controllerArgs } from '../test/helpers/controller-process.ts';
import { freePort } from '../test/helpers/ports.ts';
import { startProcess } from '../test/helpers/process.ts';
import type { ManagedProcess } from '../test/helpers/process.ts';
import { findTool } from '../test/helpers/real-parts.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { selfSignedCertificate } from '../test/helpers/tls.ts';
import type { Benchmark, BenchContext, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import type { AgentSpec, CallKind, KindReport, PhaseReport } from './lib/broker-load.ts';
import { CALL_KINDS, startLoadWorker } from './lib/broker-load.ts';
import type { ClusterShape, NodePlan, ProbeCosts, RegistryLoad } from './lib/controller-cluster.ts';
import {
  clusterShape,
  DAEMONSET_NAMESPACE,
  nodePlan,
  podsPerNode,
  PULL_SECRET,
  registryLoad,
  tenantNamespace,
} from './lib/controller-cluster.ts';
import type { CountingProxy } from './lib/counting-proxy.ts';
import { startCountingProxy } from './lib/counting-proxy.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import type { ProcSample } from './lib/proc.ts';
import { MiB, sampleProcess } from './lib/proc.ts';
import { seedRepositories } from './lib/registry-seed.ts';
import { fmt, percentile, summarize } from './lib/stats.ts';
import { sleep, Teardowns, waitFor } from './lib/teardown.ts';

const NAMESPACE = 'pullwatch';
const AGENT_ACCOUNT = 'pullwatch-agent';
const CONTROLLER_ACCOUNT = 'pullwatch-controller';
const CONTROLLER_USER = `system:serviceaccount:${NAMESPACE}:${CONTROLLER_ACCOUNT}`;
const AUDIENCE = 'pullwatch-controller';
const TARGET_RATIO_AT_100 = 50;
/** The controller's settings as the run leaves them: every default. */
const CONTROLLER_DEFAULTS = (() => {
  const loaded = loadControllerConfig([], {});
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.value;
})();
/**
 * A definite answer's mean lifetime: the controller's TTL less half its jitter (taken
 * uniformly), and a direct-mode agent's 1 h.
 */
const LIFETIMES = {
  controllerMs: CONTROLLER_DEFAULTS['registry-answer-ttl'] * (1 - CONTROLLER_ANSWER_TTL_JITTER / 2),
  directMs: DEFAULT_ANSWER_TTL_MS,
};
/** What the load generator keeps on the wire at most. */
const MAX_IN_FLIGHT = 200;
/** agent/broker/client.ts: its HTTPS pool (maxSockets 4) and its bound on one call. */
const SOCKETS_PER_AGENT = 4;
const CALL_TIMEOUT_MS = 10_000;
/** agent/kube/pull-secrets.ts: a transient failure is retried after 30 s. */
const SECRET_RETRY_MS = 30_000;
/**
 * An agent asks its registry questions again 10 min after the last answer, at the next walk of
 * its cache names (every 60 s): on average 30 s later.
 */
const REGISTRY_PERIOD_MS = REGISTRY_ANSWER_REFRESH_MS + 30_000;
/**
 * A pull secret is read again U((1 - jitter) × TTL, TTL) after the last read, at the next
 * refresh tick (a sixtieth of the TTL, at most 30 s): on average 1,635 s at the defaults.
 */
const SECRET_TICK_MS = Math.min(30_000, DEFAULT_SECRET_TTL_MS / 60);
const SECRET_PERIOD_MS = DEFAULT_SECRET_TTL_MS * (1 - SECRET_TTL_JITTER / 2) + SECRET_TICK_MS / 2;

// ---------------------------------------------------------------------------------------------
// The cluster in the API server and the registries

interface Registries {
  readonly privateProxy: CountingProxy;
  readonly publicProxy: CountingProxy;
  readonly digest: string;
  readonly tenantPassword: (tenant: number) => string;
  readonly seedSeconds: number;
}

async function startRegistries(teardowns: Teardowns, shape: ClusterShape): Promise<Registries> {
  const admin = { username: 'seeder', password: randomBytes(12).toString('hex') };
  const passwords = Array.from({ length: shape.tenants }, () => randomBytes(12).toString('hex'));
  const users: Record<string, string> = { [admin.username]: admin.password };
  passwords.forEach((p, t) => (users[tenantNamespace(t)] = p));
  const privateRegistry = await startRegistry(teardowns, { users, readyTimeoutMs: 60_000 });
  const publicRegistry = await startRegistry(teardowns);
  const started = performance.now();
  const privateRepos: string[] = [];
  for (let t = 0; t < shape.tenants; t += 1)
    for (let a = 0; a < shape.appsPerTenant; a += 1)
      privateRepos.push(`${tenantNamespace(t)}/app-${String(a).padStart(2, '0')}`);
  const digest = await seedRepositories(privateRepos, {
    url: privateRegistry.url,
    credentials: admin,
  });
  const publicDigest = await seedRepositories(
    nodePlan(shape, 0).daemonSets.map((r) => r),
    { url: publicRegistry.url },
  );
  if (publicDigest !== digest) throw new Error('the seeded images differ');
  const seedSeconds = (performance.now() - started) / 1000;
  const privateProxy = await startCountingProxy(privateRegistry.url);
  teardowns.teardown(() => privateProxy.stop());
  const publicProxy = await startCountingProxy(publicRegistry.url);
  teardowns.teardown(() => publicProxy.stop());
  return {
    privateProxy,
    publicProxy,
    digest,
    tenantPassword: (t) => passwords[t] ?? '',
    seedSeconds,
  };
}

/** Registry requests one probe costs, with the resolver the controller runs (real registries). */
async function measureProbeCosts(registries: Registries): Promise<ProbeCosts> {
  const resolver = new VisibilityResolver({});
  const { privateProxy, publicProxy, digest } = registries;
  const counted = async (work: () => Promise<string>, expected: string): Promise<number> => {
    privateProxy.reset();
    publicProxy.reset();
    const answer = await work();
    if (answer !== expected)
      throw new Error(`calibration probe answered ${answer}, expected ${expected}`);
    return privateProxy.total() + publicProxy.total();
  };
  const key = createFingerprintKey(randomBytes(32));
  if (!key.ok) throw new Error(key.error);
  const ns = tenantNamespace(0);
  const view = secretViewFromObject(
    { namespace: ns, name: PULL_SECRET },
    dockerConfigSecret(ns, PULL_SECRET, privateProxy.host, {
      username: ns,
      password: registries.tenantPassword(0),
    }),
    key.value,
  );
  const check = view.state === 'ok' ? view.credentials[0]?.check : undefined;
  if (check?.via !== 'self') throw new Error('the calibration secret gave no credential check');
  const costs = {
    publicVisibility: await counted(
      async () =>
        (await resolver.repositoryVisibility(`${publicProxy.host}/platform/ds-0`, digest))
          .visibility,
      'public',
    ),
    privateVisibility: await counted(
      async () =>
        (await resolver.repositoryVisibility(`${privateProxy.host}/${ns}/app-00`, digest))
          .visibility,
      'private',
    ),
    verdict: await counted(
      () =>
        resolver.verifyCredential(check.authorization, `${privateProxy.host}/${ns}/app-00`, digest),
      'can-read',
    ),
  };
  privateProxy.reset();
  publicProxy.reset();
  return costs;
}

function populate(
  api: EmbeddedApiServer,
  shape: ClusterShape,
  plans: readonly NodePlan[],
  registries: Registries,
): void {
  const must = (r: { ok: boolean; error?: { message: string } }, what: string): void => {
    if (!r.ok) throw new Error(`${what}: ${r.error?.message ?? 'refused'}`);
  };
  must(
    api.store.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NAMESPACE },
    }),
    'namespace',
  );
  for (let t = 0; t < shape.tenants; t += 1) {
    const ns = tenantNamespace(t);
    must(
      api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
      }),
      ns,
    );
    must(
      api.store.create(
        'secrets',
        dockerConfigSecret(ns, PULL_SECRET, registries.privateProxy.host, {
          username: ns,
          password: registries.tenantPassword(t),
        }),
      ),
      `${ns}/${PULL_SECRET}`,
    );
  }
  // Minimal pods: what the controller's pod index reads (node, pull secrets) and one container.
  const pod = (namespace: string, name: string, node: string, image: string, secret: boolean) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: {
      nodeName: node,
      ...(secret ? { imagePullSecrets: [{ name: PULL_SECRET }] } : {}),
      containers: [{ name: 'app', image }],
    },
  });
  for (const plan of plans) {
    plan.daemonSets.forEach((repo, k) => {
      must(
        api.store.create(
          'pods',
          pod(
            DAEMONSET_NAMESPACE,
            `ds-${k}-${plan.node}`,
            plan.node,
            `${registries.publicProxy.host}/${repo}:v1`,
            false,
          ),
        ),
        'pod',
      );
    });
    for (const t of plan.tenants)
      for (const repo of t.repositories)
        must(
          api.store.create(
            'pods',
            pod(
              t.namespace,
              podName(repo, plan.node),
              plan.node,
              `${registries.privateProxy.host}/${repo}:v1`,
              true,
            ),
          ),
          'pod',
        );
  }
}

const podName = (repo: string, node: string): string => `${repo.split('/')[1] ?? repo}-${node}`;

function agentSpec(plan: NodePlan, token: string, registries: Registries): AgentSpec {
  const { privateProxy, publicProxy, digest } = registries;
  return {
    node: plan.node,
    token,
    secrets: plan.tenants.map((t) => ({
      namespace: t.namespace,
      name: PULL_SECRET,
      pod: podName(t.repositories[0] ?? '', plan.node),
      verdicts: t.repositories.map((repo) => ({
        name: `${privateProxy.host}/${repo}`,
        reference: digest,
      })),
    })),
    visibility: [
      ...plan.daemonSets.map((repo) => ({
        name: `${publicProxy.host}/${repo}`,
        reference: digest,
      })),
      ...plan.tenants.flatMap((t) =>
        t.repositories.map((repo) => ({ name: `${privateProxy.host}/${repo}`, reference: digest })),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The controller process

interface ControllerProcess {
  readonly url: string;
  readonly pid: number;
  readonly readyAfterMs: number;
  readonly process: ManagedProcess;
}

async function startController(
  teardowns: Teardowns,
  dir: string,
  api: EmbeddedApiServer,
  tls: { cert: string; key: string },
): Promise<ControllerProcess> {
  const token = issueBoundToken(api, { namespace: NAMESPACE, serviceAccount: CONTROLLER_ACCOUNT });
  const kubeconfig = join(dir, 'controller-kubeconfig.yaml');
  await writeFile(kubeconfig, api.kubeconfigYaml({ token }));
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const started = performance.now();
  const proc = startProcess(
    process.execPath,
    controllerArgs({
      kubeconfig,
      port,
      certFile: tls.cert,
      keyFile: tls.key,
      logLevel: 'info',
    }),
    {
      name: 'pullwatch-controller',
      logPath: join(dir, 'controller.log'),
      env: { ...process.env, KUBECONFIG: '' },
    },
  );
  teardowns.teardown(() => proc.stop(10_000));
  const agent = new HttpsAgent({ ca: await readFile(tls.cert) });
  try {
    const state = await waitFor(
      'the controller to answer /readyz',
      async () => {
        if (proc.hasExited()) return 'exited';
        try {
          const status = await new Promise<number>((resolve, reject) => {
            const req = httpsRequest(`${url}/readyz`, { agent, timeout: 2000 }, (r) => {
              r.resume();
              resolve(r.statusCode ?? 0);
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', reject);
            req.end();
          });
          return status === 200 ? 'ready' : undefined;
        } catch {
          return undefined;
        }
      },
      300_000,
      200,
    );
    if (state === 'exited') throw new Error(`the controller exited:\n${await proc.logTail()}`);
  } finally {
    agent.destroy();
  }
  return { url, pid: proc.pid, readyAfterMs: performance.now() - started, process: proc };
}

// ---------------------------------------------------------------------------------------------
// One phase: the load, and what the controller, the API server and the registries did meanwhile

const API_CLASSES = [
  'TokenReview',
  'get secret',
  'get pod',
  'list pods',
  'watch pods',
  'other',
] as const;
type ApiClass = (typeof API_CLASSES)[number];

function apiClass(r: RequestRecord): ApiClass {
  if (r.method === 'POST' && r.path === '/apis/authentication.k8s.io/v1/tokenreviews')
    return 'TokenReview';
  if (r.method === 'GET' && /^\/api\/v1\/namespaces\/[^/]+\/secrets\/[^/]+$/.test(r.path))
    return 'get secret';
  if (r.method === 'GET' && /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+$/.test(r.path))
    return 'get pod';
  if (r.path === '/api/v1/pods') return r.watch ? 'watch pods' : 'list pods';
  return 'other';
}

interface PhaseMeasure {
  readonly load: PhaseReport;
  readonly wallSeconds: number;
  readonly controllerCpuSeconds: number;
  /** The benchmark process: API server (main thread) and simulated agents (worker). */
  readonly benchCpuSeconds: number;
  readonly rss: readonly number[];
  readonly rssAtEnd: number;
  readonly api: Record<ApiClass, number>;
  /** Requests by any other identity than the controller's (none expected). */
  readonly apiOthers: number;
  readonly registry: ReadonlyMap<string, number>;
  readonly registryTotal: number;
}

async function measurePhase(
  pid: number,
  api: EmbeddedApiServer,
  registries: Registries,
  run: () => Promise<PhaseReport>,
): Promise<PhaseMeasure> {
  api.clearRequestLog();
  registries.privateProxy.reset();
  registries.publicProxy.reset();
  const rss: number[] = [];
  const sampler = setInterval(() => {
    void sampleProcess(pid).then(
      (s) => rss.push(s.rssBytes),
      () => undefined,
    );
  }, 1000);
  const before: ProcSample = await sampleProcess(pid);
  const benchBefore = process.cpuUsage();
  const started = performance.now();
  let load: PhaseReport;
  try {
    load = await run();
  } finally {
    clearInterval(sampler);
  }
  const after = await sampleProcess(pid);
  const bench = process.cpuUsage(benchBefore);
  const wallSeconds = (performance.now() - started) / 1000;
  const counts = Object.fromEntries(API_CLASSES.map((c) => [c, 0])) as Record<ApiClass, number>;
  let apiOthers = 0;
  for (const r of api.requestLog) {
    if (r.user === CONTROLLER_USER) counts[apiClass(r)] += 1;
    else apiOthers += 1;
  }
  const registry = new Map<string, number>();
  for (const [name, proxy] of [
    ['private', registries.privateProxy],
    ['public', registries.publicProxy],
  ] as const)
    for (const [key, n] of proxy.counts()) registry.set(`${name} registry: ${key}`, n);
  return {
    load,
    wallSeconds,
    controllerCpuSeconds: after.cpuSeconds - before.cpuSeconds,
    benchCpuSeconds: (bench.user + bench.system) / 1e6,
    rss,
    rssAtEnd: after.rssBytes,
    api: counts,
    apiOthers,
    registry,
    registryTotal: registries.privateProxy.total() + registries.publicProxy.total(),
  };
}

// ---------------------------------------------------------------------------------------------
// The report

const int = (n: number): string => fmt(n, 0);
const ms = (values: Float64Array, p: number): string =>
  values.length === 0 ? 'n/a' : fmt(percentile([...values], p));
const totalCalls = (r: PhaseReport): number =>
  CALL_KINDS.reduce((s, k) => s + r.kinds[k].issued, 0);
const answered200 = (k: KindReport): number => k.statuses['200'] ?? 0;
const notAnswered = (k: KindReport): string => {
  const parts = Object.entries(k.statuses)
    .filter(([status]) => status !== '200')
    .sort((a, b) => b[1] - a[1])
    .map(([status, n]) => `${int(n)} × ${status}`);
  if (k.abandoned > 0) parts.push(`${int(k.abandoned)} not sent: the phase was over`);
  return parts.length === 0 ? '0' : parts.join(', ');
};

function latencyRows(phase: string, m: PhaseMeasure, agentView: boolean): string[] {
  return CALL_KINDS.map((kind) => {
    const k = m.load.kinds[kind];
    const seen = agentView
      ? `${ms(k.agentLatencies, 50)} / ${ms(k.agentLatencies, 99)}`
      : 'n/a (queued behind the generator)';
    const calls =
      k.questions === k.issued ? int(k.issued) : `${int(k.issued)} (${int(k.questions)} questions)`;
    return `| ${phase} | ${callLabel(kind)} | ${calls} | ${int(answered200(k))} | ${ms(k.latencies, 50)} | ${ms(k.latencies, 99)} | ${seen} | ${notAnswered(k)} |`;
  });
}

function callLabel(kind: CallKind): string {
  return kind === 'pull-secret'
    ? '`/api/v1/pull-secrets`'
    : kind === 'visibility'
      ? '`/api/v1/registry/visibility`'
      : '`/api/v1/registry/verdicts`';
}

/** `idleCores`: the controller's CPU with no call at all, subtracted for the net figure. */
function costRow(phase: string, m: PhaseMeasure, rss: string, idleCores: number): string {
  const calls = Math.max(1, totalCalls(m.load));
  const ok = CALL_KINDS.reduce((s, k) => s + answered200(m.load.kinds[k]), 0);
  const connections = m.load.newConnections + m.load.reusedConnections;
  const net = Math.max(0, m.controllerCpuSeconds - idleCores * m.wallSeconds);
  return `| ${phase} | ${fmt(m.wallSeconds, 1)} s | ${int(calls)} (${int(ok)} answered 200) | ${fmt(calls / m.wallSeconds, 0)} | ${fmt(m.controllerCpuSeconds / m.wallSeconds, 2)} | ${fmt((m.controllerCpuSeconds * 1000) / calls, 3)} ms | ${fmt((net * 1000) / calls, 3)} ms | ${rss} | ${int(m.load.newConnections)} of ${int(connections)} | ${fmt(m.benchCpuSeconds / m.wallSeconds, 2)} |`;
}

function reasonRows(phase: string, m: PhaseMeasure): string[] {
  const all = new Map<string, number>();
  for (const kind of CALL_KINDS)
    for (const [reason, n] of Object.entries(m.load.kinds[kind].reasons))
      all.set(`${callLabel(kind)}: ${reason}`, (all.get(`${callLabel(kind)}: ${reason}`) ?? 0) + n);
  return [...all]
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `| ${phase} | ${reason.replace(/\|/g, '\\|')} | ${int(n)} |`);
}

function answerLine(m: PhaseMeasure): string {
  return CALL_KINDS.map((kind) => {
    const answers = Object.entries(m.load.kinds[kind].answers)
      .sort((a, b) => b[1] - a[1])
      .map(([a, n]) => `${int(n)} ${a}`)
      .join(', ');
    return `${callLabel(kind)}: ${answers === '' ? 'none' : answers}`;
  }).join('; ');
}

function registryLoadRow(r: RegistryLoad, note: string): string {
  const d = r.distinct;
  const s = r.perNodeSum;
  return `| ${int(r.shape.nodes)} | ${int(r.shape.tenants)} × ${int(r.shape.appsPerTenant)} | ${note} | ${int(d.publicVisibility)} / ${int(d.privateVisibility)} / ${int(d.verdicts)} | ${int(s.publicVisibility)} / ${int(s.privateVisibility)} / ${int(s.verdicts)} | ${int(r.controllerPerHour)} | ${int(r.directPerHour)} | ${fmt(r.ratio, 1)}× |`;
}

// ---------------------------------------------------------------------------------------------

export const controllerBenchmark: Benchmark = {
  name: 'controller',
  title: '6. The controller under its cluster',
  summary: 'pullwatch controller answering 5,000 simulated agents: cold start, then steady state',
  async run(context: BenchContext) {
    const machine = describeMachine();
    const benchStarted = performance.now();
    for (const tool of ['docker-registry', 'htpasswd', 'openssl'])
      if (findTool(tool) === undefined)
        throw new Error(
          `${tool} is needed (Debian: apt-get install docker-registry apache2-utils openssl)`,
        );
    const requested = Number(process.env['PULLWATCH_BENCH_CONTROLLER_NODES'] ?? '');
    const nodes =
      Number.isInteger(requested) && requested > 0 ? requested : context.quick ? 500 : 5000;
    const coldCapMs = (context.quick ? 5 : 25) * 60_000;
    const steadyMs = (context.quick ? 60 : 300) * 1000;
    const shape = clusterShape(nodes);
    const teardowns = new Teardowns();
    try {
      const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-controller-'));
      teardowns.teardown(() => rm(dir, { recursive: true, force: true }));
      context.log(
        `controller: ${int(nodes)} nodes, ${int(shape.tenants)} tenants; seeding the registries`,
      );
      const registries = await startRegistries(teardowns, shape);
      const costs = await measureProbeCosts(registries);
      context.log(
        `controller: ${int(shape.tenants * shape.appsPerTenant + shape.daemonSets)} repositories seeded in ${fmt(registries.seedSeconds, 1)} s; a probe costs ${costs.publicVisibility} / ${costs.privateVisibility} / ${costs.verdict} registry requests`,
      );

      const setupStarted = performance.now();
      const api = await startEmbeddedApiServer({ bookmarkIntervalMs: 60_000 });
      teardowns.teardown(() => api.stop());
      const plans = Array.from({ length: nodes }, (_, i) => nodePlan(shape, i));
      populate(api, shape, plans, registries);
      const specs = plans.map((plan) =>
        agentSpec(
          plan,
          issueBoundToken(api, {
            namespace: NAMESPACE,
            serviceAccount: AGENT_ACCOUNT,
            pod: `pullwatch-agent-${plan.node}`,
            node: plan.node,
            audience: AUDIENCE,
          }),
          registries,
        ),
      );
      const pods = nodes * podsPerNode(shape);
      const populateSeconds = (performance.now() - setupStarted) / 1000;
      context.log(
        `controller: ${int(pods)} pods and ${int(nodes)} tokens in the API server in ${fmt(populateSeconds, 1)} s`,
      );
      const tls = await selfSignedCertificate(dir, 'controller');
      const controller = await startController(teardowns, dir, api, tls);
      const readyRss = (await sampleProcess(controller.pid)).rssBytes;
      // What the controller costs with no call at all (its pod watch, timers, GC).
      const idleSeconds = context.quick ? 10 : 30;
      const idleBefore = await sampleProcess(controller.pid);
      await sleep(idleSeconds * 1000);
      const idleAfter = await sampleProcess(controller.pid);
      const idleCores =
        (idleAfter.cpuSeconds - idleBefore.cpuSeconds) / ((idleAfter.at - idleBefore.at) / 1000);
      context.log(
        `controller: ready after ${fmt(controller.readyAfterMs / 1000, 1)} s, RSS ${fmt(readyRss / MiB, 0)} MiB`,
      );

      const worker = startLoadWorker(
        {
          url: controller.url,
          caPem: await readFile(tls.cert, 'utf8'),
          agents: specs,
          maxInFlight: MAX_IN_FLIGHT,
          socketsPerAgent: SOCKETS_PER_AGENT,
          timeoutMs: CALL_TIMEOUT_MS,
          secretRetryMs: SECRET_RETRY_MS,
        },
        (line) => {
          context.log(`controller: ${line}`);
        },
      );
      teardowns.teardown(() => worker.stop());
      context.log(
        `controller: cold start of ${int(nodes)} agents (at most ${coldCapMs / 60_000} min)`,
      );
      const cold = await measurePhase(controller.pid, api, registries, () =>
        worker.run({ type: 'cold', capMs: coldCapMs }),
      );
      await sleep(5000);
      context.log(`controller: steady state for ${steadyMs / 1000} s`);
      const steady = await measurePhase(controller.pid, api, registries, () =>
        worker.run({
          type: 'steady',
          plan: {
            windowMs: steadyMs,
            registryPeriodMs: REGISTRY_PERIOD_MS,
            secretPeriodMs: SECRET_PERIOD_MS,
          },
        }),
      );
      const controllerLog = await readFile(join(dir, 'controller.log'), 'utf8');
      const controllerErrors = controllerLog
        .split('\n')
        .filter((l) => /"level":(50|60)/.test(l)).length;

      // Registry load of whole clusters, from the same placement rule.
      const runLoad = registryLoad(shape, costs, LIFETIMES);
      const at100 = registryLoad(clusterShape(100), costs, LIFETIMES);
      const at5000 = registryLoad(clusterShape(5000), costs, LIFETIMES);
      const sensitivity = [
        ...[10, 20, 100].map((tenants) =>
          registryLoad(clusterShape(100, { tenants }), costs, LIFETIMES),
        ),
        ...[5, 100].map((tenants) =>
          registryLoad(clusterShape(100, { tenants, appsPerTenant: 10 }), costs, LIFETIMES),
        ),
        ...[20, 500].map((tenants) =>
          registryLoad(clusterShape(5000, { tenants }), costs, LIFETIMES),
        ),
      ];
      const targets: TargetCheck[] = [
        {
          figure:
            'registry requests per hour at 100 nodes, controller vs per-node probing (--secrets-from direct)',
          target: `at least ${TARGET_RATIO_AT_100}× fewer`,
          measured: `${fmt(at100.ratio, 1)}× fewer (${int(at100.controllerPerHour)} vs ${int(at100.directPerHour)} per hour)`,
          met: at100.ratio >= TARGET_RATIO_AT_100,
        },
      ];

      const secretsDone = [...cold.load.secretsDoneMs].filter((v) => Number.isFinite(v));
      const never = cold.load.secretsDoneMs.length - secretsDone.length;
      const doneSummary = summarize(secretsDone.map((v) => v / 1000));
      const steadyRss = summarize(steady.rss);
      const perNodeRefused = CALL_KINDS.reduce(
        (sum, kind) =>
          sum +
          Object.entries(steady.load.kinds[kind].reasons)
            .filter(([reason]) => reason.includes('too many requests from node'))
            .reduce((s, [, n]) => s + n, 0),
        0,
      );
      const newShare = (m: PhaseMeasure): number =>
        Math.round(
          (100 * m.load.newConnections) /
            Math.max(1, m.load.newConnections + m.load.reusedConnections),
        );
      const rate = (n: number, m: PhaseMeasure): string => fmt(n / m.wallSeconds, 2);
      const perHour = (n: number, m: PhaseMeasure): string => int((n / m.wallSeconds) * 3600);
      const apiTotal = (m: PhaseMeasure): number => API_CLASSES.reduce((s, c) => s + m.api[c], 0);
      const registryKeys = [
        ...new Set([...cold.registry.keys(), ...steady.registry.keys()]),
      ].sort();
      const runMinutes = (performance.now() - benchStarted) / 60_000;

      const body = [
        `Measured ${machineLine(machine)}. **Scale of this run: ${int(nodes)} simulated agents** (${context.quick ? '`--quick`' : 'full'}; ${int(pods)} pods); the benchmark took ${fmt(runMinutes, 1)} min.`,
        '',
        `**Cluster** (bench/lib/controller-cluster.ts): every node runs ${podsPerNode(shape)} pods: ${shape.daemonSets} DaemonSet pods (\`kube-system\`, public images, no pull secret) and ${shape.podsPerTenantOnNode} pods of each of ${shape.tenantsPerNode} tenants, each of another Deployment (replicas are spread over nodes), so a node caches ${shape.daemonSets + shape.tenantsPerNode * shape.podsPerTenantOnNode} repositories. ${int(shape.tenants)} tenants (one per 50 nodes, at least 5), placed on nodes uniformly at random (seeded); each tenant namespace holds **one pull secret \`${PULL_SECRET}\` that all its pods name**, so ${shape.tenantsPerNode} secrets per node and each secret object is shared by the ~${int((nodes * shape.tenantsPerNode) / shape.tenants)} nodes that run its tenant; each tenant's catalogue is ${shape.appsPerTenant} repositories. Pods are minimal (metadata, \`spec.nodeName\`, \`imagePullSecrets\`, one container). The embedded API server (test/kit/embedded/kube-apiserver.ts, in the benchmark's main thread) holds the ${int(pods)} pods, ${int(shape.tenants)} secrets and **one bound token per agent** (test/kit/bound-tokens.ts: service account \`${NAMESPACE}/${AGENT_ACCOUNT}\`, pod and node claims, audience \`${AUDIENCE}\`); populating it took ${fmt(populateSeconds, 1)} s.`,
        '',
        `**Registries:** two real \`docker-registry\` processes on loopback, each behind a counting HTTP proxy (bench/lib/counting-proxy.ts) that the image names point at: a private one (htpasswd, one user per tenant; ${int(shape.tenants * shape.appsPerTenant)} repositories) and a public one (no auth; the ${shape.daemonSets} DaemonSet repositories), seeded over the registry API (bench/lib/registry-seed.ts) in ${fmt(registries.seedSeconds, 1)} s. The controller probes them for real (\`--registry-probe on\`, the default). One probe, measured with the controller's resolver (agent/registry/visibility.ts) before the run: anonymous visibility of a public repository ${costs.publicVisibility} request(s), of a private one ${costs.privateVisibility}, a verdict with a tenant's credential ${costs.verdict} (${costs.verdict === 1 ? "HEAD with Basic credentials at once: the resolver answers the challenge the registry's anonymous visibility probe already returned" : 'HEAD answered 401, then HEAD with Basic credentials'}).`,
        '',
        `**Controller:** \`node agent/cli.ts controller\` as a separate process, HTTPS with a P-256 self-signed certificate (test/helpers/tls.ts) given as \`--tls-cert-file\`/\`--tls-key-file\`, \`--log-level info\`, every other setting at its default (\`--secret-ttl 60s\`, \`--per-node-requests ${CONTROLLER_DEFAULTS['per-node-requests']}\` calls per second, \`--token-cache-entries ${CONTROLLER_DEFAULTS['token-cache-entries']}\`, \`--token-reviews-per-second ${CONTROLLER_DEFAULTS['token-reviews-per-second']}\` with up to 5 s of waiting for a turn, \`--registry-requests-per-second ${CONTROLLER_DEFAULTS['registry-requests-per-second']}\` and \`--registry-concurrency ${CONTROLLER_DEFAULTS['registry-concurrency']}\` per registry host, \`--registry-answer-ttl ${CONTROLLER_DEFAULTS['registry-answer-ttl'] / 3_600_000}h\` less up to ${CONTROLLER_ANSWER_TTL_JITTER * 100} % jitter). Ready ${fmt(controller.readyAfterMs / 1000, 1)} s after spawn (its first list of the ${int(pods)} pods), RSS then ${fmt(readyRss / MiB, 0)} MiB. Error lines in its log during the run: ${int(controllerErrors)}.`,
        '',
        `**Agents:** ${int(nodes)} simulated agents in a worker thread of the benchmark process (bench/lib/broker-load.ts), each with its own token and its own keep-alive HTTPS pool of ${SOCKETS_PER_AGENT} sockets verifying the controller's certificate, as agent/broker/client.ts. Per node they make the calls a real agent makes: one \`POST /api/v1/pull-secrets\` per secret (with a pod that names it), the visibility of every cached repository (${shape.daemonSets + shape.tenantsPerNode * shape.podsPerTenantOnNode} questions) in one \`/api/v1/registry/visibility\` batch, and, once a secret is known, the verdict on every image whose pod names it (${shape.tenantsPerNode * shape.podsPerTenantOnNode} questions, the secret's credential and the image's digest) in \`/api/v1/registry/verdicts\` batches: questions asked together travel together, at most ${MAX_QUESTIONS_PER_CALL} per call, as agent/broker/client.ts batches them (in the cold start each secret's verdicts are one batch, asked when that secret is answered; in a steady round all of a node's verdicts are one). They react as the agent does: a secret not answered is asked again after 30 s; a registry question not answered waits for the agent's next round, 10 minutes later. The whole generator keeps at most ${MAX_IN_FLIGHT} calls on the wire (the machine's limit, not the agents': ${int(nodes)} real agents could open ${int(nodes * SOCKETS_PER_AGENT)} connections).`,
        '',
        `- **Cold start:** every agent starts at the same moment (its calls queue for the ${MAX_IN_FLIGHT} slots in the order made, so the agents interleave as they would on the controller's sockets); the phase ends when every agent has all its secrets and every question answered or refused, or after ${coldCapMs / 60_000} min (calls then still waiting for a slot are not sent).`,
        `- **Steady state:** the refresh pattern of running agents sampled in real time for ${steadyMs / 1000} s, starting 5 s after the cold start: each agent's round of registry questions (all of them at once, as agent/core/registry-questions.ts asks them) every ${fmt(REGISTRY_PERIOD_MS / 1000, 0)} s, each of its secrets every ${int(SECRET_PERIOD_MS / 1000)} s on average (due 24–30 min after the last read, at the next 30 s tick), each at a random phase. Not compressed: at ${int(nodes)} agents the pattern is already ${fmt(totalCalls(steady.load) / steady.wallSeconds, 0)} calls/s, and in real time the controller's own 60 s caches (secret views, token identities) see the spacing a cluster gives them, which a compressed clock would not. Per hour = the window's rate × 3,600.`,
        '',
        '**Latency** (p50/p99 of the calls answered 200, from the request put on a socket to the last byte, TLS handshake included when the call opened a connection; "as the agent sees it" is every call from being made to its answer, with the wait for one of its pool\'s 4 sockets, as when an agent asks its whole round at once; in the cold start that wait is mostly the generator\'s queue, so it is not shown):',
        '',
        '| phase | call | calls | answered 200 | p50 (ms) | p99 (ms) | as the agent sees it, p50 / p99 (ms) | not answered 200 |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
        ...latencyRows('cold start', cold, false),
        ...latencyRows('steady', steady, true),
        '',
        `Answers, cold start: ${answerLine(cold)}. Steady: ${answerLine(steady)}.`,
        ...(perNodeRefused > 0
          ? [
              '',
              `**Per-node budget in steady state:** ${int(perNodeRefused)} of ${int(totalCalls(steady.load))} calls (${fmt((100 * perNodeRefused) / Math.max(1, totalCalls(steady.load)), 0)} %) were refused with "too many requests from node": more calls at once than the controller's per-node budget lets through in a burst. The agent takes the questions of a refused call as unknown until its next round, 10 minutes later.`,
            ]
          : []),
        '',
        `**Cold start of ${int(nodes)} agents:** ${fmt(cold.wallSeconds, 1)} s until every agent was done; an agent had all its ${shape.tenantsPerNode} secrets after ${fmt(doneSummary.median, 1)} s (median), ${fmt(doneSummary.p99, 1)} s (p99), ${fmt(doneSummary.max, 1)} s (last)${never > 0 ? `; ${int(never)} agents did not get them within the phase` : ''}. Registry questions refused (asked again only 10 minutes later): ${int(cold.load.registryRefused)} of ${int(cold.load.kinds.visibility.questions + cold.load.kinds.verdict.questions)}. The controller made ${fmt(cold.api.TokenReview / Math.max(1, totalCalls(cold.load)), 2)} TokenReviews per call (steady: ${fmt(steady.api.TokenReview / Math.max(1, totalCalls(steady.load)), 2)}): it keeps an identity 60 s (never past the token's \`exp\`) in a cache of ${int(CONTROLLER_DEFAULTS['token-cache-entries'])} entries, concurrent calls with one token share a review, and a review beyond the budget waits its turn (up to 5 s) instead of being refused. ${newShare(cold)} % of the cold start's calls opened a new TLS connection (steady: ${newShare(steady)} %)${newShare(cold) > 50 ? `: with ${int(nodes * SOCKETS_PER_AGENT)} sockets taking turns for ${MAX_IN_FLIGHT} slots, an agent's sockets waited longer between calls than the controller keeps an idle connection (Node's default 5 s), where real agents, unbounded, would send their next call at once on the same connection, so the cold start's CPU per call is an upper bound` : ''}. The controller's per-host probe limit (${CONTROLLER_DEFAULTS['registry-requests-per-second']}/s, burst ${2 * CONTROLLER_DEFAULTS['registry-requests-per-second']}, ${CONTROLLER_DEFAULTS['registry-concurrency']} in flight) needs at least ${int(runLoad.distinct.privateVisibility + runLoad.distinct.verdicts)} / ${CONTROLLER_DEFAULTS['registry-requests-per-second']} = ${fmt((runLoad.distinct.privateVisibility + runLoad.distinct.verdicts) / CONTROLLER_DEFAULTS['registry-requests-per-second'] / 60, 1)} min to probe this cluster's distinct questions on its private registry once; questions beyond it are answered "unknown (probe rate limit)" and asked again at the agent's next round.`,
        '',
        `**Controller cost** (CPU: utime + stime from /proc/PID/stat over the phase, per call made in it, whatever its answer; RSS: /proc/PID/status VmRSS, sampled every second). Idle, before the cold start, it used ${fmt(idleCores * 1000, 1)} millicores over ${idleSeconds} s (its pod watch, timers, GC); "less the idle CPU" takes that off:`,
        '',
        '| phase | duration | calls | calls/s | controller CPU (cores) | CPU per call | … less the idle CPU | controller RSS | calls that opened a TLS connection | benchmark process CPU (cores) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        costRow(
          'cold start',
          cold,
          `${fmt(cold.rssAtEnd / MiB, 0)} MiB at its end (max ${fmt(Math.max(...cold.rss, cold.rssAtEnd) / MiB, 0)})`,
          idleCores,
        ),
        costRow(
          'steady',
          steady,
          `median ${fmt(steadyRss.median / MiB, 0)} MiB, max ${fmt(steadyRss.max / MiB, 0)}`,
          idleCores,
        ),
        '',
        "Why calls were not answered 200 (the controller's words, node names folded):",
        '',
        '| phase | call: reason | calls |',
        '| --- | --- | ---: |',
        ...reasonRows('cold start', cold),
        ...reasonRows('steady', steady),
        '',
        `**API server requests caused by the controller** (the embedded API server's request log, the controller's identity \`${CONTROLLER_USER}\` only; other identities: ${int(cold.apiOthers + steady.apiOthers)} requests):`,
        '',
        '| request | cold start: requests | per s | steady: requests | per s | per hour |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
        ...API_CLASSES.map(
          (c) =>
            `| ${c} | ${int(cold.api[c])} | ${rate(cold.api[c], cold)} | ${int(steady.api[c])} | ${rate(steady.api[c], steady)} | ${perHour(steady.api[c], steady)} |`,
        ),
        `| **total** | **${int(apiTotal(cold))}** | **${rate(apiTotal(cold), cold)}** | **${int(apiTotal(steady))}** | **${rate(apiTotal(steady), steady)}** | **${perHour(apiTotal(steady), steady)}** |`,
        '',
        '**Registry requests the controller made during the run** (counted by the proxies):',
        '',
        '| request | cold start | steady |',
        '| --- | ---: | ---: |',
        ...registryKeys.map(
          (k) =>
            `| ${k} | ${int(cold.registry.get(k) ?? 0)} | ${int(steady.registry.get(k) ?? 0)} |`,
        ),
        `| **total** | **${int(cold.registryTotal)}** | **${int(steady.registryTotal)}** |`,
        '',
        `**Registry requests per hour for the whole cluster**, with the controller and with today's per-node probing (\`--secrets-from direct\`). Agents re-ask every 10 min and are answered from a cache, so a distinct question costs one probe per lifetime of a definite answer: once for the cluster through the controller, whose answers are one per cluster and stand \`--registry-answer-ttl\` (${CONTROLLER_DEFAULTS['registry-answer-ttl'] / 3_600_000} h less up to ${CONTROLLER_ANSWER_TTL_JITTER * 100} % jitter: ${fmt(LIFETIMES.controllerMs / 3_600_000, 1)} h on average; the kubelet's KEP-2535 pulled records likewise trust a pull made with a credential until the image is removed), and once per node that asks it in direct mode, where a node's resolver keeps a definite answer ${DEFAULT_ANSWER_TTL_MS / 3_600_000} h, as today. Counted from the placement above (bench/lib/controller-cluster.ts: every node's questions, as sets) with the per-probe request counts measured above (the same for both: a direct-mode agent's resolver reuses the challenge too). 404s and failed probes (short TTLs on both sides) do not occur in this cluster and are left out. The first rows are this benchmark's cluster shape at 100 and 5,000 nodes; the others change one assumption, to show what the ratio depends on: how many nodes ask the same question.`,
        '',
        "| nodes | tenants × repositories each | shape | distinct questions in the cluster: visibility public / private / verdicts | sum over nodes of each node's questions | controller, requests/h | per-node probing, requests/h | fewer with the controller |",
        '| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
        registryLoadRow(at100, 'this shape'),
        registryLoadRow(at5000, 'this shape'),
        ...sensitivity.map((r) => registryLoadRow(r, 'variant')),
        '',
        ...targetTable(targets),
      ].join('\n');
      return { body, targets };
    } finally {
      await teardowns.run();
    }
  },
};

// The admission webhook of `pullwatch controller --prevention enforce` (issue 14), as a
// process against the in-process API server (namespaces, pull secrets) and two real
// docker-registries (private with htpasswd, public) behind counting proxies. This process
// plays the API server's part: AdmissionReviews over HTTPS on keep-alive connections, 50 at a
// time.
//
// 1. Latency with the decision cached (the pod's secrets and repositories answered before).
// 2. Latency when every pod asks about a repository nobody asked about (a registry round trip
//    per pod: the anonymous probe and the pod's credential), with the default per-registry
//    limits (--registry-requests-per-second 50, --registry-concurrency 16).
// 3. Registry requests for 1,000 pod creations from a freshly started controller, compared
//    with AlwaysPullImages on the same pods: one manifest request per container start.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMISSION_PATH } from '../agent/controller/admission-webhook.ts';
import type { EmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../test/kit/embedded/kube-apiserver.ts';
import { dockerConfigSecret } from '../test/kit/embedded/kubelet-pods.ts';
import {
  controllerKubeconfigYaml,
  startControllerProcess,
} from '../test/helpers/controller-process.ts';
import { findTool } from '../test/helpers/real-parts.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { selfSignedCertificate } from '../test/helpers/tls.ts';
import type { Benchmark, BenchContext, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import type { CountingProxy } from './lib/counting-proxy.ts';
import { openLeanHttpsClient } from './lib/lean-https-client.ts';
import { startCountingProxy } from './lib/counting-proxy.ts';
import { dockerfileEnvironment } from './lib/image-environment.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { seedRepositories } from './lib/registry-seed.ts';
import type { Summary } from './lib/stats.ts';
import { fmt, summarize } from './lib/stats.ts';
import { sleep, Teardowns } from './lib/teardown.ts';

const CONCURRENCY = 50;
const HIT_TARGET_P99_MS = 10;
const WARM_UP_ROUNDS = 5;
const TEAMS = 10;
const APPS_PER_TEAM = 10;
const PODS = 1000;
/** One pod in twenty is another team's (Admin2's): not proven, forced to pull. */
const FOREIGN_EVERY = 20;
const SECRET = 'pull';
const team = (t: number): string => `team-${t}`;

interface World {
  readonly api: EmbeddedApiServer;
  readonly privateProxy: CountingProxy;
  readonly publicProxy: CountingProxy;
  readonly missRepos: readonly string[];
}

async function startWorld(teardowns: Teardowns, missCount: number): Promise<World> {
  const seeder = { username: 'seeder', password: randomBytes(12).toString('hex') };
  const passwords = Array.from({ length: TEAMS }, () => randomBytes(12).toString('hex'));
  const users: Record<string, string> = { [seeder.username]: seeder.password };
  passwords.forEach((p, t) => (users[team(t)] = p));
  const privateRegistry = await startRegistry(teardowns, { users, readyTimeoutMs: 60_000 });
  const publicRegistry = await startRegistry(teardowns, { readyTimeoutMs: 60_000 });
  const apps = Array.from(
    { length: TEAMS * APPS_PER_TEAM },
    (_, i) => `${team(Math.floor(i / APPS_PER_TEAM))}/app-${i % APPS_PER_TEAM}`,
  );
  const missRepos = Array.from({ length: missCount }, (_, i) => `${team(0)}/miss-${i}`);
  await seedRepositories([...apps, ...missRepos], {
    url: privateRegistry.url,
    credentials: seeder,
  });
  await seedRepositories(['library/sidecar'], { url: publicRegistry.url });
  const privateProxy = await startCountingProxy(privateRegistry.url);
  teardowns.teardown(() => privateProxy.stop());
  const publicProxy = await startCountingProxy(publicRegistry.url);
  teardowns.teardown(() => publicProxy.stop());

  const api = await startEmbeddedApiServer();
  teardowns.teardown(() => api.stop());
  const must = (r: { ok: boolean; error?: { message: string } }, what: string): void => {
    if (!r.ok) throw new Error(`${what}: ${r.error?.message ?? 'refused'}`);
  };
  must(api.store.create('namespaces', { metadata: { name: 'pullwatch' } }), 'pullwatch');
  for (let t = 0; t < TEAMS; t += 1) {
    must(api.store.create('namespaces', { metadata: { name: team(t) } }), team(t));
    must(
      api.store.create(
        'secrets',
        dockerConfigSecret(team(t), SECRET, privateProxy.host, {
          username: team(t),
          password: passwords[t] ?? '',
        }),
      ),
      `${team(t)}/${SECRET}`,
    );
  }
  return { api, privateProxy, publicProxy, missRepos };
}

interface Webhook {
  /** Milliseconds from sending the review to the whole answer; the decision it carried. */
  admit(
    namespace: string,
    containers: { name: string; image: string }[],
    secret: boolean,
  ): Promise<{ ms: number; outcome: 'unchanged' | 'forced' | 'denied' }>;
  stop(): Promise<void>;
}

/** Per-registry limits raised far above a burst of 50 new repositories. */
const UNLIMITED = ['--registry-requests-per-second', '1000', '--registry-concurrency', '64'];

async function startWebhook(
  teardowns: Teardowns,
  dir: string,
  world: World,
  name: string,
  extraArgs: readonly string[] = [],
): Promise<Webhook> {
  const tls = await selfSignedCertificate(dir, name);
  const controller = await startControllerProcess(teardowns, {
    dir,
    name,
    kubeconfigYaml: controllerKubeconfigYaml(world.api),
    certFile: tls.cert,
    keyFile: tls.key,
    extraArgs: ['--prevention', 'enforce', '--log-level', 'info', ...extraArgs],
    // As the image runs it: its NODE_OPTIONS set the young generation's size, and so the
    // length of the scavenges that pause the webhook.
    env: await dockerfileEnvironment(),
  });
  // As the API server calls a webhook: keep-alive HTTPS, as many connections as requests, and
  // its ?timeout= on the path. A lean client: this process's CPU counts in every latency.
  const client = await openLeanHttpsClient(controller.url, await readFile(tls.cert), CONCURRENCY);
  const path = `${ADMISSION_PATH}?timeout=5s`;
  let uid = 0;
  const admit: Webhook['admit'] = async (namespace, containers, secret) => {
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `bench-${++uid}`,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace,
        operation: 'CREATE',
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { generateName: 'web-', namespace, labels: { app: 'web' } },
          spec: {
            serviceAccountName: 'default',
            ...(secret ? { imagePullSecrets: [{ name: SECRET }] } : {}),
            containers: containers.map((c) => ({ ...c, imagePullPolicy: 'IfNotPresent' })),
          },
        },
      },
    });
    const started = performance.now();
    const { status, body: text } = await client.post(path, body);
    const ms = performance.now() - started;
    const answer = JSON.parse(text.toString('utf8')) as {
      response?: { allowed: boolean; patch?: string };
    };
    if (answer.response === undefined) throw new Error(`the webhook answered ${String(status)}`);
    const outcome = !answer.response.allowed
      ? 'denied'
      : answer.response.patch !== undefined
        ? 'forced'
        : 'unchanged';
    return { ms, outcome };
  };
  const stop = async (): Promise<void> => {
    client.close();
    await controller.stop();
  };
  teardowns.teardown(stop);
  return { admit, stop };
}

/** `rounds` rounds of `CONCURRENCY` admissions sent at once; each one's latency. */
async function rounds(
  count: number,
  one: (round: number, i: number) => Promise<{ ms: number; outcome: string }>,
): Promise<{ latencies: number[]; outcomes: Map<string, number> }> {
  const latencies: number[] = [];
  const outcomes = new Map<string, number>();
  for (let r = 0; r < count; r += 1) {
    const answers = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => one(r, i)));
    for (const a of answers) {
      latencies.push(a.ms);
      outcomes.set(a.outcome, (outcomes.get(a.outcome) ?? 0) + 1);
    }
  }
  return { latencies, outcomes };
}

const outcomeText = (outcomes: ReadonlyMap<string, number>): string =>
  [...outcomes].map(([o, n]) => `${n} ${o}`).join(', ');

async function run(context: BenchContext) {
  for (const tool of ['docker-registry', 'htpasswd', 'openssl'])
    if (findTool(tool) === undefined) throw new Error(`the webhook benchmark needs ${tool}`);
  const hitRounds = context.quick ? 10 : 40;
  const missRounds = context.quick ? 2 : 4;
  const teardowns = new Teardowns();
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-webhook-'));
  teardowns.teardown(() => rm(dir, { recursive: true, force: true }));
  try {
    context.log('starting the registries (seeding repositories) and the API server');
    const world = await startWorld(teardowns, 2 * missRounds * CONCURRENCY);
    const { privateProxy, publicProxy } = world;
    const app = (t: number, a: number) => `${privateProxy.host}/${team(t)}/app-${a}:v1`;
    const sidecar = [{ name: 'proxy', image: `${publicProxy.host}/library/sidecar:v1` }];
    const podOf = (t: number, a: number) => [{ name: 'app', image: app(t, a) }, ...sidecar];

    context.log('1. cache hits: every team and app answered first, then 50 at a time');
    let webhook = await startWebhook(teardowns, dir, world, 'webhook-hits');
    // Until every pair is proven: a warm-up faster than the registry limits gets some
    // registry errors, which are not kept.
    for (let pass = 0; pass < 10; pass += 1) {
      const answers = await Promise.all(
        Array.from({ length: TEAMS * APPS_PER_TEAM }, (_, i) =>
          webhook.admit(team(i % TEAMS), podOf(i % TEAMS, Math.floor(i / TEAMS)), true),
        ),
      );
      if (answers.every((a) => a.outcome === 'unchanged')) break;
      await sleep(1000);
    }
    privateProxy.reset();
    publicProxy.reset();
    const sequential: number[] = [];
    for (let n = 0; n < (context.quick ? 100 : 400); n += 1)
      sequential.push(
        (await webhook.admit(team(n % TEAMS), podOf(n % TEAMS, n % APPS_PER_TEAM), true)).ms,
      );
    const burst = (r: number, i: number) => {
      const n = r * CONCURRENCY + i;
      return webhook.admit(team(n % TEAMS), podOf(n % TEAMS, (n * 7) % APPS_PER_TEAM), true);
    };
    // The first bursts after the one-at-a-time phase are slower (the paths that only
    // concurrency takes are not yet compiled): shown in their own row, not in the figure.
    const firstBursts = await rounds(WARM_UP_ROUNDS, burst);
    const hitStarted = performance.now();
    const hit = await rounds(hitRounds, burst);
    const hitPerSecond = hit.latencies.length / ((performance.now() - hitStarted) / 1000);
    const hitRegistryRequests = privateProxy.total() + publicProxy.total();
    await webhook.stop();

    // A fresh controller per round, its pull secret and namespace read first (a pod with the
    // public image only): the 50 pods then each bring a repository it never asked about.
    const missPhase = async (label: string, extraArgs: readonly string[], offset: number) => {
      const latencies: number[] = [];
      const outcomes = new Map<string, number>();
      let requests = 0;
      for (let r = 0; r < missRounds; r += 1) {
        const fresh = await startWebhook(teardowns, dir, world, `webhook-${label}-${r}`, extraArgs);
        await fresh.admit(team(0), sidecar, true);
        privateProxy.reset();
        const round = await rounds(1, (_, i) =>
          fresh.admit(
            team(0),
            [
              {
                name: 'app',
                image: `${privateProxy.host}/${world.missRepos[offset + r * CONCURRENCY + i] ?? ''}:v1`,
              },
            ],
            true,
          ),
        );
        requests += privateProxy.total();
        latencies.push(...round.latencies);
        for (const [o, n] of round.outcomes) outcomes.set(o, (outcomes.get(o) ?? 0) + n);
        await fresh.stop();
      }
      return { latencies, outcomes, requests };
    };
    context.log('2. cache misses, default registry limits');
    const missDefault = await missPhase('miss', [], 0);
    context.log('3. cache misses, registry limits raised');
    const missRaised = await missPhase('miss-raised', UNLIMITED, missRounds * CONCURRENCY);

    context.log(`4. registry requests for ${PODS} pod creations, twice, from a fresh controller`);
    webhook = await startWebhook(teardowns, dir, world, 'webhook-requests');
    const creations = async () => {
      privateProxy.reset();
      publicProxy.reset();
      let forced = 0;
      let starts = 0;
      const outcomes = new Map<string, number>();
      for (let start = 0; start < PODS; start += CONCURRENCY) {
        await Promise.all(
          Array.from({ length: Math.min(CONCURRENCY, PODS - start) }, async (_, i) => {
            const n = start + i;
            const t = n % TEAMS;
            // The k-th pod of its team. Apps are not equally busy: every other pod runs one of
            // the team's first two apps, the rest go round all ten.
            const k = Math.floor(n / TEAMS);
            const a = k % 2 === 0 ? (k >> 1) % 2 : (k >> 1) % APPS_PER_TEAM;
            // Admin2: another team's image, no secret of its own.
            const foreign = n % FOREIGN_EVERY === FOREIGN_EVERY - 1;
            const answer = foreign
              ? await webhook.admit(team(t), podOf((t + 1) % TEAMS, a), false)
              : await webhook.admit(team(t), podOf(t, a), true);
            starts += 2;
            if (answer.outcome === 'forced') forced += 1;
            outcomes.set(answer.outcome, (outcomes.get(answer.outcome) ?? 0) + 1);
          }),
        );
      }
      const asked = privateProxy.total() + publicProxy.total();
      // AlwaysPullImages: a manifest request at every container start. pullwatch: the
      // webhook's own requests, plus that manifest request for each container it forced.
      return { asked, forced, outcomes, withPullwatch: asked + forced, withAlwaysPull: starts };
    };
    const cold = await creations();
    const warm = await creations();
    await webhook.stop();
    const withPullwatch = cold.withPullwatch;
    const withAlwaysPull = cold.withAlwaysPull;

    const hitSummary = summarize(hit.latencies);
    const sequentialSummary = summarize(sequential);
    const missDefaultSummary = summarize(missDefault.latencies);
    const missRaisedSummary = summarize(missRaised.latencies);
    const targets: TargetCheck[] = [
      {
        figure: `webhook p99, cache hit, ${CONCURRENCY} concurrent admissions`,
        target: `< ${HIT_TARGET_P99_MS} ms`,
        measured: `${fmt(hitSummary.p99)} ms`,
        met: hitSummary.p99 < HIT_TARGET_P99_MS,
      },
      {
        figure: `registry requests per ${PODS} pod creations`,
        target: `fewer than AlwaysPullImages (${withAlwaysPull})`,
        measured: String(withPullwatch),
        met: withPullwatch < withAlwaysPull,
      },
    ];
    const row = (
      what: string,
      s: Summary,
      outcomes: ReadonlyMap<string, number>,
      requests: number,
    ) =>
      `| ${what} | ${fmt(s.median)} ms | ${fmt(s.p99)} ms | ${fmt(s.max)} ms | ${s.n} (${outcomeText(outcomes)}) | ${requests} |`;
    const body = [
      `Machine: ${machineLine(describeMachine())}. \`pullwatch controller --prevention enforce\` as a process, with the container image's NODE_OPTIONS; this process plays the API server and sends the AdmissionReviews over HTTPS (HTTP/1.1 keep-alive, one connection per review in flight, \`?timeout=5s\` on the path, as the API server calls a webhook), ${CONCURRENCY} at a time, through a minimal client (bench/lib/lean-https-client.ts: Node's own http client cost more CPU per review than the webhook, on the same two cores); each pod has a private image of its team (its pull secret reads it) and a public sidecar, both \`IfNotPresent\`. Registries: docker-registry with htpasswd and an open one, behind counting proxies.`,
      '',
      '| admissions | p50 | p99 | max | reviews (answers) | registry requests |',
      '| --- | --- | --- | --- | --- | --- |',
      row(
        `cache hit, one at a time`,
        sequentialSummary,
        new Map([['unchanged', sequential.length]]),
        0,
      ),
      row(
        `cache hit, the first ${WARM_UP_ROUNDS} bursts of ${CONCURRENCY} (warm-up, not in the figure)`,
        summarize(firstBursts.latencies),
        firstBursts.outcomes,
        0,
      ),
      row(
        `cache hit, ${CONCURRENCY} at a time (${fmt(hitPerSecond, 0)} admissions/s)`,
        hitSummary,
        hit.outcomes,
        hitRegistryRequests,
      ),
      row(
        `cache miss, ${CONCURRENCY} new repositories at once, default registry limits`,
        missDefaultSummary,
        missDefault.outcomes,
        missDefault.requests,
      ),
      row(
        `cache miss, ${CONCURRENCY} new repositories at once, limits raised`,
        missRaisedSummary,
        missRaised.outcomes,
        missRaised.requests,
      ),
      '',
      `With the decision cached, the controller (one thread: HTTPS, JSON, the decision) answered ${fmt(hitPerSecond, 0)} admissions/s, ${fmt(1000 / hitPerSecond, 2)} ms each, with this process sending on the same two cores; ${CONCURRENCY} reviews arriving together queue behind each other, so the p99 at ${CONCURRENCY} at once is mostly that queue and the one-at-a-time row the work itself. ` +
        `A cache miss costs the anonymous probe and the pod's credential check against the registry. The controller's per-registry limits (default \`--registry-requests-per-second 50\`, burst 100, \`--registry-concurrency 16\`; raised: \`--registry-requests-per-second 1000 --registry-concurrency 64\`) queue the questions of a burst, 16 in flight; a question beyond the bucket waits up to 2 s for its turn, and only one that would wait longer is not sent: it counts as a registry error and, with \`--on-registry-error always\`, forces the pull ("forced" above; the pod still starts if its secret reads the image).`,
      '',
      `**Registry requests for ${PODS} pod creations** (${TEAMS} teams × ${APPS_PER_TEAM} apps; every other pod runs one of its team's two busiest apps, the rest go round all ten; 1 pod in ${FOREIGN_EVERY} runs another team's image without a secret; 2 containers per pod; ${CONCURRENCY} at a time), against AlwaysPullImages on the same pods (one manifest request per container start; its auth round trips not counted). pullwatch's figure is the webhook's registry requests plus one manifest request per container it forced to pull:`,
      '',
      '| creations | webhook requests | containers forced (answers) | pullwatch total | AlwaysPullImages |',
      '| --- | --- | --- | --- | --- |',
      `| first ${PODS}, freshly started controller | ${cold.asked} | ${cold.forced} (${outcomeText(cold.outcomes)}) | **${cold.withPullwatch}** | ${cold.withAlwaysPull} |`,
      `| next ${PODS}, same controller | ${warm.asked} | ${warm.forced} (${outcomeText(warm.outcomes)}) | **${warm.withPullwatch}** | ${warm.withAlwaysPull} |`,
      '',
      `A cold controller's first burst asks every (credentials, repository) pair once; questions beyond the registry's bucket wait up to 2 s for their turn, and only those that would wait longer force the pull (--on-registry-error always): any container forced beyond the ${PODS / FOREIGN_EVERY} foreign ones is one of those. Proofs are kept 10 minutes and registry answers 12 hours; what could not be answered (a registry error) is not kept and is asked again, or forced again while the bucket refills.`,
      '',
      ...targetTable(targets),
    ].join('\n');
    return { body, targets };
  } finally {
    await teardowns.run();
  }
}

export const webhookBenchmark: Benchmark = {
  name: 'webhook',
  title: 'Admission webhook: latency and registry requests (issue 14)',
  summary:
    'webhook p50/p99 at 50 concurrent admissions (cache hit, miss); registry requests per 1,000 pods vs AlwaysPullImages',
  run,
};

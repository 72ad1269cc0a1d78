// 1. Full reconcile (snapshot to findings): what the agent computes on every change, at
// 1,000 / 5,000 / 20,000 cached images × 50 / 250 / 500 pods, against the raw CRI ListImages
// round trip for a 5,000-image cache on the real containerd.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { CachePoller } from '../agent/cri/cache-poller.ts';
import type { CriReader } from '../agent/cri/client.ts';
import { connectCri } from '../agent/cri/client.ts';
import type { CriError } from '../agent/cri/errors.ts';
import type { CriImage } from '../agent/cri/types.ts';
import { detect } from '../agent/detect/detect.ts';
import { alwaysPullImagesNotEnforced } from '../agent/detect/rules/always-pull-not-enforced.ts';
import { privateImageExposed } from '../agent/detect/rules/private-image-exposed.ts';
import { unauthorizedCachedImageUse } from '../agent/detect/rules/unauthorized-use.ts';
import { MINUTE, snapshotOf, T0 } from '../test/kit/snapshot-builder.ts';
import { secretKey } from '../agent/model/snapshot.ts';
import { startEmbeddedCriRuntime } from '../test/kit/embedded/cri-runtime.ts';
import { FindingsStore } from '../agent/findings/store.ts';
import { Inventory } from '../agent/image/inventory.ts';
import type { KubePort, ProvenancePort, RegistryPort } from '../agent/core/ports.ts';
import { NodeAgent } from '../agent/core/node-agent.ts';
import { VisibilityResolver } from '../agent/registry/visibility.ts';
import { err, ok } from '../agent/result.ts';
import type { BenchContext, Benchmark, TargetCheck } from './lib/benchmark.ts';
import { targetTable } from './lib/benchmark.ts';
import { realContainerdUnavailable, startContainerdWithImages } from './lib/containerd-cache.ts';
import { dockerfileEnvironment } from './lib/image-environment.ts';
import { machineLine, describeMachine } from './lib/machine.ts';
import type { Measured, MeasureOptions } from './lib/measure.ts';
import { collectGarbage, cpuMsNow, measureAsync, measureSync } from './lib/measure.ts';
import type { Scenario } from './lib/scenario.ts';
import {
  buildScenario,
  criImages,
  IGNORED_NAMESPACES,
  namespaceLabels,
  NODE,
  PUBLIC_REGISTRIES,
  snapshotParts,
  TENANT_LABEL,
} from './lib/scenario.ts';
import type { Summary } from './lib/stats.ts';
import { fmt, linearFit, summarize } from './lib/stats.ts';
import { Teardowns } from './lib/teardown.ts';

const IMAGE_COUNTS = [1000, 5000, 20_000] as const;
const POD_COUNTS = [50, 250, 500] as const;
const TARGET_MS = 25;

interface Point {
  readonly images: number;
  readonly pods: number;
  readonly findings: number;
  /** A new listing (one image more or less) through the cache poller, then NodeAgent.reconcile(). */
  readonly reconcile: Measured;
  /** NodeAgent.reconcile() alone: what a pod, secret or registry change costs. */
  readonly agent: Measured;
  /** The first reconcile of a process: a new Inventory parsed from scratch, snapshot, detect, store. */
  readonly cold: Measured;
  readonly detect: Measured;
  readonly inventory: Measured;
}

/** Only listImages is ever called by the cache poller here; Version answers "unimplemented". */
function fixedListing(images: readonly CriImage[]): CriReader {
  return changingListing(() => images);
}

export function changingListing(next: () => readonly CriImage[]): CriReader {
  return {
    endpoint: 'bench',
    version: () =>
      Promise.resolve(
        err<CriError>({
          kind: 'unimplemented',
          endpoint: 'bench',
          method: 'Version',
          message: 'bench reader',
        }),
      ),
    listImages: () => Promise.resolve(ok({ items: next(), rejected: [] })),
    close: () => undefined,
  } satisfies CriReader;
}

/**
 * Listings as the runtime hands them over: fresh objects every time (gRPC decodes anew), the
 * cache alternating between the scenario's images and the same plus one newly pulled image.
 */
export function alternatingListings(images: readonly CriImage[]): () => readonly CriImage[] {
  const pulled = criImages({
    images: [
      {
        seed: 'bench-new-pull',
        repo: 'registry.example.com/team-00/just-pulled',
        tags: ['registry.example.com/team-00/just-pulled:v1'],
        sizeBytes: 1_000_000n,
        owners: [],
      },
    ],
  });
  const copies = (list: readonly CriImage[]) =>
    Array.from({ length: 4 }, () =>
      list.map((i) => ({ ...i, repoTags: [...i.repoTags], repoDigests: [...i.repoDigests] })),
    );
  const listings = [...copies(images), ...copies([...images, ...pulled])];
  let n = 0;
  // Even calls list the plain cache, odd calls the cache with the new image: every call changes it.
  return () => {
    const listing = listings[(n % 2) * 4 + (Math.floor(n / 2) % 4)] ?? images;
    n += 1;
    return listing;
  };
}

/**
 * The agent's own NodeAgent over in-memory sources holding the scenario: reconcile() then does
 * exactly what it does per change in `pullwatch run` (provenance fold, snapshot, detect, store,
 * registry questions), minus I/O.
 */
export async function nodeAgentFor(
  scenario: Scenario,
  reader?: CriReader,
): Promise<{ agent: NodeAgent; cache: CachePoller }> {
  const parts = snapshotParts(scenario);
  const cache = new CachePoller(reader ?? fixedListing(parts.images), {
    intervalMs: 3_600_000,
    onChange: () => undefined,
  });
  await cache.refresh();
  const secrets = new Map(
    (parts.secrets ?? []).map((s) => [secretKey(s.namespace, s.name), s] as const),
  );
  const labels = Object.entries(namespaceLabels(scenario));
  const kube: KubePort = {
    // As the kube source does: the pod list afresh on every call, the secrets map the same
    // object while no secret changed.
    pods: () => [...parts.pods],
    namespaces: () => new Map(labels.map(([k, v]) => [k, { ...v }])),
    secrets: () => secrets,
    kubeletEvents: () => new Map(),
    health: () => ({ synced: true, up: true, lastSync: Date.now(), lastError: undefined }),
  };
  const resolver = new VisibilityResolver({
    registryProbe: 'off',
    verifyCredentials: false,
    publicRegistries: [...PUBLIC_REGISTRIES],
  });
  const registry: RegistryPort = {
    repositoryVisibility: (name, reference) => resolver.repositoryVisibility(name, reference),
    verifyCredential: (check, name, reference) =>
      check.via === 'self'
        ? resolver.verifyCredential(check.authorization, name, reference)
        : Promise.resolve('unknown'),
    probeCounts: () => new Map(),
  };
  const provenance: ProvenancePort = {
    readKubeletRecords: () =>
      Promise.resolve({ records: new Map(), available: false, problems: [] }),
    save: () => Promise.resolve(undefined),
  };
  const agent = new NodeAgent({
    node: NODE,
    cache,
    kube,
    registry,
    provenance,
    initialProvenance: snapshotOf(parts).provenance,
    tenantLabel: TENANT_LABEL,
    ignoredNamespaces: [...IGNORED_NAMESPACES],
    resyncIntervalMs: 60_000,
    logger: pino({ level: 'silent' }),
    now: () => T0 + 30 * MINUTE,
  });
  // The first reconcile asks the registry port about every repository; let the answers land.
  agent.reconcile();
  await new Promise((r) => setTimeout(r, 200));
  agent.reconcile();
  await new Promise((r) => setTimeout(r, 50));
  return { agent, cache };
}

/**
 * What the agent does when the runtime's listing changed: the poller signs and indexes the new
 * listing (reusing what did not change), then the agent reconciles.
 */
export async function measureListingReconcile(
  scenario: Scenario,
  options: MeasureOptions,
): Promise<Measured> {
  const parts = snapshotParts(scenario);
  const changing = await nodeAgentFor(scenario, changingListing(alternatingListings(parts.images)));
  const reconcile = await measureAsync(async () => {
    await changing.cache.refresh();
    changing.agent.reconcile();
  }, options);
  await changing.agent.stop();
  return reconcile;
}

async function measurePoint(images: number, pods: number, options: MeasureOptions): Promise<Point> {
  const scenario = buildScenario({ images, pods });
  const parts = snapshotParts(scenario);
  const reconcile = await measureListingReconcile(scenario, options);

  const steady = await nodeAgentFor(scenario);
  const agent = measureSync(() => {
    steady.agent.reconcile();
  }, options);
  await steady.agent.stop();

  const store = new FindingsStore();
  const cold = measureSync(() => {
    const snapshot = snapshotOf(parts);
    return store.apply(detect(snapshot), snapshot.takenAt);
  }, options);
  const prebuilt = snapshotOf(parts);
  const detected = measureSync(() => detect(prebuilt), options);
  const inventory = measureSync(() => new Inventory(parts.images), options);
  collectGarbage();
  return {
    images,
    pods,
    findings: scenario.expectedFindings,
    reconcile,
    agent,
    cold,
    detect: detected,
    inventory,
  };
}

/** Where the reconcile's time goes at one size: each step alone, CPU medians. */
function breakdown(images: number, pods: number, options: MeasureOptions): [string, Measured][] {
  const parts = snapshotParts(buildScenario({ images, pods }));
  const snapshot = snapshotOf(parts);
  const detected = detect(snapshot);
  const store = new FindingsStore();
  store.apply(detected, snapshot.takenAt);
  const next = alternatingListings(parts.images);
  let previous = new Inventory(next());
  return [
    [
      '`new Inventory()` from the CRI list, from nothing',
      measureSync(() => new Inventory(parts.images), options),
    ],
    [
      '`new Inventory(listing, previous)`, one image more or less',
      measureSync(() => (previous = new Inventory(next(), previous)), options),
    ],
    [
      '`snapshotOf()` of the test builder (Inventory from nothing included)',
      measureSync(() => snapshotOf(parts), options),
    ],
    [
      'rule unauthorized-cached-image-use',
      measureSync(() => unauthorizedCachedImageUse(snapshot), options),
    ],
    ['rule private-image-exposed', measureSync(() => privateImageExposed(snapshot), options)],
    [
      'rule always-pull-images-not-enforced',
      measureSync(() => alwaysPullImagesNotEnforced(snapshot), options),
    ],
    [
      '`FindingsStore.apply()`, same findings again',
      measureSync(() => store.apply(detected, snapshot.takenAt), options),
    ],
  ];
}

interface ListImagesResult {
  readonly label: string;
  readonly wall: Summary;
  readonly clientCpu: Summary;
  readonly note: string;
}

async function timeListImages(
  reader: CriReader,
  expected: number,
  iterations: number,
): Promise<{ wall: Summary; clientCpu: Summary }> {
  for (let i = 0; i < 3; i += 1) await reader.listImages();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const c0 = cpuMsNow();
    const w0 = performance.now();
    const listing = await reader.listImages();
    wall.push(performance.now() - w0);
    cpu.push(cpuMsNow() - c0);
    if (!listing.ok) throw new Error(`ListImages failed: ${listing.error.message}`);
    if (listing.value.items.length < expected)
      throw new Error(`ListImages listed ${listing.value.items.length} of ${expected} images`);
  }
  return { wall: summarize(wall), clientCpu: summarize(cpu) };
}

async function listImagesOnRealContainerd(
  context: BenchContext,
  iterations: number,
): Promise<ListImagesResult | string> {
  const unavailable = realContainerdUnavailable();
  if (unavailable !== undefined) return unavailable;
  const teardowns = new Teardowns();
  try {
    const containerd = await startContainerdWithImages(teardowns, 5000, {
      fresh: context.freshContainerd,
      log: (line) => {
        context.log(line);
      },
    });
    context.log(`ListImages on ${containerd.version} (${iterations} round trips)`);
    const timed = await timeListImages(containerd.reader, 5000, iterations);
    return {
      label: `real containerd (${containerd.version})`,
      ...timed,
      note:
        `5,000 images imported with \`ctr images import --no-unpack\` from one OCI archive built by ` +
        `test/helpers/oci.ts (buildManyImagesArchive): one tag each, no repo digests` +
        (containerd.importSeconds === undefined
          ? '; the image store was reused from an earlier run'
          : `; importing took ${fmt(containerd.importSeconds, 0)} s in this run`),
    };
  } catch (error) {
    return `the real containerd failed: ${String(error)}`;
  } finally {
    await teardowns.run();
  }
}

async function listImagesOnEmbeddedRuntime(iterations: number): Promise<ListImagesResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-cri-'));
  const images = snapshotParts(buildScenario({ images: 5000, pods: 0 })).images;
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images });
  const reader = connectCri({ socketPath: join(dir, 'cri.sock'), target: runtime.target });
  try {
    const timed = await timeListImages(reader, 5000, iterations);
    return {
      label: 'embedded runtime (test/kit/embedded/cri-runtime.ts, in the benchmark process)',
      ...timed,
      note: "the benchmark scenario's 5,000 images (tags and repo digests); the server runs in the measuring process, so only its wall time means something",
    };
  } finally {
    reader.close();
    await runtime.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function row(p: Point): string {
  const c = p.reconcile.cpu;
  const pair = (m: Measured) => `${fmt(m.cpu.median)} / ${fmt(m.cpu.p99)}`;
  return `| ${p.images.toLocaleString('en-US')} | ${p.pods} | ${p.findings.toLocaleString('en-US')} | ${fmt(c.median)} | ${fmt(c.p99)} | ${fmt(c.min)}–${fmt(c.max)} | ${fmt(p.reconcile.wall.median)} | ${pair(p.agent)} | ${pair(p.cold)} | ${pair(p.detect)} | ${fmt(p.inventory.cpu.median)} | ${c.n} |`;
}

function growth(points: readonly Point[], pick: (p: Point) => number): string {
  const fit = linearFit(
    points.map((p) => [p.images / 1000, p.pods / 100]),
    points.map(pick),
  );
  const [perThousandImages = Number.NaN, perHundredPods = Number.NaN] = fit.coefficients;
  return `${fmt(perThousandImages)} ms per 1,000 images, ${fmt(perHundredPods)} ms per 100 pods (intercept ${fmt(fit.intercept)} ms, R² ${fmt(fit.r2, 3)})`;
}

function rowSlope(
  points: readonly Point[],
  fixed: (p: Point) => boolean,
  x: (p: Point) => number,
  pick: (p: Point) => number,
): number {
  const chosen = points.filter(fixed);
  return (
    linearFit(
      chosen.map((p) => [x(p)]),
      chosen.map(pick),
    ).coefficients[0] ?? Number.NaN
  );
}

const CHILD = fileURLToPath(new URL('./lib/reconcile-child.ts', import.meta.url));
const runChild = promisify(execFile);

/** measureListingReconcile in a child process with `env` added to this one's environment. */
async function reconcileInChild(
  images: number,
  pods: number,
  options: MeasureOptions,
  env: Readonly<Record<string, string>>,
): Promise<Measured> {
  const { stdout } = await runChild(
    process.execPath,
    [CHILD, JSON.stringify([images, pods, options])],
    { env: { ...process.env, ...env }, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout) as Measured;
}

export const reconcileBenchmark: Benchmark = {
  name: 'reconcile',
  title: '1. Full reconcile (snapshot to findings)',
  summary:
    'New listing + agent reconcile (and pod change, cold start, detect alone) at 1k/5k/20k images × 50/250/500 pods; CRI ListImages',
  async run(context) {
    const machine = describeMachine();
    const iterations = context.quick ? 20 : 40;
    let listReal: ListImagesResult | string = 'not requested (--runtime embedded)';
    if (context.runtime !== 'embedded') {
      listReal = await listImagesOnRealContainerd(context, iterations);
      if (typeof listReal === 'string' && context.runtime === 'real') throw new Error(listReal);
    }
    context.log('ListImages on the embedded runtime');
    const listEmbedded = await listImagesOnEmbeddedRuntime(iterations);

    const options: MeasureOptions = context.quick
      ? { warmup: 3, minIterations: 10, maxIterations: 200, budgetMs: 700 }
      : { warmup: 5, minIterations: 20, maxIterations: 300, budgetMs: 1500 };
    const points: Point[] = [];
    for (const images of IMAGE_COUNTS) {
      for (const pods of POD_COUNTS) {
        context.log(`reconcile at ${images} images × ${pods} pods`);
        points.push(await measurePoint(images, pods, options));
      }
    }

    // The same reconcile in processes of their own: with the image's NODE_OPTIONS (as the agent
    // runs) and with none (V8's default young generation, as this process has).
    const imageEnv = await dockerfileEnvironment();
    const flagRuns: { label: string; measured: Measured }[] = [];
    for (const [label, env] of [
      [
        `the image's environment (${Object.entries(imageEnv)
          .map(([k, v]) => `\`${k}=${v}\``)
          .join(', ')})`,
        imageEnv,
      ],
      ['no NODE_OPTIONS (V8 sizes the young generation itself)', { NODE_OPTIONS: '' }],
    ] as const) {
      context.log(`reconcile at 5000 images × 500 pods, a process with ${label}`);
      flagRuns.push({ label, measured: await reconcileInChild(5000, 500, options, env) });
    }
    const asDeployed = (flagRuns[0] as { measured: Measured }).measured;

    context.log('reconcile: breakdown at 5000 images × 500 pods');
    const steps = breakdown(5000, 500, options);
    const at = points.find((p) => p.images === 5000 && p.pods === 500);
    if (at === undefined) throw new Error('no 5,000 × 500 point');
    const reference = typeof listReal === 'string' ? listEmbedded : listReal;
    const half = reference.wall.median / 2;
    const scenarioText = buildScenario({ images: 5000, pods: 500 }).describe();
    const lines = [
      `Measured ${machineLine(machine)}.`,
      '',
      `**Scenario** (bench/lib/scenario.ts), e.g. at 5,000 × 500: ${scenarioText}. Private images sit in per-tenant paths of a private registry (and a shared mirror), owned by the tenant whose secret pulled them (8 % by two tenants); public images come from docker.io, registry.k8s.io and quay.io (\`--public-registries\`); pods have an init container, an app and a sidecar (10 % of sidecars \`:latest\`/Always), some finished or failing to pull, 5 % in the ignored kube-system; tenants hold 1–3 pull secrets (own registry path, the whole mirror, Docker Hub); registry probing off, so an image is private because a tenant pulled it with a secret.`,
      '',
      "**Reconcile** = what the agent does when the runtime's listing changed: `CachePoller.refresh()` takes a new listing (fresh objects, as gRPC decodes them; every call alternates between the cache and the cache plus one newly pulled image), signs it and builds the new `Inventory` from the previous one (entries listed as before are taken over), then `NodeAgent.reconcile()` (provenance fold and comparison, snapshot, `detect()`, findings store, logging, registry questions) over in-memory sources holding the node. **Pod change** = `NodeAgent.reconcile()` alone: what a pod, secret or registry answer costs (the listing did not change). **Cold** = the first reconcile of a process: a new `Inventory` parsed from nothing (`snapshotOf()` of the test builder) + `detect()` + store, with nothing remembered. **detect()** = the rules alone, repeated on one snapshot. CPU time is `process.cpuUsage()` (user + system, all threads, so GC helpers count) around each run, after warm-up; wall time for comparison.",
      '',
      '| images | pods | findings | reconcile CPU median (ms) | p99 | min–max | wall median | pod change CPU median / p99 | cold median / p99 | detect() median / p99 | cold Inventory build median | n |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...points.map(row),
      '',
      '**Growth** (least-squares plane through the nine medians, CPU ms):',
      '',
      `- reconcile: ${growth(points, (p) => p.reconcile.cpu.median)}`,
      `- pod change: ${growth(points, (p) => p.agent.cpu.median)}`,
      `- cold: ${growth(points, (p) => p.cold.cpu.median)}`,
      `- detect() alone: ${growth(points, (p) => p.detect.cpu.median)}`,
      `- per 1,000 images the reconcile costs ${fmt(
        rowSlope(
          points,
          (p) => p.pods === 50,
          (p) => p.images / 1000,
          (p) => p.reconcile.cpu.median,
        ),
      )} ms at 50 pods and ${fmt(
        rowSlope(
          points,
          (p) => p.pods === 500,
          (p) => p.images / 1000,
          (p) => p.reconcile.cpu.median,
        ),
      )} ms at 500 pods; per 100 pods ${fmt(
        rowSlope(
          points,
          (p) => p.images === 1000,
          (p) => p.pods / 100,
          (p) => p.reconcile.cpu.median,
        ),
      )} ms at 1,000 images and ${fmt(
        rowSlope(
          points,
          (p) => p.images === 20_000,
          (p) => p.pods / 100,
          (p) => p.reconcile.cpu.median,
        ),
      )} ms at 20,000 images.`,
      '',
      '**Where the time goes at 5,000 images / 500 pods** (each step alone, CPU ms):',
      '',
      '| step | median | p99 | n |',
      '| --- | ---: | ---: | ---: |',
      ...steps.map(
        ([label, m]) => `| ${label} | ${fmt(m.cpu.median)} | ${fmt(m.cpu.p99)} | ${m.cpu.n} |`,
      ),
      '',
      '**CRI ListImages for a 5,000-image cache**, measured in the same run through `CriReader.listImages()` (gRPC round trip + decode), wall time per call:',
      '',
      '| runtime | median (ms) | p99 | min–max | client CPU median | n | notes |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...[...(typeof listReal === 'string' ? [] : [listReal]), listEmbedded].map(
        (l) =>
          `| ${l.label} | ${fmt(l.wall.median)} | ${fmt(l.wall.p99)} | ${fmt(l.wall.min)}–${fmt(l.wall.max)} | ${fmt(l.clientCpu.median)} | ${l.wall.n} | ${l.note} |`,
      ),
      ...(typeof listReal === 'string'
        ? [
            '',
            `The real containerd was **not** used: ${listReal}. The comparison below uses the embedded runtime instead.`,
          ]
        : []),
    ];
    const runtimeName =
      typeof listReal === 'string' ? 'embedded runtime (fallback)' : 'real containerd';
    const targets: TargetCheck[] = [
      {
        figure:
          'reconcile CPU median, 5,000 images / 500 pods (a new listing, then the agent reconcile)',
        target: `< ${TARGET_MS} ms`,
        measured: `${fmt(at.reconcile.cpu.median)} ms (p99 ${fmt(at.reconcile.cpu.p99)} ms)`,
        met: at.reconcile.cpu.median < TARGET_MS,
      },
      {
        figure:
          "reconcile CPU p99, 5,000 images / 500 pods, as the image runs the agent (the Dockerfile's NODE_OPTIONS, a process of its own)",
        target: `< ${TARGET_MS} ms`,
        measured: `${fmt(asDeployed.cpu.p99)} ms (median ${fmt(asDeployed.cpu.median)} ms; wall time p99 ${fmt(asDeployed.wall.p99)} ms; in this process, V8's default young generation: p99 ${fmt(at.reconcile.cpu.p99)} ms)`,
        met: asDeployed.cpu.p99 < TARGET_MS,
      },
      {
        figure: `reconcile vs CRI ListImages (${runtimeName}, 5,000 images)`,
        target: `< ½ of ${fmt(reference.wall.median)} ms = ${fmt(half)} ms`,
        measured: `${fmt(at.reconcile.cpu.median)} ms = ${fmt((at.reconcile.cpu.median / reference.wall.median) * 100, 0)} % of ListImages`,
        met: at.reconcile.cpu.median < half,
      },
      {
        figure: 'pod change (NodeAgent.reconcile() alone) CPU median, 5,000 / 500',
        target: `< ${TARGET_MS} ms`,
        measured: `${fmt(at.agent.cpu.median)} ms (p99 ${fmt(at.agent.cpu.p99)} ms)`,
        met: at.agent.cpu.median < TARGET_MS,
      },
      {
        figure: 'cold first reconcile CPU median, 5,000 / 500 (same target, for reference)',
        target: `< ${TARGET_MS} ms`,
        measured: `${fmt(at.cold.cpu.median)} ms (p99 ${fmt(at.cold.cpu.p99)} ms)`,
        met: at.cold.cpu.median < TARGET_MS,
      },
    ];
    lines.push(
      '',
      `**The young generation's cost** (bench/lib/reconcile-child.ts): the reconcile after a new listing at 5,000 images / 500 pods, as above, in a process of its own started with:`,
      '',
      '| process | CPU median (ms) | p99 | min–max | wall median | wall p99 | n |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...flagRuns.map(
        (r) =>
          `| ${r.label} | ${fmt(r.measured.cpu.median)} | ${fmt(r.measured.cpu.p99)} | ${fmt(r.measured.cpu.min)}–${fmt(r.measured.cpu.max)} | ${fmt(r.measured.wall.median)} | ${fmt(r.measured.wall.p99)} | ${r.measured.cpu.n} |`,
      ),
      '',
      "A reconcile after a new listing allocates about 4.4 MiB at 5,000 images / 500 pods (issue 16 cut it from 10.6 MiB: the inventory is made from the previous one by change, with layered maps, and the listing's loops leave no iterator garbage; inspector sampling heap profile, collected objects included). That still outgrows a 2 MiB semi-space within one reconcile, so what a reconcile keeps until the next is promoted and dies in old space. Issue 16 cut that from about 0.63 to 0.24 MiB per reconcile (inspector sampling, objects that outlived young GCs): a finding confirmed again stays the same object until its lastSeen is 30 s old, an owner's lastSeen moves in steps of a minute, and each container's cached image is remembered per container and kept when a new listing gives the same answer; what is left is mostly the new inventory's arrays. The old generation's mark-compact now runs about once per 70 back-to-back reconciles (was 30), and the p99 is those: CPU counts the GC helper threads' concurrent marking as well as the main thread's pause, wall time only what the reconcile waited. footprint's --max-semi-space-size table (section 3) shows what larger settings cost in RSS; here they did not lower the p99 (scratch runs at 4, 8 and 16 MiB, 2026-12-03).",
      '',
      '**Targets at 5,000 images / 500 pods:**',
      '',
      ...targetTable(targets),
    );
    return { body: lines.join('\n'), targets };
  },
};

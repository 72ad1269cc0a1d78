// Where the agent's memory goes (issue 16, point 1): a child process started with --expose-gc
// that loads the agent's parts one after another, then builds the data of a 5,000-image /
// 500-pod node, and after each step reports process.memoryUsage() and V8's code space after two
// forced GCs. The steps are cumulative, in this order: what a module shares with an earlier
// one (node:http, say) counts in the earlier step.
import v8 from 'node:v8';

export interface MemoryStep {
  readonly step: string;
  readonly kind: 'modules' | 'data' | 'baseline';
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly codeSpace: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-probe needs --expose-gc');

const steps: MemoryStep[] = [];
/** Retained until the end, so that each data step's memory stays counted. */
const kept: unknown[] = [];

function sample(step: string, kind: MemoryStep['kind']): void {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  const code = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'code_space');
  steps.push({
    step,
    kind,
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    codeSpace: code?.space_used_size ?? 0,
  });
}

const agent = (path: string): string => new URL(`../../agent/${path}`, import.meta.url).href;

sample('Node.js itself (an empty script)', 'baseline');
await import(agent('log.ts'));
sample('pino (agent/log.ts)', 'modules');
const cri = (await import(agent('cri/proto.ts'))) as typeof import('../../agent/cri/proto.ts');
await import(agent('cri/client.ts'));
sample('@grpc/grpc-js, @grpc/proto-loader, agent/cri', 'modules');
kept.push(cri.loadCriServices('v1'));
sample('the CRI v1 proto parsed (loadCriServices)', 'modules');
await import(agent('kube/cluster-access.ts'));
await import(agent('kube/kube-source.ts'));
sample('agent/kube (list-watch, in-cluster access; no client-node)', 'modules');
await import(agent('http/app.ts'));
await import(agent('http/server.ts'));
sample('express, agent/http', 'modules');
await import(agent('metrics/registry.ts'));
sample('prom-client, agent/metrics', 'modules');
await import(agent('registry/visibility.ts'));
sample('agent/registry (direct registry probing)', 'modules');
await import(agent('main.ts'));
sample('the rest of agent/main.ts (core, detect, provenance, reports, events, broker)', 'modules');

// The data: the benchmark's own scenario model is loaded first and not counted.
const scenarioModule = await import('./scenario.ts');
const builder = await import('../../test/kit/snapshot-builder.ts');
const { DetectionMemory } = (await import(
  agent('detect/memory.ts')
)) as typeof import('../../agent/detect/memory.ts');
const { detect } = (await import(
  agent('detect/detect.ts')
)) as typeof import('../../agent/detect/detect.ts');
const { FindingsStore } = (await import(
  agent('findings/store.ts')
)) as typeof import('../../agent/findings/store.ts');
const scenario = scenarioModule.sharedBenchNode();
kept.push(scenario);
sample("the benchmark's scenario model (not in the agent)", 'baseline');
const images = scenarioModule.criImages(scenario);
const parts = scenarioModule.snapshotParts(scenario, images);
const snapshot = builder.snapshotOf(parts);
kept.push(images, snapshot);
sample(
  'the CRI listing (5,000 images as the client hands them over) and the node snapshot: Inventory, 500 PodViews, secrets, provenance',
  'data',
);
const memory = new DetectionMemory();
const detected = detect(snapshot, memory);
kept.push(memory);
sample("detection's memos (DetectionMemory) after one detect()", 'data');
const store = new FindingsStore();
kept.push(store.apply(detected, snapshot.takenAt), store);
sample(`${detected.length.toLocaleString('en-US')} findings in the findings store`, 'data');

// What the agent no longer loads in a pod (it did before issue 16): client-node, which an agent
// given --kubeconfig, and the controller, still load.
await import('@kubernetes/client-node');
sample(
  '@kubernetes/client-node: not loaded by the agent in a pod; loaded with --kubeconfig and by the controller',
  'baseline',
);

process.stdout.write(`${JSON.stringify(steps)}\n`);

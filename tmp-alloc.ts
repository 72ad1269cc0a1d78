import { Session } from 'node:inspector/promises';
import { alternatingListings, changingListing, nodeAgentFor } from './bench/reconcile.ts';
import { buildScenario, snapshotParts } from './bench/lib/scenario.ts';

const scenario = buildScenario({ images: 5000, pods: 500 });
const parts = snapshotParts(scenario);
const changing = await nodeAgentFor(scenario, changingListing(alternatingListings(parts.images)));
const run = async () => { await changing.cache.refresh(); changing.agent.reconcile(); };
for (let i = 0; i < 30; i++) await run();
const s = new Session(); s.connect();
await s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
const N = 40;
for (let i = 0; i < N; i++) await run();
const { profile } = (await s.post('HeapProfiler.stopSampling')) as { profile: { head: Node } };
interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const self = new Map<string, number>(); const total = new Map<string, number>();
let all = 0;
const walk = (n: Node, stack: Set<string>): number => {
  const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*\/main\//, '')}:${n.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + n.selfSize); all += n.selfSize;
  let sum = n.selfSize; const inner = new Set(stack); inner.add(key);
  for (const c of n.children) sum += walk(c, inner);
  if (!stack.has(key)) total.set(key, (total.get(key) ?? 0) + sum);
  return sum;
};
walk(profile.head, new Set());
const mb = (b: number) => (b / N / 1048576).toFixed(2);
console.log('per reconcile MiB total', mb(all));
console.log('--- self');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(mb(v), k);
console.log('--- total');
for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(mb(v), k);
const tree = (n: Node, depth: number, pad: string, parentTotal: number): void => {
  const sum = (x: Node): number => x.selfSize + x.children.reduce((a, c) => a + sum(c), 0);
  const kids = n.children.map((c) => [c, sum(c)] as const).sort((a, b) => b[1] - a[1]);
  for (const [c, v] of kids) {
    if (v / N < 0.04 * 1048576) continue;
    console.log(pad + mb(v), c.callFrame.functionName || '(anon)', c.callFrame.url.replace(/.*\/main\//, '') + ':' + (c.callFrame.lineNumber + 1));
    if (depth > 0) tree(c, depth - 1, pad + '  ', v);
  }
};
const find = (n: Node, name: string): Node | undefined => n.callFrame.functionName === name ? n : n.children.map((c) => find(c, name)).find((x) => x);
for (const f of (process.env.FNS ?? 'reconcile').split(',')) { const n = find(profile.head, f); if (n) { console.log('=== ' + f); tree(n, 4, '  ', 0); } }
await changing.agent.stop();

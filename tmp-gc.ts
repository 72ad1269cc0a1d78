import { PerformanceObserver } from 'node:perf_hooks';
import { constants } from 'node:perf_hooks';
import { alternatingListings, changingListing, nodeAgentFor } from './bench/reconcile.ts';
import { buildScenario, snapshotParts } from './bench/lib/scenario.ts';

const scenario = buildScenario({ images: 5000, pods: 500 });
const parts = snapshotParts(scenario);
const changing = await nodeAgentFor(scenario, changingListing(alternatingListings(parts.images)));
const run = async () => { await changing.cache.refresh(); changing.agent.reconcile(); };
for (let i = 0; i < 30; i++) await run();
let gcs: { kind: number; d: number }[] = [];
const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push({ kind: (e as any).detail.kind, d: e.duration }); });
obs.observe({ entryTypes: ['gc'] });
const rows: { cpu: number; wall: number; g: string }[] = [];
for (let i = 0; i < 100; i++) {
  await new Promise((r) => setTimeout(r, 20));
  gcs = [];
  const c0 = process.cpuUsage(); const w0 = performance.now();
  await run();
  const c = process.cpuUsage(c0); const w = performance.now() - w0;
  await new Promise((r) => setImmediate(r));
  const names: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'S', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'M', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'I', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'W' };
  rows.push({ cpu: (c.user + c.system) / 1000, wall: w, g: gcs.map((g) => `${names[g.kind] ?? g.kind}${g.d.toFixed(1)}`).join(' ') });
}
rows.sort((a, b) => b.cpu - a.cpu);
for (const r of rows.slice(0, 12)) console.log(r.cpu.toFixed(1), r.wall.toFixed(1), r.g);
console.log('median', rows[50]?.cpu.toFixed(1), rows[50]?.wall.toFixed(1), rows[50]?.g);
for (const r of rows.slice(80, 85)) console.log(r.cpu.toFixed(1), r.wall.toFixed(1), r.g);
await changing.agent.stop();

// Runs bench/lib/memory-probe.ts in child processes (with the container image's environment)
// and writes its steps as a table: where the agent's memory goes, by module and by data.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { MemoryStep } from './memory-probe.ts';
import { MiB } from './proc.ts';
import { fmt, summarize } from './stats.ts';

const PROBE = fileURLToPath(new URL('./memory-probe.ts', import.meta.url));
const run = promisify(execFile);

/** Each step's median over `runs` fresh processes. */
export async function measureMemoryBreakdown(
  env: Readonly<Record<string, string>>,
  runs: number,
): Promise<MemoryStep[]> {
  const all: MemoryStep[][] = [];
  for (let i = 0; i < runs; i += 1) {
    const { stdout } = await run(process.execPath, ['--expose-gc', PROBE], {
      env: { ...process.env, ...env },
      maxBuffer: 1 << 20,
    });
    all.push(JSON.parse(stdout) as MemoryStep[]);
  }
  const first = all[0] ?? [];
  const median = (i: number, pick: (s: MemoryStep) => number): number =>
    summarize(all.map((steps) => pick(steps[i] as MemoryStep))).median;
  return first.map((s, i) => ({
    step: s.step,
    kind: s.kind,
    rss: median(i, (x) => x.rss),
    heapUsed: median(i, (x) => x.heapUsed),
    external: median(i, (x) => x.external),
    codeSpace: median(i, (x) => x.codeSpace),
  }));
}

const mib = (bytes: number): string => fmt(bytes / MiB, 1);
const delta = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${mib(bytes)}`;

/** The steps as a Markdown table: totals after each step and what the step added. */
export function memoryBreakdownTable(steps: readonly MemoryStep[]): string[] {
  const rows = steps.map((s, i) => {
    const previous = i === 0 ? undefined : steps[i - 1];
    const added = (pick: (x: MemoryStep) => number): string =>
      previous === undefined ? mib(pick(s)) : delta(pick(s) - pick(previous));
    return `| ${s.kind} | ${s.step} | ${added((x) => x.rss)} | ${added((x) => x.heapUsed)} | ${added((x) => x.external)} | ${mib(s.rss)} | ${mib(s.heapUsed)} |`;
  });
  return [
    '| kind | step (cumulative, in this order) | RSS added (MiB) | heapUsed added | external added | RSS after | heapUsed after |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
}

/** Module steps that added more than `overBytes` of RSS, with what each added. */
export function heavyModuleSteps(
  steps: readonly MemoryStep[],
  overBytes: number,
): { readonly step: string; readonly addedBytes: number }[] {
  return steps.flatMap((s, i) => {
    const previous = steps[i - 1];
    const added = previous === undefined ? s.rss : s.rss - previous.rss;
    return s.kind === 'modules' && added > overBytes ? [{ step: s.step, addedBytes: added }] : [];
  });
}

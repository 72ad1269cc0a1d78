// Repeats a synchronous piece of work and records the CPU time (process.cpuUsage: user +
// system, every thread of the process, so GC helper threads count) and wall time of each run.
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Summary } from './stats.ts';
import { summarize } from './stats.ts';

v8.setFlagsFromString('--expose-gc');
/** A full garbage collection, to start each measurement from the same heap state. */
export const collectGarbage = vm.runInNewContext('gc') as () => void;

export interface MeasureOptions {
  readonly warmup: number;
  readonly minIterations: number;
  readonly maxIterations: number;
  /** Stop after this much wall time once minIterations are done. */
  readonly budgetMs: number;
}

export interface Measured {
  readonly cpu: Summary;
  readonly wall: Summary;
}

export function cpuMsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function measureSync(work: () => unknown, options: MeasureOptions): Measured {
  for (let i = 0; i < options.warmup; i += 1) work();
  collectGarbage();
  const cpu: number[] = [];
  const wall: number[] = [];
  const started = performance.now();
  while (
    cpu.length < options.maxIterations &&
    (cpu.length < options.minIterations || performance.now() - started < options.budgetMs)
  ) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    work();
    const w1 = performance.now();
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / 1000);
    wall.push(w1 - w0);
  }
  return { cpu: summarize(cpu), wall: summarize(wall) };
}

/** measureSync for work that awaits (already settled or in-process promises only). */
export async function measureAsync(
  work: () => Promise<unknown>,
  options: MeasureOptions,
): Promise<Measured> {
  for (let i = 0; i < options.warmup; i += 1) await work();
  collectGarbage();
  const cpu: number[] = [];
  const wall: number[] = [];
  const started = performance.now();
  while (
    cpu.length < options.maxIterations &&
    (cpu.length < options.minIterations || performance.now() - started < options.budgetMs)
  ) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await work();
    const w1 = performance.now();
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / 1000);
    wall.push(w1 - w0);
  }
  return { cpu: summarize(cpu), wall: summarize(wall) };
}

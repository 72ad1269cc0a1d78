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

/** The bookkeeping of one measurement: how many runs, and each run's CPU and wall time. */
class Runs {
  readonly #options: MeasureOptions;
  readonly #cpu: number[] = [];
  readonly #wall: number[] = [];
  readonly #started = performance.now();

  constructor(options: MeasureOptions) {
    this.#options = options;
  }

  another(): boolean {
    const done = this.#cpu.length;
    return (
      done < this.#options.maxIterations &&
      (done < this.#options.minIterations ||
        performance.now() - this.#started < this.#options.budgetMs)
    );
  }

  start(): { readonly cpu: NodeJS.CpuUsage; readonly wall: number } {
    return { cpu: process.cpuUsage(), wall: performance.now() };
  }

  stop(started: { readonly cpu: NodeJS.CpuUsage; readonly wall: number }): void {
    const wall = performance.now() - started.wall;
    const cpu = process.cpuUsage(started.cpu);
    this.#cpu.push((cpu.user + cpu.system) / 1000);
    this.#wall.push(wall);
  }

  measured(): Measured {
    return { cpu: summarize(this.#cpu), wall: summarize(this.#wall) };
  }
}

export function measureSync(work: () => unknown, options: MeasureOptions): Measured {
  for (let i = 0; i < options.warmup; i += 1) work();
  collectGarbage();
  const runs = new Runs(options);
  while (runs.another()) {
    const started = runs.start();
    work();
    runs.stop(started);
  }
  return runs.measured();
}

/** measureSync for work that awaits (already settled or in-process promises only). */
export async function measureAsync(
  work: () => Promise<unknown>,
  options: MeasureOptions,
): Promise<Measured> {
  for (let i = 0; i < options.warmup; i += 1) await work();
  collectGarbage();
  const runs = new Runs(options);
  while (runs.another()) {
    const started = runs.start();
    await work();
    runs.stop(started);
  }
  return runs.measured();
}

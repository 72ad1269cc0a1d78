// What Linux says about another process: CPU time and resident memory (from /proc), for the
// agent measured from outside.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcSample {
  /** user + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** When it was taken (performance.now()). */
  readonly at: number;
}

export async function sampleProcess(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  // "pid (comm) state ..." — comm may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return {
    cpuSeconds: (utime + stime) / ticksPerSecond(),
    rssBytes: rssKb * 1024,
    at: performance.now(),
  };
}

export const MiB = 1024 * 1024;

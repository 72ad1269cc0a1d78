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
  /**
   * RSS split as /proc/PID/status does: anonymous memory (the process's own heap, stacks,
   * buffers) and file pages (the node binary's and libraries' text: shared with every process
   * that maps the same files, and clean, so the kernel may reclaim them).
   */
  readonly anonBytes: number;
  readonly fileBytes: number;
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
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return {
    cpuSeconds: (utime + stime) / ticksPerSecond(),
    rssBytes: kb('VmRSS'),
    anonBytes: kb('RssAnon'),
    fileBytes: kb('RssFile'),
    at: performance.now(),
  };
}

export const MiB = 1024 * 1024;

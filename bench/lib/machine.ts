// Where a figure was measured: the first lines of every section of BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly containerd: string | undefined;
}

function containerdVersion(): string | undefined {
  try {
    return execFileSync('containerd', ['--version'], { encoding: 'utf8' }).trim().split(' ')[2];
  } catch {
    return undefined;
  }
}

/** The model name, plus family/model, clock and "virtual machine" when /proc/cpuinfo tells. */
function cpuModel(): string {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    info = '';
  }
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const model = os.cpus()[0]?.model.trim() || field('model name') || 'unknown CPU';
  const details = [
    field('cpu family') !== undefined
      ? `family ${field('cpu family')} model ${field('model')}`
      : '',
    field('cpu MHz') !== undefined ? `${(Number(field('cpu MHz')) / 1000).toFixed(1)} GHz` : '',
    / hypervisor( |$)/m.test(field('flags') ?? '') ? 'virtual machine' : '',
  ].filter((d) => d !== '');
  return details.length > 0 ? `${model} (${details.join(', ')})` : model;
}

export function describeMachine(): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    containerd: containerdVersion(),
  };
}

export function machineLine(m: Machine): string {
  return `${m.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · Node.js ${m.node} · ${m.kernel}`;
}

/** Machine-wide CPU busy time from /proc/stat (all processes, not only the benchmark's). */
function cpuTotals(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((s, v) => s + v, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Watches how busy the machine is while a benchmark runs: others may share it. */
export function watchLoad(): () => string {
  const start = cpuTotals();
  const loads: number[] = [os.loadavg()[0] ?? 0];
  const timer = setInterval(() => loads.push(os.loadavg()[0] ?? 0), 5000);
  timer.unref();
  return () => {
    clearInterval(timer);
    loads.push(os.loadavg()[0] ?? 0);
    const end = cpuTotals();
    const busy =
      start !== undefined && end !== undefined && end.total > start.total
        ? ((end.busy - start.busy) / (end.total - start.total)) * 100
        : Number.NaN;
    const mean = loads.reduce((s, v) => s + v, 0) / loads.length;
    return (
      `Machine load while this ran: 1-min load average ${mean.toFixed(2)} on average (max ${Math.max(...loads).toFixed(2)}) on ${os.availableParallelism()} cores, ` +
      `all CPUs ${Number.isFinite(busy) ? busy.toFixed(0) : '?'} % busy` +
      ' (the benchmark, the processes it starts, and anything else on the machine).'
    );
  };
}

/**
 * Which agent code was measured: the last commit that changed agent/ outside its tests, and
 * how many such files differ from it on disk (other people may be editing the checkout).
 */
export function sourceRevision(): string {
  const cwd = new URL('../../', import.meta.url);
  const git = (args: readonly string[]): string =>
    execFileSync('git', [...args], { cwd, encoding: 'utf8' }).trim();
  const runtimeCode = [
    '--',
    'agent',
    ':(exclude)agent/**/*.test.ts',
    ':(exclude)agent/**/*.test-helper.ts',
  ];
  try {
    const commit = git(['log', '-1', '--format=%h', ...runtimeCode]);
    const dirty = git(['status', '--porcelain', ...runtimeCode])
      .split('\n')
      .filter((l) => l.trim() !== '').length;
    return dirty === 0
      ? `agent/ as of commit ${commit}`
      : `agent/ as of commit ${commit} with ${dirty} file(s) changed on disk`;
  } catch {
    return 'agent/ at an unknown revision';
  }
}

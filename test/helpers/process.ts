// Long-running child processes (containerd, docker-registry) that tests start,
// with logs in a file, a graceful stop, a hard kill, and a way to prove that
// none is left behind.

import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number;
  /** Short label for messages, e.g. `containerd`. */
  readonly name: string;
  /** stdout and stderr of the process (appended). */
  readonly logPath: string;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** SIGKILL; resolves once it has exited. */
  kill(): Promise<ExitInfo>;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): Promise<string>;
}

const living = new Set<number>();

// Safety nets for a test process that dies without running its teardowns:
// 1. on a normal exit or an uncaught exception, SIGKILL whatever is still alive;
// 2. (Linux) start each daemon through util-linux `setpriv --pdeathsig SIGKILL`,
//    so the kernel kills it when this process dies in any way, including tap's
//    SIGALRM on timeout and SIGKILL. setpriv execs the daemon: the pid is the same.
process.on('exit', () => {
  for (const pid of living) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = ((): boolean => {
  try {
    accessSync(SETPRIV, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

/** PIDs of processes started through {@link startProcess} that have not exited. */
export function trackedLivePids(): number[] {
  return [...living];
}

export interface StartProcessOptions {
  readonly name: string;
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function startProcess(
  command: string,
  args: readonly string[],
  options: StartProcessOptions,
): ManagedProcess {
  const fd = openSync(options.logPath, 'a');
  let child;
  try {
    const [file, argv] = hasSetpriv
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args]]
      : [command, [...args]];
    child = spawn(file, argv, {
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
  } finally {
    closeSync(fd);
  }
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      if (child.pid !== undefined) living.delete(child.pid);
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      // spawn failure (ENOENT ...): no 'exit' follows.
      console.error(`${options.name}: ${err.message}`);
      exitInfo = { code: -1, signal: null };
      resolve(exitInfo);
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) living.add(pid);

  const hasExited = (): boolean => exitInfo !== undefined;
  const signal = (sig: NodeJS.Signals): void => {
    if (hasExited()) return;
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  const kill = async (): Promise<ExitInfo> => {
    signal('SIGKILL');
    return exited;
  };
  const stop = async (graceMs = 10_000): Promise<ExitInfo> => {
    if (hasExited()) return exited;
    signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, graceMs);
    });
    const first = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (first === 'timeout') return kill();
    return first;
  };
  const logTail = async (lines = 30): Promise<string> => {
    try {
      const text = await readFile(options.logPath, 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  return {
    pid,
    name: options.name,
    logPath: options.logPath,
    exited,
    hasExited,
    stop,
    kill,
    logTail,
  };
}

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly cmdline: string;
}

/** Every process visible in /proc (Linux only). */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const out: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const rest = stat.slice(close + 2).split(' ');
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      const state = rest[0];
      if (state === 'Z') continue; // exited, waiting to be reaped
      out.push({
        pid: Number(entry),
        ppid: Number(rest[1]),
        comm: stat.slice(open + 1, close),
        cmdline: cmdline.split('\0').join(' ').trim(),
      });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * Processes that are children of this test process and named like one of
 * `names` (matched against the command name and argv[0]), or whose command line
 * mentions one of `markers` (e.g. the temp dir of a config file: catches
 * daemons that were re-parented).
 */
export async function leftoverProcesses(
  names: readonly string[],
  markers: readonly string[] = [],
): Promise<ProcessInfo[]> {
  const all = await listProcesses();
  return all.filter((p) => {
    if (p.pid === process.pid) return false;
    const argv0 = p.cmdline.split(' ')[0] ?? '';
    const named = names.some((n) => p.comm === n.slice(0, 15) || argv0.endsWith(`/${n}`));
    if (named && p.ppid === process.pid) return true;
    return markers.some((m) => m !== '' && p.cmdline.includes(m));
  });
}

import type { CommandIo } from '../../agent/cli/io.ts';

/** A CommandIo that records what a command prints, for running CLI commands in-process. */
export function captureIo(
  env: Readonly<Record<string, string>> = {},
): CommandIo & { out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

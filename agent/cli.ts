#!/usr/bin/env node
// The `pullwatch` binary. It checks the Node.js version first and only then loads the commands
// (agent/cli/commands.ts) with a dynamic import. Node parses and links every static import of
// an entry before the entry's first line runs, so a static import here would put the whole
// command tree on an old Node before the check: syntax it cannot parse fails with a stack
// trace, and on Node 20 (no import.meta.main) the CLI used to print nothing and exit 0. Hence
// only node: builtins are imported statically, and this file runs on any Node since 16.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandIo } from './cli/io.ts';

/** The oldest Node.js major pullwatch runs on: package.json "engines". */
export const NODE_MAJOR_NEEDED = 24;

/** The one line a Node.js older than {@link NODE_MAJOR_NEEDED} gets; undefined when new enough. */
export function nodeVersionProblem(version: string, execPath: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= NODE_MAJOR_NEEDED) return undefined;
  return `pullwatch needs Node.js ${NODE_MAJOR_NEEDED} or newer, but ${execPath} is Node.js ${version}`;
}

/** Runs one command in-process (tests): the `main` of agent/cli/commands.ts. */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const commands = await import('./cli/commands.ts');
  return commands.main(argv, io);
}

/** True when Node runs this file as its entry, rather than a test importing it. */
function isEntry(): boolean {
  if (typeof import.meta.main === 'boolean') return import.meta.main;
  // Node before 24.2 (and 22.18) has no import.meta.main: compare with the script Node runs.
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const problem = nodeVersionProblem(process.version, process.execPath);
  if (problem === undefined) {
    const commands = await import('./cli/commands.ts');
    await commands.runProcess(process.argv.slice(2));
  } else {
    process.stderr.write(`${problem}\n`);
    process.exitCode = 1;
  }
}

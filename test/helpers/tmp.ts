// Temporary directories that disappear when the test that made them ends.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of a tap `Test` the helpers need: a place to register clean-up. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/**
 * Registers `fn` as a teardown that never throws. tap runs teardowns last-in
 * first-out and drops the remaining ones when one throws, so a failing clean-up
 * must not stop the others (a leaked containerd outlives the test run).
 */
export function safeTeardown(t: TeardownHost, label: string, fn: () => Promise<void>): void {
  t.teardown(async () => {
    try {
      await fn();
    } catch (err) {
      console.error(`teardown "${label}" failed:`, err);
    }
  });
}

/** Creates `os.tmpdir()/pullwatch-<prefix>-XXXXXX` without registering clean-up. */
export async function createTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pullwatch-${prefix}-`));
}

/** Removes a directory tree; missing is fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
}

/** A temp dir under `os.tmpdir()` that is removed (recursively) at teardown. */
export async function makeTempDir(t: TeardownHost, prefix: string): Promise<string> {
  const dir = await createTempDir(prefix);
  safeTeardown(t, `remove ${dir}`, () => removeDir(dir));
  return dir;
}

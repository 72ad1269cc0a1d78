// The agent as it is deployed: compiled by `tsc -p tsconfig.build.json` (what `npm run build`
// and the Dockerfile do), into a temp dir laid out like the image (dist/, proto/,
// docs/openapi.yaml, package.json, node_modules), so the repository's dist/ is left alone.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Teardowns } from './teardown.ts';

const execFileP = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Builds the agent and returns the path of its `cli.js`. */
export async function buildAgent(teardowns: Teardowns): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'pullwatch-bench-dist-'));
  teardowns.teardown(() => rm(root, { recursive: true, force: true }));
  await execFileP(
    process.execPath,
    [TSC, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(root, 'dist')],
    { cwd: REPO, timeout: 300_000 },
  );
  await symlink(join(REPO, 'node_modules'), join(root, 'node_modules'));
  await symlink(join(REPO, 'proto'), join(root, 'proto'));
  await mkdir(join(root, 'docs'));
  await copyFile(join(REPO, 'docs', 'openapi.yaml'), join(root, 'docs', 'openapi.yaml'));
  await copyFile(join(REPO, 'package.json'), join(root, 'package.json'));
  return join(root, 'dist', 'agent', 'cli.js');
}

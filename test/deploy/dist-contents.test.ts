// What the agent ships: `npm run build` (tsc -p tsconfig.build.json) compiles agent/ into
// dist/agent, which the image copies and package.json's "files" publishes. Test and demo code
// (the embedded API server and runtime, the fakes, the demo, the test helpers) lives under
// test/kit and must not come back into it, nor may anything shipped import a development
// dependency (ajv, tap, fast-check...) or a file outside dist/agent (test/, bench/).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import ts from 'typescript';
import { makeTempDir } from '../helpers/tmp.ts';

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

/** File names that only test and demo code has. */
const TEST_ONLY_NAME =
  /(^|\/)(embedded|demo|testing|fakes?|mocks?)(\/|[-.])|(^|[/-])testing[-.]|snapshot-builder|openapi-testing|\.test(-helper)?\.js/;

async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await filesUnder(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** Module specifiers a compiled file imports: static, re-exported and literal dynamic ones. */
function importsOf(code: string): string[] {
  // TypeScript's own scanner, so that a string like `c['secrets-from'] === '...'` is not taken
  // for an import.
  return ts.preProcessFile(code, true, true).importedFiles.map((f) => f.fileName);
}

/** `@scope/name/sub` -> `@scope/name`; `name/sub` -> `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/** Everything in a compiled dist/ that should not ship, in words; empty when clean. */
async function problemsOf(dist: string): Promise<string[]> {
  const problems: string[] = [];
  const files = await filesUnder(dist);
  for (const file of files) {
    if (!file.startsWith('agent/')) problems.push(`${file}: compiled from outside agent/`);
    else if (TEST_ONLY_NAME.test(file)) problems.push(`${file}: test or demo code`);
    if (!file.endsWith('.js')) continue;
    for (const specifier of importsOf(await readFile(join(dist, file), 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = posix.join(posix.dirname(file), specifier);
        if (!target.startsWith('agent/')) {
          problems.push(`${file}: imports ${specifier}, outside dist/agent`);
        } else if (!files.includes(target)) {
          problems.push(`${file}: imports ${specifier}, which the build did not emit`);
        }
      } else if (!isBuiltin(specifier) && !(packageOf(specifier) in PACKAGE.dependencies)) {
        problems.push(`${file}: imports ${specifier}, not a production dependency`);
      }
    }
  }
  return problems;
}

t.test('the build ships the agent only: no fakes, demo, tests or dev dependencies', async (t) => {
  const dir = await makeTempDir(t, 'dist');
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  await exec(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], {
    cwd: REPO,
    maxBuffer: 16 * 1024 * 1024,
  });
  const files = await filesUnder(join(dir, 'dist'));
  t.ok(files.includes('agent/cli.js'), 'the pullwatch binary is built');
  t.ok(files.includes('agent/main.js'), 'and the agent it runs');
  t.same(await problemsOf(join(dir, 'dist')), []);
});

t.test('control: a fake put back under agent/ is caught', async (t) => {
  const dist = join(await makeTempDir(t, 'dist-control'), 'dist');
  const write = async (file: string, code: string) => {
    await mkdir(dirname(join(dist, file)), { recursive: true });
    await writeFile(join(dist, file), code);
  };
  await write('agent/cli.js', "import { pino } from 'pino';\nimport('./cli/run-command.js');\n");
  await write('agent/cli/run-command.js', "import { createServer } from 'node:http';\n");
  await write('agent/embedded/cri-runtime.js', "import * as grpc from '@grpc/grpc-js';\n");
  await write('agent/http/openapi-checker.js', "import { Ajv2020 } from 'ajv/dist/2020.js';\n");
  await write('agent/kube/testing.js', 'export {};\n');
  await write('agent/cri/cache-poller.test.js', "import t from 'tap';\n");
  await write('agent/core/derive.js', "import { snapshotOf } from '../../test/kit/snapshot.js';\n");
  await write('test/kit/story.js', 'export {};\n');
  t.same(await problemsOf(dist), [
    'agent/core/derive.js: imports ../../test/kit/snapshot.js, outside dist/agent',
    'agent/cri/cache-poller.test.js: test or demo code',
    'agent/cri/cache-poller.test.js: imports tap, not a production dependency',
    'agent/embedded/cri-runtime.js: test or demo code',
    'agent/http/openapi-checker.js: imports ajv/dist/2020.js, not a production dependency',
    'agent/kube/testing.js: test or demo code',
    'test/kit/story.js: compiled from outside agent/',
  ]);
});

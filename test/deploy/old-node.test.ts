// `pullwatch` on a Node.js older than package.json "engines" allows: every command must exit 1
// with one line on stderr naming the Node found and the Node needed, never run silently (issue
// 10, item 6: with Node 20, `node dist/agent/cli.js version` printed nothing and exited 0).
//
// The old Node is this machine's /usr/bin/node when it is older than 24 (Debian's CI machines
// have one). It runs the binary as `npm run build` compiles it, reduced to what Node loads before
// the binary's first line runs: agent/cli.ts and, transitively, every module it imports
// statically, each compiled with tsconfig.build.json's options (isolatedModules: one file at a
// time gives the build's output). A static import of the command tree would be loaded here too.
// The unit table of versions is agent/cli.test.ts, which runs on any machine.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { makeTempDir } from '../helpers/tmp.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = join(REPO, 'agent/cli.ts');
const OLD_NODE = '/usr/bin/node';
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const NEEDED =
  /^>=(\d+)$/.exec(PACKAGE.engines.node)?.[1] ?? `unreadable "${PACKAGE.engines.node}"`;

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runNode(node: string, args: readonly string[]): Promise<Exit> {
  return new Promise((done, fail) => {
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      done({ code, stdout, stderr });
    });
  });
}

/** Compiles `entry` and its static imports into `outDir` as the build would; returns cli.js. */
async function compileStaticGraph(entry: string, outDir: string): Promise<string> {
  const config = ts.getParsedCommandLineOfConfigFile(join(REPO, 'tsconfig.build.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error('tsconfig.build.json could not be read');
  const queue = [entry];
  const compiled = new Set<string>();
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (compiled.has(file)) continue;
    compiled.add(file);
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { ...config.options, sourceMap: false },
      // The build knows these are ES modules from package.json "type": "module"; one file
      // compiled alone has no package.json, so it is named as an ES module (.mts).
      fileName: file.replace(/\.ts$/, '.mts'),
    });
    const out = join(outDir, relative(REPO, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
    // Static imports and re-exports of the emitted JavaScript; import() calls are not statements.
    const js = ts.createSourceFile(out, outputText, ts.ScriptTarget.Latest);
    for (const statement of js.statements) {
      if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
      const specifier = statement.moduleSpecifier;
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
      if (!specifier.text.startsWith('.')) continue;
      queue.push(resolve(dirname(file), specifier.text.replace(/\.js$/, '.ts')));
    }
  }
  return join(outDir, relative(REPO, entry)).replace(/\.ts$/, '.js');
}

t.test(`on Node.js older than ${NEEDED}, every command exits 1 with one line`, async (t) => {
  const version = existsSync(OLD_NODE)
    ? (await runNode(OLD_NODE, ['--version'])).stdout.trim()
    : '';
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (!(major < Number(NEEDED))) {
    t.plan(0, `skipped: ${OLD_NODE} is ${version || 'absent'}, not older than Node.js ${NEEDED}`);
    return;
  }
  const dir = await makeTempDir(t, 'old-node');
  const cli = await compileStaticGraph(ENTRY, join(dir, 'dist'));
  const line = `pullwatch needs Node.js ${NEEDED} or newer, but ${OLD_NODE} is Node.js ${version}\n`;
  for (const args of [['version'], ['run'], ['scan', '--once'], ['images'], ['--help'], []]) {
    const exit = await runNode(OLD_NODE, [cli, ...args]);
    t.same(
      exit,
      { code: 1, stdout: '', stderr: line },
      `pullwatch ${args.join(' ') || '(no command)'} on ${version}: exit 1, one line naming both versions`,
    );
  }
});

t.test(`on this Node.js (${process.version}) the commands run`, async (t) => {
  const exit = await runNode(process.execPath, [ENTRY, 'version']);
  t.equal(exit.code, 0);
  t.match(exit.stdout, `, Node.js ${process.version})\n`);
  t.equal(exit.stderr, '');
  const usage = await runNode(process.execPath, [ENTRY]);
  t.equal(usage.code, 2, 'no command: the usage, exit 2');
  t.match(usage.stdout, /^Usage: pullwatch <command>/m);
});

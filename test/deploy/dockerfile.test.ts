// The container image, checked without a Docker engine (none runs on these machines):
// - the Dockerfile is parsed and its stages, base images, user, entrypoint, labels and COPY
//   steps are asserted;
// - .dockerignore is applied to the repository to get the build context, which must hold every
//   file the Dockerfile copies and the compiler reads, and nothing private;
// - the COPY and RUN steps are replayed into temp directories (`npm ci` stands in as the
//   checkout's node_modules) and the resulting /app runs `pullwatch version`, and `pullwatch run`
//   plays the Admin1/Admin2 story (test/kit/story.ts) on an embedded runtime and API server;
// - `pullwatch run` from that /app is started as PID 1 of its own PID namespace, as in a
//   container, and must exit cleanly on SIGTERM.
// What this cannot prove: that the base images exist and that `npm ci` succeeds in them.

import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import YAML from 'yaml';
import { findTool, requireTools } from '../helpers/real-parts.ts';
import { freePort } from '../helpers/ports.ts';
import { startProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { startEmbeddedWorld } from '../kit/demo/embedded-world.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { ADMIN2_POD, playStory, Story } from '../kit/story.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import { loadConfig } from '../../agent/config.ts';

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  files: string[];
};

// ---------------------------------------------------------------------------------------------
// A Dockerfile parser for the subset this repository uses (no heredocs, default escape char).

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    // Comment lines are dropped, also in the middle of a continued instruction.
    if (/^\s*#/.test(line)) return;
    if (pending === '' && line.trim() === '') return;
    if (pending === '') start = index + 1;
    const continued = line.endsWith('\\');
    pending += `${continued ? line.slice(0, -1) : line} `;
    if (continued) return;
    const match = /^\s*(\S+)\s*(.*)$/.exec(pending.trim());
    pending = '';
    if (match?.[1] !== undefined) {
      out.push({ keyword: match[1].toUpperCase(), args: match[2] ?? '', line: start });
    }
  });
  return out;
}

/** Words of a shell-like line: whitespace-separated, with "..." and '...' quoting. */
function words(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)].map(
    (m) => m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? m[3] ?? '',
  );
}

/** `key=value` pairs of LABEL, ENV and ARG (values may be quoted). */
function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([\w.-]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g)) {
    const key = m[1];
    if (key === undefined) continue;
    const value = m[2] ?? '';
    out[key] = /^["']/.test(value) ? (words(value)[0] ?? '') : value;
  }
  return out;
}

function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: { base: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const [base = '', as, name] = words(instruction.args);
      stages.push({
        base,
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') Object.assign(globalArgs, keyValues(instruction.args));
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

function substitute(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a?: string, b?: string) => {
    const value = vars[a ?? b ?? ''];
    return value ?? all;
  });
}

function jsonForm(args: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((x) => typeof x === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly dest: string;
}

function parseCopy(args: string): Copy {
  const parts = jsonForm(args) ?? words(args);
  const flags = parts.filter((p) => p.startsWith('--'));
  const paths = parts.filter((p) => !p.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** Where a COPY lands, given the stage's WORKDIR at that point. */
function destinationOf(stage: Stage, copyIndex: number, dest: string): string {
  let workdir = '/';
  for (const instruction of stage.instructions.slice(0, copyIndex)) {
    if (instruction.keyword === 'WORKDIR') workdir = posix.resolve(workdir, instruction.args);
  }
  return posix.resolve(workdir, dest) + (dest.endsWith('/') ? '/' : '');
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's rules: patterns are globs relative to the context root; a
// pattern that matches a directory also matches everything below it; `!` re-includes; the last
// matching pattern decides.

interface IgnoreRule {
  readonly negated: boolean;
  readonly pattern: RegExp;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i);
    if (c === '*' && glob.charAt(i + 1) === '*') {
      source += '.*';
      i++;
      if (glob.charAt(i + 1) === '/') i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const cleaned = posix.normalize(negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      return { negated, pattern: globToRegExp(cleaned) };
    });
}

function isExcluded(rules: readonly IgnoreRule[], path: string): boolean {
  const segments = path.split('/');
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.pattern.test(p))) excluded = !rule.negated;
  }
  return excluded;
}

/** Every file of the repository (no .git, no node_modules), relative, with / separators. */
async function repositoryFiles(dir = REPO, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await repositoryFiles(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const ignoreRules = parseDockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
const stageNamed = (name: string): Stage => {
  const stage = dockerfile.stages.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`Dockerfile has no stage "${name}"`);
  return stage;
};
const final = dockerfile.stages.at(-1) as Stage;
const resolveBase = (stage: Stage) => substitute(stage.base, dockerfile.globalArgs);

t.test('the parser reads what Docker reads', async (t) => {
  const parsed = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1',
      'ARG BASE=node:24',
      'FROM ${BASE} AS one',
      'RUN a \\',
      '  # a comment inside',
      ' && b',
      'LABEL x.y="two words" z=3',
      'COPY --from=one /src/a ./b/',
    ].join('\n'),
  );
  t.same(parsed.globalArgs, { BASE: 'node:24' });
  const stage = parsed.stages[0] as Stage;
  t.equal(substitute(stage.base, parsed.globalArgs), 'node:24');
  t.same(
    stage.instructions.map((i) => [i.keyword, i.args.replace(/\s+/g, ' ').trim()]),
    [
      ['RUN', 'a && b'],
      ['LABEL', 'x.y="two words" z=3'],
      ['COPY', '--from=one /src/a ./b/'],
    ],
  );
  t.same(keyValues('x.y="two words" z=3'), { 'x.y': 'two words', z: '3' });
  t.same(parseCopy('--from=one /src/a ./b/'), { from: 'one', sources: ['/src/a'], dest: './b/' });
  const rules = parseDockerignore('*\n!agent/\n**/node_modules\n');
  t.notOk(isExcluded(rules, 'agent/x.ts'));
  t.ok(isExcluded(rules, 'agent/node_modules/x.js'));
  t.ok(isExcluded(rules, 'secret.env'));
});

t.test('three stages: build, production dependencies, distroless runtime', async (t) => {
  t.same(
    dockerfile.stages.map((s) => s.name),
    ['build', 'prod-deps', 'runtime'],
  );
  t.match(resolveBase(stageNamed('build')), /^node:24(\.\d+)*-bookworm-slim(@sha256:.*)?$/);
  t.match(resolveBase(stageNamed('prod-deps')), /^node:24(\.\d+)*-bookworm-slim(@sha256:.*)?$/);
  // Not :nonroot (the runtime socket needs root) and not :debug (a shell).
  t.match(resolveBase(final), /^gcr\.io\/distroless\/nodejs24-debian12(@sha256:[0-9a-f]{64})?$/);
});

t.test(
  'the build stage compiles with dev dependencies; prod-deps installs only production',
  async (t) => {
    const runs = (name: string) => all(stageNamed(name), 'RUN').map((r) => r.args);
    t.match(runs('build').join('\n'), /npm ci\b/);
    t.match(runs('build').join('\n'), /npm run build\b/);
    t.same(
      runs('prod-deps').filter((r) => /\bnpm\b/.test(r)),
      [runs('prod-deps').find((r) => /npm ci --omit=dev\b/.test(r))],
      'one npm command, and it omits devDependencies (no TypeScript, tap, or the `node` binary)',
    );
  },
);

t.test('the runtime stage has no shell steps, no npm, no health check', async (t) => {
  t.same(all(final, 'RUN'), [], 'distroless has no shell: nothing runs at build time');
  for (const stage of dockerfile.stages) {
    t.same(all(stage, 'HEALTHCHECK'), [], `${stage.name ?? '?'}: Kubernetes probes instead`);
  }
  const copies = all(final, 'COPY').map((c) => parseCopy(c.args));
  t.notOk(
    copies.some((c) => c.sources.some((s) => /(^|\/)(npm|npx|\.npmrc)$/.test(s))),
    'npm is never copied in',
  );
});

t.test('the runtime image holds only what the agent reads', async (t) => {
  const copies = all(final, 'COPY').map((instruction) => {
    const copy = parseCopy(instruction.args);
    const index = final.instructions.indexOf(instruction);
    return { ...copy, dest: destinationOf(final, index, copy.dest) };
  });
  t.same(
    copies.map((c) => [c.from ?? 'context', c.sources.join(' '), c.dest]),
    [
      ['prod-deps', '/app/node_modules', '/app/node_modules'],
      ['build', '/src/dist/agent', '/app/dist/agent'],
      ['context', 'package.json', '/app/'],
      ['context', 'proto/', '/app/proto/'],
      ['context', 'docs/openapi.yaml', '/app/docs/openapi.yaml'],
    ],
  );
  // What npm would publish (package.json "files") is what the image carries.
  t.same([...PACKAGE.files].sort(), ['dist', 'docs/openapi.yaml', 'proto']);
});

t.test('runs as root, with node as the entrypoint and `run` as the command', async (t) => {
  t.same(
    all(final, 'USER').map((u) => u.args.trim()),
    ['0:0'],
    'explicitly uid 0: connect() on the runtime socket needs write access to a root-owned file',
  );
  const entrypoint = all(final, 'ENTRYPOINT').map((e) => jsonForm(e.args));
  const cmd = all(final, 'CMD').map((c) => jsonForm(c.args));
  t.same(entrypoint, [['/nodejs/bin/node', 'dist/agent/cli.js']], 'exec form, no shell');
  t.same(cmd, [['run']]);
  t.same(
    all(final, 'WORKDIR').map((w) => w.args),
    ['/app'],
  );
  const defaults = loadConfig([], { NODE_NAME: 'node-a', POD_NAMESPACE: 'pullwatch' });
  const port = defaults.ok ? `${defaults.value.listen.port}` : defaults.error;
  t.same(
    all(final, 'EXPOSE').map((e) => e.args),
    [port],
    'the default --listen port',
  );
});

t.test('OCI labels carry the version and revision given at build time', async (t) => {
  const labels = Object.assign({}, ...all(final, 'LABEL').map((l) => keyValues(l.args))) as Record<
    string,
    string
  >;
  const args = Object.assign({}, ...all(final, 'ARG').map((a) => keyValues(a.args))) as Record<
    string,
    string
  >;
  for (const key of [
    'title',
    'description',
    'version',
    'revision',
    'created',
    'licenses',
    'source',
    'base.name',
  ]) {
    t.ok(labels[`org.opencontainers.image.${key}`], `org.opencontainers.image.${key}`);
  }
  t.equal(labels['org.opencontainers.image.version'], '${VERSION}');
  t.equal(labels['org.opencontainers.image.revision'], '${REVISION}');
  t.equal(labels['org.opencontainers.image.licenses'], PACKAGE.license);
  t.equal(args.VERSION, PACKAGE.version, "the default VERSION is package.json's");
  const env = Object.assign({}, ...all(final, 'ENV').map((e) => keyValues(e.args))) as Record<
    string,
    string
  >;
  t.equal(env.PULLWATCH_REVISION, '${REVISION}', 'pullwatch version and build_info report it');
});

t.test(
  'run and controller handle SIGTERM themselves (Node as PID 1 has no default handlers)',
  async (t) => {
    const lifecycle = readFileSync(join(REPO, 'agent/cli/until-signalled.ts'), 'utf8');
    t.match(lifecycle, /process\.once\('SIGTERM'/);
    t.match(lifecycle, /process\.once\('SIGINT'/);
    for (const command of ['run-command.ts', 'controller-command.ts']) {
      const source = readFileSync(join(REPO, 'agent/cli', command), 'utf8');
      t.match(source, /runUntilSignalled\(/, `${command} stops through runUntilSignalled`);
    }
  },
);

// ---------------------------------------------------------------------------------------------
// The build context

const contextFiles = (await repositoryFiles()).filter((f) => !isExcluded(ignoreRules, f));

t.test('the build context holds what the Dockerfile copies and nothing private', async (t) => {
  for (const stage of dockerfile.stages) {
    for (const copy of all(stage, 'COPY').map((c) => parseCopy(c.args))) {
      if (copy.from !== undefined) continue;
      for (const source of copy.sources) {
        const dir = source.replace(/\/$/, '');
        t.ok(
          contextFiles.some((f) => f === dir || f.startsWith(`${dir}/`)),
          `${stage.name ?? '?'}: ${source} is in the context`,
        );
      }
    }
  }
  for (const path of [
    'node_modules/x/index.js',
    'agent/node_modules/x.js',
    'dist/agent/cli.js',
    '.git/config',
    '.env',
    '.tap/report.json',
    'manifests/base/daemonset.yaml',
    'kubeconfig',
    'npm-debug.log',
  ]) {
    t.ok(isExcluded(ignoreRules, path), `${path} stays out of the context`);
  }
});

t.test('the compiler finds every file it reads in the build stage', async (t) => {
  // tsc lists the files the build reads: agent/ and what the unit tests beside it import.
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  const { stdout } = await exec(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--listFilesOnly'],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  const read = stdout
    .split('\n')
    .map((f) => f.trim())
    .filter((f) => f.startsWith(REPO) && !f.includes('/node_modules/'))
    .map((f) => f.slice(REPO.length));
  t.ok(read.length > 50, `${read.length} source files`);
  const build = stageNamed('build');
  const copied = all(build, 'COPY')
    .map((c) => parseCopy(c.args))
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources.map((s) => s.replace(/\/$/, '')));
  const missing = read.filter(
    (f) => !contextFiles.includes(f) || !copied.some((c) => f === c || f.startsWith(`${c}/`)),
  );
  t.same(missing, [], 'every source file is in the context and copied into the build stage');
});

// ---------------------------------------------------------------------------------------------
// Replaying the image

/** Replays COPY and RUN steps into `root` (a stand-in for `/`). `npm ci` is not run. */
async function replayStage(
  stage: Stage,
  root: string,
  context: string,
  stageRoots: Readonly<Record<string, string>>,
  buildArgs: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  let workdir = '/';
  const env: Record<string, string> = {};
  const args: Record<string, string> = {};
  const inRoot = (path: string) => join(root, path);
  for (const instruction of stage.instructions) {
    const vars = { ...args, ...env };
    switch (instruction.keyword) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, substitute(instruction.args, vars));
        await mkdir(inRoot(workdir), { recursive: true });
        break;
      case 'ARG':
        for (const [k, v] of Object.entries(keyValues(instruction.args))) {
          args[k] = buildArgs[k] ?? dockerfile.globalArgs[k] ?? v;
        }
        break;
      case 'ENV':
        for (const [k, v] of Object.entries(keyValues(instruction.args))) {
          env[k] = substitute(v, vars);
        }
        break;
      case 'COPY': {
        const copy = parseCopy(instruction.args);
        const sourceRoot = copy.from === undefined ? context : stageRoots[copy.from];
        if (sourceRoot === undefined) throw new Error(`COPY --from=${copy.from ?? ''}: no stage`);
        const dest = posix.resolve(workdir, copy.dest);
        for (const source of copy.sources) {
          const from = copy.from === undefined ? join(context, source) : join(sourceRoot, source);
          const to =
            copy.dest.endsWith('/') && !source.endsWith('/')
              ? join(inRoot(dest), posix.basename(source))
              : inRoot(dest);
          await mkdir(dirname(to), { recursive: true });
          if (copy.from !== undefined && source.endsWith('/node_modules')) {
            // `npm ci` was not run: the checkout's node_modules stands in (a superset).
            await symlink(join(REPO, 'node_modules'), to);
          } else {
            await cp(from, to, { recursive: true });
          }
        }
        break;
      }
      case 'RUN': {
        const command = instruction.args.trim();
        if (/^npm ci\b/.test(command)) {
          if (!existsSync(inRoot(posix.join(workdir, 'node_modules')))) {
            await symlink(join(REPO, 'node_modules'), inRoot(posix.join(workdir, 'node_modules')));
          }
          break;
        }
        await exec('sh', ['-c', command], {
          cwd: inRoot(workdir),
          env: { ...process.env, ...env },
          maxBuffer: 16 * 1024 * 1024,
        });
        break;
      }
      default:
        break;
    }
  }
  return env;
}

interface ReplayedImage {
  readonly app: string;
  readonly env: Readonly<Record<string, string>>;
  readonly entrypoint: readonly string[];
}

async function replayImage(
  t: TeardownHost,
  buildArgs: Readonly<Record<string, string>>,
): Promise<ReplayedImage> {
  const dir = await makeTempDir(t, 'image');
  const context = join(dir, 'context');
  for (const file of contextFiles) {
    await mkdir(dirname(join(context, file)), { recursive: true });
    await cp(join(REPO, file), join(context, file));
  }
  const roots: Record<string, string> = {};
  let env: Record<string, string> = {};
  for (const stage of dockerfile.stages) {
    const root = join(dir, stage.name ?? `stage-${dockerfile.stages.indexOf(stage)}`);
    await mkdir(root, { recursive: true });
    env = await replayStage(stage, root, context, roots, buildArgs);
    if (stage.name !== undefined) roots[stage.name] = root;
  }
  const finalRoot = roots[final.name ?? ''] ?? '';
  const workdir = all(final, 'WORKDIR').at(-1)?.args ?? '/';
  const entrypoint = jsonForm(all(final, 'ENTRYPOINT').at(-1)?.args ?? '') ?? [];
  return { app: join(finalRoot, workdir), env, entrypoint };
}

/** The image's command line with this machine's Node 24 in place of /nodejs/bin/node. */
function commandLine(image: ReplayedImage, args: readonly string[]): [string, string[]] {
  const [node, ...rest] = image.entrypoint;
  if (node !== '/nodejs/bin/node') throw new Error(`unexpected entrypoint ${node ?? ''}`);
  return [process.execPath, [...rest, ...args]];
}

t.test('the replayed image runs the agent', { timeout: 240_000 }, async (t) => {
  const image = await replayImage(t, { REVISION: 'abc1234', VERSION: PACKAGE.version });
  const run = (args: readonly string[]) => {
    const [cmd, argv] = commandLine(image, args);
    return exec(cmd, argv, {
      cwd: image.app,
      env: { PATH: process.env.PATH ?? '', ...image.env },
      timeout: 60_000,
    });
  };

  t.test('only compiled JavaScript, without the tests', async (t) => {
    const files = await repositoryFilesUnder(join(image.app, 'dist'));
    t.ok(files.includes('agent/cli.js'), 'dist/agent/cli.js is there');
    t.same(
      files.filter((f) => /\.test(-helper)?\.js(\.map)?$/.test(f) || f.endsWith('.ts')),
      [],
      'no compiled tests, no TypeScript sources',
    );
    t.notOk(existsSync(join(image.app, 'dist/test')), 'no test helpers');
  });

  t.test('`pullwatch version` names the version and the build revision', async (t) => {
    const { stdout } = await run(['version']);
    t.match(stdout, `pullwatch ${PACKAGE.version} (revision abc1234, Node.js v24.`);
  });

  t.test('the demo is not in the image: it lives under test/kit', async (t) => {
    const failed = await run(['demo', '--exit']).then(
      () => undefined,
      (error: unknown) => error as { code?: number; stderr?: string },
    );
    t.equal(failed?.code, 2, 'exit 2, as for any unknown command');
    t.match(failed?.stderr, /unknown command "demo"/);
  });

  t.test('`pullwatch run` plays the story: protos, OpenAPI document and findings', async (t) => {
    const dir = await makeTempDir(t, 'image-story');
    const world = await startEmbeddedWorld(dir);
    t.teardown(() => world.stop());
    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    const story = new Story(api, world, 'node-a');
    story.setUp();
    await writeFile(join(dir, 'kubeconfig.yaml'), api.kubeconfigYaml());
    const port = await freePort();
    const [cmd, argv] = commandLine(image, [
      'run',
      '--node-name=node-a',
      `--kubeconfig=${join(dir, 'kubeconfig.yaml')}`,
      `--cri-endpoint=${world.criEndpoint}`,
      `--state-dir=${join(dir, 'state')}`,
      `--kubelet-root=${join(dir, 'kubelet')}`,
      `--listen=127.0.0.1:${port}`,
      '--auth=none',
      '--cri-poll-interval=1s',
      '--secrets-from=direct',
      ...world.agentArgs,
    ]);
    const agent = startProcess(cmd, argv, {
      name: 'pullwatch-image',
      logPath: join(dir, 'agent.log'),
      cwd: image.app,
      env: { PATH: process.env.PATH ?? '', ...image.env },
    });
    t.teardown(() => agent.stop(5_000));
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      const body: unknown = await res.json();
      return { status: res.status, body };
    };
    const started = await waitFor(
      'the agent from the image to be ready',
      async () => {
        if (agent.hasExited()) return 'exited';
        return (await get('/readyz')).status === 200 ? 'ready' : undefined;
      },
      20_000,
    );
    if (started === 'exited') throw new Error(`exited at start:\n${await agent.logTail()}`);

    const flagged = await playStory(story, {
      ownerRecorded: async () => {
        await waitFor(
          'tenant-a as the owner',
          async () => {
            const { body } = await get('/api/v1/images');
            const items = (body as { items: { repoTags: string[]; owners: unknown[] }[] }).items;
            return items.some((i) => i.repoTags.includes(world.secretImage) && i.owners.length > 0)
              ? true
              : undefined;
          },
          10_000,
        );
      },
      flagged: () =>
        waitFor(
          "the finding on Admin2's pod",
          async () => {
            const { body } = await get('/api/v1/findings?rule=unauthorized-cached-image-use');
            return (body as { items: { namespace: string; pod: string }[] }).items[0];
          },
          10_000,
        ),
    });
    t.match(flagged, { namespace: ADMIN2_POD.namespace, pod: ADMIN2_POD.name });
    const openApi = await get('/openapi.json');
    t.equal(openApi.status, 200);
    t.match(openApi.body, { openapi: /^3\.1/ }, 'docs/openapi.yaml is in the image and served');
  });

  t.test('as PID 1, `pullwatch run` stops on SIGTERM', async (t) => {
    if (!requireTools(t, ['unshare'], { root: true })) return;
    const dir = await makeTempDir(t, 'pid1');
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    // An API server that is not there: the agent starts anyway and keeps retrying.
    await writeFile(
      kubeconfig,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const [cmd, argv] = commandLine(image, [
      'run',
      '--node-name=node-a',
      `--kubeconfig=${kubeconfig}`,
      `--cri-endpoint=unix://${join(dir, 'no-runtime.sock')}`,
      `--state-dir=${join(dir, 'state')}`,
      `--kubelet-root=${join(dir, 'kubelet')}`,
      '--listen=127.0.0.1:0',
      '--secrets-from=direct',
    ]);
    const exit = await asPid1(t, cmd, argv, image, 'pullwatch agent started', 'SIGTERM', 10_000);
    t.equal(exit.stillRunning, false, 'exited after SIGTERM');
    t.equal(exit.code, 0, 'clean exit');
    t.match(exit.output, /"msg":"stopped"/);
  });

  t.test('control: Node as PID 1 without a handler ignores SIGTERM', async (t) => {
    if (!requireTools(t, ['unshare'], { root: true })) return;
    const exit = await asPid1(
      t,
      process.execPath,
      ['-e', 'console.log("up"); setInterval(() => {}, 1000)'],
      image,
      'up',
      'SIGTERM',
      2_000,
    );
    t.equal(exit.stillRunning, true, 'the signal was ignored: this is why the agent has a handler');
  });
});

async function repositoryFilesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await repositoryFilesUnder(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}

interface Pid1Exit {
  readonly stillRunning: boolean;
  readonly code: number | null;
  readonly output: string;
}

/**
 * Runs a command as PID 1 of a new PID namespace (util-linux unshare, as a container runtime
 * does), waits for `readyText` in its output, sends `signal` from outside the namespace, and
 * reports whether it exited within `waitMs`. The kernel delivers such a signal to a namespace's
 * init only when the process has a handler for it.
 */
async function asPid1(
  t: TeardownHost,
  cmd: string,
  argv: readonly string[],
  image: ReplayedImage,
  readyText: string,
  signal: NodeJS.Signals,
  waitMs: number,
): Promise<Pid1Exit> {
  const unshare = findTool('unshare') ?? 'unshare';
  const child = spawn(unshare, ['--pid', '--fork', '--kill-child', cmd, ...argv], {
    cwd: image.app,
    env: { PATH: process.env.PATH ?? '', ...image.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      resolve(code);
    });
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 30_000;
  while (!output.includes(readyText)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`never printed "${readyText}":\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // unshare's only child is the namespace's PID 1.
  const children = await readFile(
    `/proc/${child.pid ?? 0}/task/${child.pid ?? 0}/children`,
    'utf8',
  );
  const init = Number(children.trim().split(/\s+/)[0]);
  const status = await readFile(`/proc/${init}/status`, 'utf8');
  const nsPid = /^NSpid:\s+\d+\s+(\d+)/m.exec(status)?.[1];
  if (nsPid !== '1') throw new Error(`expected PID 1 in the new namespace, got ${nsPid ?? '?'}`);
  process.kill(init, signal);
  const code = await Promise.race([
    exited,
    new Promise<'running'>((r) => {
      setTimeout(() => {
        r('running');
      }, waitMs);
    }),
  ]);
  if (code === 'running') {
    child.kill('SIGKILL'); // --kill-child takes the namespace's init with it
    await exited;
    return { stillRunning: true, code: null, output };
  }
  return { stillRunning: false, code, output };
}

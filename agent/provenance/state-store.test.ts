import { spawn } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { chmod, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import type { ImageProvenance } from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import { NODE, T0, sampleImages, sampleState } from './state-fixtures.test-helper.ts';
import { encodeProvenanceState } from './state-format.ts';
import { STATE_FILE_NAME, loadProvenance, saveProvenance, stateFilePath } from './state-store.ts';

const NOW = T0 + 3_600_000;
const STAMP = '20250601T110000.000Z';

t.test('a first start (no state file) loads empty provenance without a problem', async (t) => {
  const dir = await makeTempDir(t, 'state');
  t.same(await loadProvenance(dir, { node: NODE, now: NOW }), {
    outcome: 'missing',
    images: new Map(),
    savedAt: undefined,
    problems: [],
  });
});

t.test('saved provenance loads back as it was', async (t) => {
  const dir = await makeTempDir(t, 'state');
  const saved = await saveProvenance(dir, sampleState());
  t.match(saved, { ok: true, value: { path: stateFilePath(dir) } });
  const loaded = await loadProvenance(dir, { node: NODE, now: NOW });
  t.same(loaded, {
    outcome: 'loaded',
    images: sampleImages(),
    savedAt: sampleState().savedAt,
    problems: [],
  });
  t.equal((await stat(stateFilePath(dir))).mode & 0o777, 0o600, 'the file is private');
  t.same(await readdir(dir), [STATE_FILE_NAME], 'no temp file is left behind');
});

t.test('saving twice replaces the file', async (t) => {
  const dir = await makeTempDir(t, 'state');
  await saveProvenance(dir, sampleState());
  const fewer = new Map<ImageId, ImageProvenance>([...sampleImages()].slice(0, 1));
  await saveProvenance(dir, { node: NODE, savedAt: NOW, images: fewer });
  t.same((await loadProvenance(dir, { node: NODE, now: NOW })).images, fewer);
});

t.test('the state directory is created when missing', async (t) => {
  const dir = join(await makeTempDir(t, 'state'), 'a', 'b');
  t.equal((await saveProvenance(dir, sampleState())).ok, true);
  t.equal((await loadProvenance(dir, { node: NODE })).outcome, 'loaded');
});

const unusable: readonly { name: string; text: string; message: RegExp }[] = [
  {
    name: 'a corrupt file (not JSON) is moved aside and named in the problem',
    text: '{"schemaVersion": 2, "node": "node-1", "ima',
    message:
      /was corrupt \(not JSON: .*\); moved to .*provenance\.json\.corrupt-20250601T110000\.000Z; provenance will be rebuilt$/,
  },
  {
    name: 'a file with one invalid entry is moved aside whole',
    text: encodeProvenanceState(sampleState()).replace('"observed-pull"', '"hearsay"'),
    message: /was corrupt \(invalid images\.1\.owners\.0\.source: .*\); moved to /,
  },
  {
    name: 'a file from a newer pullwatch is moved aside with a message saying so',
    text: encodeProvenanceState(sampleState()).replace('"schemaVersion": 2', '"schemaVersion": 7'),
    message:
      /was written by a newer pullwatch \(schemaVersion 7 is newer than 2, the newest this version understands\); moved to /,
  },
  {
    name: "another node's file is moved aside",
    text: encodeProvenanceState({ ...sampleState(), node: 'node-9' }),
    message: /belongs to another node \(written by node "node-9"/,
  },
  {
    name: 'a file that is not UTF-8 is moved aside',
    text: '\uFFFD',
    message: /was corrupt \(not UTF-8 text\)/,
  },
];

for (const c of unusable) {
  t.test(c.name, async (t) => {
    const dir = await makeTempDir(t, 'state');
    const bytes =
      c.text === '\uFFFD' ? Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) : Buffer.from(c.text, 'utf8');
    await writeFile(stateFilePath(dir), bytes);
    const loaded = await loadProvenance(dir, { node: NODE, now: NOW });
    t.equal(loaded.outcome, 'set-aside');
    t.same(loaded.images, new Map());
    t.equal(loaded.problems.length, 1);
    t.match(loaded.problems[0], c.message);
    t.match(loaded.problems[0], `state file ${stateFilePath(dir)} `);
    const aside = join(dir, `${STATE_FILE_NAME}.corrupt-${STAMP}`);
    t.same(await readdir(dir), [`${STATE_FILE_NAME}.corrupt-${STAMP}`]);
    t.same(await readFile(aside), bytes, 'the bad file is kept for a post-mortem');
    t.equal((await loadProvenance(dir, { node: NODE, now: NOW })).outcome, 'missing');
  });
}

t.test('only the newest few set-aside files are kept', async (t) => {
  const dir = await makeTempDir(t, 'state');
  for (let i = 0; i < 8; i++) {
    await writeFile(stateFilePath(dir), 'garbage');
    await loadProvenance(dir, { node: NODE, now: NOW + i * 1000 });
  }
  const names = (await readdir(dir)).sort();
  t.equal(names.length, 5);
  t.match(names[4], /corrupt-20250601T110007\.000Z$/);
});

t.test('a state file that cannot be read is reported and left in place', async (t) => {
  const dir = await makeTempDir(t, 'state');
  await writeFile(join(dir, 'elsewhere'), '{}');
  await symlink(join(dir, 'elsewhere'), stateFilePath(dir));
  const loaded = await loadProvenance(dir, { node: NODE, now: NOW });
  t.equal(loaded.outcome, 'unreadable');
  t.match(loaded.problems, [/could not be read \(ELOOP.*\); provenance will be rebuilt/]);
});

t.test('stale temp files of a writer that died are removed at load', async (t) => {
  const dir = await makeTempDir(t, 'state');
  const stale = join(dir, `${STATE_FILE_NAME}.tmp-1-aaaa`);
  const fresh = join(dir, `${STATE_FILE_NAME}.tmp-2-bbbb`);
  await writeFile(stale, 'x');
  await writeFile(fresh, 'x');
  await utimes(stale, new Date(NOW - 3_600_000), new Date(NOW - 3_600_000));
  await utimes(fresh, new Date(NOW), new Date(NOW));
  await loadProvenance(dir, { node: NODE, now: NOW });
  t.same(await readdir(dir), [`${STATE_FILE_NAME}.tmp-2-bbbb`]);
});

// Failing writes. The tests run as root in CI, where a 0500 directory does not stop a write,
// so each case uses a failure the kernel imposes on root too.

t.test('a state dir below a regular file (ENOTDIR, even for root) is an error value', async (t) => {
  const base = await makeTempDir(t, 'state');
  await writeFile(join(base, 'file'), 'x');
  const result = await saveProvenance(join(base, 'file', 'state'), sampleState());
  t.equal(result.ok, false);
  if (!result.ok) t.match(result.error, /ENOTDIR/);
});

t.test(
  'a write that fails halfway (file size limit, EFBIG, even for root) leaves the old file intact',
  async (t) => {
    // `ulimit -f` caps the size of any file the child writes; Node ignores SIGXFSZ, so the write
    // fails with EFBIG after a partial temp file was written.
    const dir = await makeTempDir(t, 'state');
    await saveProvenance(dir, sampleState());
    const before = await readFile(stateFilePath(dir));
    const module = pathToFileURL(join(import.meta.dirname, 'state-store.ts')).href;
    const script = join(dir, '..', `${dir.split('/').pop() ?? 'x'}-writer.mjs`);
    await writeFile(
      script,
      `import { saveProvenance } from ${JSON.stringify(module)};
const images = new Map();
for (let i = 0; i < 500; i++) {
  const imageId = 'sha256:' + i.toString(16).padStart(64, '0');
  images.set(imageId, { imageId, cachedSince: 0, nodeWide: false, owners: [] });
}
const result = await saveProvenance(process.argv[2], { node: 'node-1', savedAt: 0, images });
process.stdout.write(JSON.stringify(result));
`,
    );
    t.teardown(() => rm(script, { force: true }));
    const output = await run('bash', [
      '-c',
      // tap injects NODE_OPTIONS into every child, and its hook would write under the limit too.
      'unset NODE_OPTIONS && ulimit -f 8 && exec "$0" "$@"',
      process.execPath,
      script,
      dir,
    ]);
    t.same([output.code, output.signal], [0, null], output.stderr);
    t.match(JSON.parse(output.stdout), { ok: false, error: /EFBIG/ });
    t.same(await readFile(stateFilePath(dir)), before, 'the previous file is byte for byte intact');
    t.same(await readdir(dir), [STATE_FILE_NAME], 'the partial temp file was removed');
    t.equal((await loadProvenance(dir, { node: NODE })).outcome, 'loaded');
  },
);

t.test(
  'a read-only state dir returns an error and keeps the previous file',
  { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false },
  async (t) => {
    const dir = await makeTempDir(t, 'state');
    await saveProvenance(dir, sampleState());
    const before = await readFile(stateFilePath(dir));
    await chmod(dir, 0o500);
    t.teardown(() => chmod(dir, 0o700));
    const result = await saveProvenance(dir, { ...sampleState(), savedAt: NOW });
    t.match(result, { ok: false, error: /EACCES/ });
    t.same(await readFile(stateFilePath(dir)), before);
  },
);

function run(
  command: string,
  args: readonly string[],
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
}

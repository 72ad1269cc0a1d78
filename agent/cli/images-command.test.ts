import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { captureIo as capture } from '../../test/helpers/capture-io.ts';
import { startEmbeddedCriRuntime } from '../../test/kit/embedded/cri-runtime.ts';
import { main } from '../cli.ts';

const ID_A = `sha256:${'a'.repeat(64)}`;
const ID_B = `sha256:${'b'.repeat(64)}`;

t.test('pullwatch images prints the cache as a table and as exact JSON', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pullwatch-cli-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), {
    images: [
      {
        id: ID_B,
        repoTags: ['registry.example.com/team-a/app:v1', 'registry.example.com/team-a/app:v1-copy'],
        repoDigests: [`registry.example.com/team-a/app@sha256:${'c'.repeat(64)}`],
        sizeBytes: 18446744073709551615n,
        pinned: false,
      },
      {
        id: ID_A,
        repoTags: ['registry.k8s.io/pause:3.9', 'NOT A NAME'],
        repoDigests: [],
        sizeBytes: 321_000n,
        pinned: true,
      },
    ],
  });
  t.teardown(() => runtime.stop());

  const table = capture();
  t.equal(await main(['images', '--cri-endpoint', runtime.target], table), 0);
  const lines = table.out().trimEnd().split('\n');
  t.match(lines[0], /^IMAGE ID\s+SIZE\s+PINNED\s+NAMES$/);
  t.match(
    lines[1],
    /^a{13}\s+321kB\s+yes\s+registry\.k8s\.io\/pause:3\.9$/,
    'sorted by ID, pinned shown',
  );
  t.match(
    lines[2],
    /registry\.example\.com\/team-a\/app:v1, registry\.example\.com\/team-a\/app:v1-copy$/,
  );
  t.match(
    table.err(),
    /warning: .*NOT A NAME/,
    'a name the runtime lists that does not parse is reported',
  );

  const json = capture();
  t.equal(await main(['images', '--cri-endpoint', runtime.target, '-o', 'json'], json), 0);
  t.match(json.out(), /"sizeBytes": 18446744073709551615/, 'uint64 written exactly');
  const parsed = JSON.parse(json.out()) as {
    runtime: { name: string };
    items: { imageId: string; pinned: boolean }[];
  };
  t.equal(parsed.runtime.name, 'pullwatch-embedded');
  t.same(
    parsed.items.map((i) => [i.imageId, i.pinned]),
    [
      [ID_A, true],
      [ID_B, false],
    ],
  );
});

t.test('endpoint from PULLWATCH_CRI_ENDPOINT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pullwatch-cli-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [] });
  t.teardown(() => runtime.stop());
  const io = { ...capture(), env: { PULLWATCH_CRI_ENDPOINT: runtime.target } };
  const out: string[] = [];
  t.equal(await main(['images'], { ...io, stdout: (s) => out.push(s) }), 0);
  t.equal(out.join(''), 'IMAGE ID   SIZE   PINNED   NAMES\n', 'an empty cache is an empty table');
});

t.test('a socket nobody listens on gives one line naming it and what to check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pullwatch-cli-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const socket = join(dir, 'dead.sock');
  // A runtime that died hard leaves its socket file behind: connections are refused.
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`,
  ]);
  await new Promise((resolve) => child.stdout.once('data', resolve));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.ok(existsSync(socket), 'the stale socket file is there');

  const io = capture();
  t.equal(await main(['images', '--cri-endpoint', `unix://${socket}`], io), 1);
  t.match(
    io.err(),
    new RegExp(
      `^pullwatch images: container runtime unavailable \\(Version on unix://${socket}\\)`,
    ),
  );
  t.match(io.err(), /Check that the runtime is running/);
  t.equal(io.err().trimEnd().split('\n').length, 1);
});

const usageCases = [
  { name: 'an unknown flag', argv: ['images', '--bogus'], message: /Unknown option '--bogus'/ },
  {
    name: 'a bad output format',
    argv: ['images', '-o', 'yaml'],
    message: /--output must be one of table, json \(got "yaml"\)/,
  },
  { name: 'an unknown command', argv: ['imagez'], message: /unknown command "imagez"/ },
] as const;

for (const c of usageCases) {
  t.test(`usage error: ${c.name} exits 2 with the usage`, async (t) => {
    const io = capture();
    t.equal(await main(c.argv, io), 2);
    t.match(io.err(), c.message);
    t.match(io.err(), /Usage: pullwatch/);
  });
}

t.test('version prints version, revision and Node.js', async (t) => {
  const io = capture();
  t.equal(await main(['version'], io), 0);
  t.match(io.out(), /^pullwatch \d+\.\d+\.\d+ \(revision \S+, Node\.js v24\./);
});

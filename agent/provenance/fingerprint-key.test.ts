import { Buffer } from 'node:buffer';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import {
  FINGERPRINT_KEY_BYTES,
  FINGERPRINT_KEY_FILE_NAME,
  loadOrCreateFingerprintKey,
} from './state-store.ts';

t.test('a missing key is created: 32 random bytes, readable by root only', async (t) => {
  const dir = await makeTempDir(t, 'key');
  const key = await loadOrCreateFingerprintKey(dir);
  if (!key.ok) {
    t.fail(key.error);
    return;
  }
  const path = join(dir, FINGERPRINT_KEY_FILE_NAME);
  const onDisk = await readFile(path);
  t.equal(onDisk.length, FINGERPRINT_KEY_BYTES);
  t.same(Buffer.from(key.value), onDisk);
  t.equal((await stat(path)).mode & 0o777, 0o600);
  t.same(await readdir(dir), [FINGERPRINT_KEY_FILE_NAME], 'no temp file is left behind');
});

t.test('an existing key is loaded unchanged, across restarts', async (t) => {
  const dir = await makeTempDir(t, 'key');
  const first = await loadOrCreateFingerprintKey(dir);
  const second = await loadOrCreateFingerprintKey(dir);
  t.ok(first.ok && second.ok && Buffer.from(first.value).equals(Buffer.from(second.value)));
});

t.test('two agents racing to create the key end with one key', async (t) => {
  const dir = await makeTempDir(t, 'key');
  const results = await Promise.all(
    Array.from({ length: 20 }, () => loadOrCreateFingerprintKey(dir)),
  );
  const keys = new Set(results.map((r) => (r.ok ? Buffer.from(r.value).toString('hex') : r.error)));
  t.equal(keys.size, 1, [...keys].join('\n'));
  const onDisk = await readFile(join(dir, FINGERPRINT_KEY_FILE_NAME));
  t.ok(keys.has(onDisk.toString('hex')), 'and it is the key on disk');
  t.same(await readdir(dir), [FINGERPRINT_KEY_FILE_NAME]);
});

t.test('agent processes racing to create the key end with one key', async (t) => {
  const dir = await makeTempDir(t, 'key');
  const module = pathToFileURL(join(import.meta.dirname, 'state-store.ts')).href;
  const script = `
    const { loadOrCreateFingerprintKey } = await import(${JSON.stringify(module)});
    const key = await loadOrCreateFingerprintKey(process.argv[1]);
    process.stdout.write(key.ok ? Buffer.from(key.value).toString('hex') : key.error);
  `;
  const run = promisify(execFile);
  const outputs = await Promise.all(
    Array.from({ length: 4 }, () =>
      run(process.execPath, ['--input-type=module', '-e', script, dir]),
    ),
  );
  const keys = new Set(outputs.map((o) => o.stdout));
  t.equal(keys.size, 1, [...keys].join('\n'));
  t.ok(keys.has((await readFile(join(dir, FINGERPRINT_KEY_FILE_NAME))).toString('hex')));
});

const refused: readonly { name: string; make: (path: string) => Promise<void>; error: RegExp }[] = [
  {
    name: 'a key file that is too short is refused, not replaced',
    make: (path) => writeFile(path, Buffer.alloc(16, 1)),
    error: /too short \(16 bytes, at least 32 needed\); refusing it/,
  },
  {
    name: 'an empty key file (a writer that died) is refused',
    make: (path) => writeFile(path, ''),
    error: /too short \(0 bytes/,
  },
  {
    name: 'a huge key file is refused',
    make: (path) => writeFile(path, Buffer.alloc(1024 * 1024)),
    error: /larger than 4096 bytes/,
  },
  {
    name: 'a directory in place of the key is refused',
    make: (path) => mkdir(path),
    error: /could not read fingerprint key .*: not a regular file/,
  },
];

for (const c of refused) {
  t.test(c.name, async (t) => {
    const dir = await makeTempDir(t, 'key');
    const path = join(dir, FINGERPRINT_KEY_FILE_NAME);
    await c.make(path);
    const before = await stat(path);
    const result = await loadOrCreateFingerprintKey(dir);
    t.match(result, { ok: false, error: c.error });
    t.equal((await stat(path)).size, before.size, 'the file is left as it was');
  });
}

t.test('a state dir that cannot exist (below a regular file) is an error value', async (t) => {
  const base = await makeTempDir(t, 'key');
  await writeFile(join(base, 'file'), 'x');
  t.match(await loadOrCreateFingerprintKey(join(base, 'file', 'state')), {
    ok: false,
    error: /ENOTDIR/,
  });
});

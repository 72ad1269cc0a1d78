// Finding times in the state dir: saved and loaded back, forgotten a day after they were last
// seen, and what a file that cannot be trusted becomes (no times: every finding new).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { TeardownHost } from '../../test/helpers/tmp.ts';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import type { FindingTimes } from './store.ts';
import {
  FINDING_TIMES_FILE,
  FINDING_TIMES_MAX_AGE_MS,
  loadFindingTimes,
  saveFindingTimes,
} from './times-file.ts';

const NOW = Date.parse('2026-11-02T12:00:00.000Z');
const HOUR = 60 * 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const seen = (firstAgo: number, lastAgo: number): FindingTimes => ({
  firstSeen: iso(NOW - firstAgo),
  lastSeen: iso(NOW - lastAgo),
});

const stateDir = (t: TeardownHost) => makeTempDir(t, 'finding-times');

t.test('saved times load back as they were', async (t) => {
  const dir = await stateDir(t);
  t.same(await loadFindingTimes(dir, 'node-1', NOW), { times: new Map(), problem: undefined });
  const times = new Map([
    ['f-lasting', seen(30 * HOUR, 0)],
    ['f-recent', seen(2 * HOUR, HOUR)],
  ]);
  t.equal(await saveFindingTimes(dir, 'node-1', times, NOW), undefined);
  t.same(await loadFindingTimes(dir, 'node-1', NOW), { times, problem: undefined });
});

t.test('an entry last seen more than a day ago is forgotten, saved or loaded', async (t) => {
  const dir = await stateDir(t);
  const times = new Map([
    ['f-kept', seen(3 * FINDING_TIMES_MAX_AGE_MS, FINDING_TIMES_MAX_AGE_MS)],
    ['f-old', seen(3 * FINDING_TIMES_MAX_AGE_MS, FINDING_TIMES_MAX_AGE_MS + 1)],
  ]);
  await saveFindingTimes(dir, 'node-1', times, NOW);
  const file = JSON.parse(await readFile(join(dir, FINDING_TIMES_FILE), 'utf8')) as {
    findings: Record<string, unknown>;
  };
  t.same(Object.keys(file.findings), ['f-kept'], 'not written');
  const later = await loadFindingTimes(dir, 'node-1', NOW + 1);
  t.same([...later.times.keys()], [], 'aged out between the save and the load');
});

const unusable: readonly {
  readonly name: string;
  readonly text: string;
  readonly problem: RegExp;
}[] = [
  { name: 'not JSON', text: '{', problem: /not JSON/ },
  {
    name: 'of an unknown version',
    text: JSON.stringify({ version: 2, node: 'node-1', findings: {} }),
    problem: /not a record of finding times/,
  },
  {
    name: 'holding a time that is not one',
    text: JSON.stringify({
      version: 1,
      node: 'node-1',
      findings: { f: { firstSeen: 'yesterday', lastSeen: iso(NOW) } },
    }),
    problem: /not a record of finding times/,
  },
  {
    name: "another node's",
    text: JSON.stringify({ version: 1, node: 'node-2', findings: {} }),
    problem: /node node-2's, not node-1's/,
  },
];

for (const c of unusable) {
  t.test(`a file that is ${c.name} gives no times and says why`, async (t) => {
    const dir = await stateDir(t);
    await writeFile(join(dir, FINDING_TIMES_FILE), c.text);
    const loaded = await loadFindingTimes(dir, 'node-1', NOW);
    t.same(loaded.times, new Map());
    t.match(loaded.problem, c.problem);
  });
}

t.test('a state dir that cannot be written: the error is a value', async (t) => {
  const dir = await stateDir(t);
  const file = join(dir, 'not-a-dir');
  await writeFile(file, '');
  t.match(await saveFindingTimes(file, 'node-1', new Map(), NOW), /cannot save findings\.json/);
});

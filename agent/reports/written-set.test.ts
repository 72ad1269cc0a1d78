// The record of written reports in the state dir: saved and loaded back, and what a record
// that cannot be trusted becomes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadWrittenSet, saveWrittenSet, WRITTEN_SET_FILE } from './written-set.ts';

const set = {
  node: 'node-1',
  objects: [
    {
      ref: {
        apiVersion: 'openreports.io/v1alpha1',
        kind: 'Report',
        namespace: 'tenant-b',
        name: 'pullwatch-node-1',
      },
      digest: 'abc',
    },
    {
      ref: {
        apiVersion: 'openreports.io/v1alpha1',
        kind: 'ClusterReport',
        name: 'pullwatch-node-node-1',
      },
      digest: undefined,
    },
  ],
};

t.test('a saved record loads back as it was', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-reports-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.match(await loadWrittenSet(dir, 'node-1'), { kind: 'missing' });
  t.ok((await saveWrittenSet(dir, set)).ok);
  t.strictSame(await loadWrittenSet(dir, 'node-1'), { kind: 'loaded', set });
});

const unusable: readonly {
  readonly name: string;
  readonly text: string;
  readonly problem: RegExp;
}[] = [
  { name: 'not JSON', text: '{', problem: /is not JSON/ },
  { name: 'another shape', text: '{"version":2}', problem: /is not a record of reports/ },
  {
    name: 'of version 1 (first-seen times now in findings.json)',
    text: JSON.stringify({ version: 1, node: 'node-1', objects: [], firstSeen: {} }),
    problem: /is not a record of reports/,
  },
  {
    name: "another node's record",
    text: JSON.stringify({ version: 2, node: 'node-2', objects: [] }),
    problem: /is node node-2's, not node-1's/,
  },
];

for (const c of unusable) {
  t.test(`a record that is ${c.name} is unusable`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pullwatch-reports-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, WRITTEN_SET_FILE), c.text);
    t.match(await loadWrittenSet(dir, 'node-1'), { kind: 'unusable', problem: c.problem });
  });
}

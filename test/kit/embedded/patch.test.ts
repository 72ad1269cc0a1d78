import t from 'tap';
import { jsonPatch, mergePatch } from './patch.ts';

t.test('a merge patch sets, replaces lists and deletes with null', async (t) => {
  const doc = { metadata: { labels: { a: '1', b: '2' } }, spec: { list: [1, 2] } };
  const patched = mergePatch(doc, {
    metadata: { labels: { b: null, c: '3' } },
    spec: { list: [3] },
  });
  t.same(patched, { metadata: { labels: { a: '1', c: '3' } }, spec: { list: [3] } });
  t.same(doc.metadata.labels, { a: '1', b: '2' }, 'the original is untouched');
});

const jsonCases = [
  {
    name: 'add to an object',
    ops: [{ op: 'add', path: '/status/phase', value: 'Running' }],
    want: { status: { phase: 'Running' }, list: ['a', 'b'] },
  },
  {
    name: 'append to a list',
    ops: [{ op: 'add', path: '/list/-', value: 'c' }],
    want: { status: {}, list: ['a', 'b', 'c'] },
  },
  {
    name: 'replace and remove',
    ops: [
      { op: 'replace', path: '/list/0', value: 'z' },
      { op: 'remove', path: '/list/1' },
    ],
    want: { status: {}, list: ['z'] },
  },
  {
    name: 'move and copy',
    ops: [
      { op: 'copy', from: '/list/0', path: '/status/first' },
      { op: 'move', from: '/list', path: '/moved' },
    ],
    want: { status: { first: 'a' }, moved: ['a', 'b'] },
  },
  {
    name: 'a passing test',
    ops: [{ op: 'test', path: '/list/1', value: 'b' }],
    want: { status: {}, list: ['a', 'b'] },
  },
  {
    name: 'a failing test',
    ops: [{ op: 'test', path: '/list/1', value: 'x' }],
    error: /testing value/,
  },
  {
    name: 'remove of a missing field',
    ops: [{ op: 'remove', path: '/nope' }],
    error: /does not exist/,
  },
  {
    name: 'index out of bounds',
    ops: [{ op: 'replace', path: '/list/5', value: 1 }],
    error: /out of bounds/,
  },
  { name: 'not a list of operations', ops: { op: 'add' }, error: /array/ },
] as const;

for (const c of jsonCases) {
  t.test(`JSON patch: ${c.name}`, async (t) => {
    const r = jsonPatch({ status: {}, list: ['a', 'b'] }, c.ops);
    if ('error' in c) {
      t.notOk(r.ok);
      if (!r.ok) t.match(r.error, c.error);
    } else {
      t.same(r, { ok: true, value: c.want });
    }
  });
}

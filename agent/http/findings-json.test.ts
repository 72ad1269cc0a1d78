// The findings list's JSON text is exactly what JSON.stringify makes of the answer, and a
// finding's text follows the finding object: a changed finding is a new object, serialized anew.
import t from 'tap';
import type { Finding } from '../detect/finding.ts';
import { findingJson, findingJsonText, findingsListJson } from './findings-json.ts';
import { FINDINGS } from '../../test/kit/http/fake-view.ts';

t.test('the list text is JSON.stringify of { items, stale }', async (t) => {
  const cases: { name: string; items: readonly Finding[]; stale: boolean }[] = [
    { name: 'every finding', items: FINDINGS, stale: false },
    { name: 'every finding, stale', items: FINDINGS, stale: true },
    { name: 'one finding', items: FINDINGS.slice(0, 1), stale: false },
    { name: 'none', items: [], stale: true },
    {
      name: 'text that JSON escapes',
      items: [{ ...FINDINGS[0], pod: 'a"b\\c\n\u2028é' } as Finding],
      stale: false,
    },
  ];
  for (const c of cases) {
    const expected = JSON.stringify({ items: c.items.map(findingJson), stale: c.stale });
    t.equal(findingsListJson(c.items, c.stale), expected, c.name);
  }
});

t.test('a finding changed into a new object gets its own text', async (t) => {
  const original = FINDINGS[0] as Finding;
  t.equal(findingJsonText(original), findingJsonText(original), 'the same object: the same text');
  const moved = { ...original, lastSeen: '2026-02-01T12:30:00.000Z' };
  t.match(findingJsonText(moved), /"lastSeen":"2026-02-01T12:30:00.000Z"/);
  t.equal(findingJsonText(moved), JSON.stringify(moved));
});

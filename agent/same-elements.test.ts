import t from 'tap';
import { sameElements, sameFields, sameValue } from './same-elements.ts';

t.test('sameElements compares by identity, in order', async (t) => {
  const a = { x: 1 };
  const cases: [string, readonly unknown[], readonly unknown[], boolean][] = [
    ['the same objects', [a, 1], [a, 1], true],
    ['equal but other objects', [a], [{ x: 1 }], false],
    ['another order', [a, 1], [1, a], false],
    ['another length', [a], [a, a], false],
  ];
  for (const [name, x, y, same] of cases) t.equal(sameElements(x, y), same, name);
});

t.test('sameValue compares JSON values by content', async (t) => {
  const cases: [string, unknown, unknown, boolean][] = [
    ['equal strings', 'a', 'a', true],
    ['other strings', 'a', 'b', false],
    ['a number and its text', 1, '1', false],
    ['null and undefined', null, undefined, false],
    ['null and an object', null, {}, false],
    ['equal objects, keys in another order', { a: 1, b: [2] }, { b: [2], a: 1 }, true],
    ['an object with a key more', { a: 1 }, { a: 1, b: 2 }, false],
    ['an object with a key less', { a: 1, b: 2 }, { a: 1 }, false],
    ['undefined against a missing key', { a: 1, b: undefined }, { a: 1, c: undefined }, false],
    ['undefined on both sides', { a: undefined }, { a: undefined }, true],
    ['equal nested arrays of objects', [{ t: 'x', n: ['y'] }], [{ t: 'x', n: ['y'] }], true],
    ['a nested difference', [{ t: 'x', n: ['y'] }], [{ t: 'x', n: ['z'] }], false],
    ['an array against an object with its indexes', ['a'], { 0: 'a' }, false],
    ['an object with its indexes against an array', { 0: 'a' }, ['a'], false],
    ['arrays of other lengths', ['a'], ['a', 'a'], false],
    ['NaN is not NaN (=== on primitives)', Number.NaN, Number.NaN, false],
  ];
  for (const [name, a, b, same] of cases) {
    t.equal(sameValue(a, b), same, name);
    t.equal(sameValue(b, a), same, `${name}, the other way round`);
  }
});

t.test('sameFields allows the keys the caller names as extra', async (t) => {
  const detected = { id: 'f', evidence: ['e'] };
  const cases: [string, Record<string, unknown>, number, boolean][] = [
    ['the same fields and two more', { ...detected, firstSeen: 't', lastSeen: 't' }, 2, true],
    ['one extra key where two are expected', { ...detected, firstSeen: 't' }, 2, false],
    ['three extra keys where two are expected', { ...detected, a: 1, b: 2, c: 3 }, 2, false],
    ['a changed field', { id: 'f', evidence: ['other'], firstSeen: 't', lastSeen: 't' }, 2, false],
    ['no extra keys expected, none there', { ...detected }, 0, true],
  ];
  for (const [name, finding, extra, same] of cases)
    t.equal(sameFields(detected, finding, extra), same, name);
});

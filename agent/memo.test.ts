import t from 'tap';
import { GenerationalMemo } from './memo.ts';

t.test('computes once per key while the key is in use', async (t) => {
  const memo = new GenerationalMemo<string, number>(4);
  let calls = 0;
  const length = (s: string) => {
    calls += 1;
    return s.length;
  };
  t.equal(memo.get('abc', length), 3);
  t.equal(memo.get('abc', length), 3);
  t.equal(calls, 1);
});

t.test('remembers undefined results too', async (t) => {
  const memo = new GenerationalMemo<string, number | undefined>(4);
  let calls = 0;
  const nothing = () => {
    calls += 1;
    return undefined;
  };
  memo.get('x', nothing);
  memo.get('x', nothing);
  t.equal(calls, 1);
});

t.test('holds at most two generations, and keeps what is still asked for', async (t) => {
  const memo = new GenerationalMemo<number, number>(3);
  const computed: number[] = [];
  const square = (n: number) => {
    computed.push(n);
    return n * n;
  };
  for (let round = 0; round < 5; round += 1) {
    for (let n = 0; n < 100; n += 1) memo.get(n, square);
    t.ok(memo.size <= 6, `round ${round}: ${memo.size} entries`);
  }
  computed.length = 0;
  // A key asked for on every lookup never leaves the young or old generation.
  for (let n = 1000; n < 1100; n += 1) {
    memo.get(7, square);
    memo.get(n, square);
  }
  t.equal(computed.filter((n) => n === 7).length, 1, 'the hot key was computed once, then kept');
});

t.test('resized, it holds at most two generations of the new size', async (t) => {
  const cases: readonly [name: string, from: number, to: number][] = [
    ['grown', 4, 50],
    ['shrunk', 50, 4],
  ];
  for (const [name, from, to] of cases) {
    const memo = new GenerationalMemo<number, number>(from);
    for (let n = 0; n < 1000; n += 1) memo.get(n, (x) => x);
    memo.resize(to);
    for (let n = 1000; n < 2000; n += 1) memo.get(n, (x) => x);
    t.ok(memo.size <= 2 * to, `${name}: ${memo.size} entries, at most ${2 * to}`);
    t.ok(memo.size > 2 * Math.min(from, to) - 2, `${name}: the room is used`);
  }
});

t.test('refuses a size that bounds nothing', async (t) => {
  t.throws(() => new GenerationalMemo(0), RangeError);
  t.throws(() => new GenerationalMemo(1.5), RangeError);
  t.throws(() => {
    new GenerationalMemo(4).resize(0);
  }, RangeError);
});

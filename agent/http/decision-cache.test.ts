// The auth caches stay bounded and forget on time; the review budget refills at its rate.
import t from 'tap';
import { ExpiringCache, RateBudget } from './decision-cache.ts';

t.test('an entry is served until its time-to-live passes', async (t) => {
  let clock = 1_000;
  const cache = new ExpiringCache<string>(10, () => clock);
  cache.set('a', 'allowed', 60_000);
  clock += 59_999;
  t.equal(cache.get('a'), 'allowed');
  clock += 1;
  t.equal(cache.get('a'), undefined, 'expired at exactly its TTL');
  t.equal(cache.size, 0, 'an expired entry is dropped when read');
});

t.test('a full cache evicts the least recently used entry', async (t) => {
  const cache = new ExpiringCache<number>(3);
  cache.set('a', 1, 60_000);
  cache.set('b', 2, 60_000);
  cache.set('c', 3, 60_000);
  t.equal(cache.get('a'), 1, 'reading a makes b the oldest');
  cache.set('d', 4, 60_000);
  t.equal(cache.size, 3);
  t.equal(cache.get('b'), undefined, 'b was evicted');
  t.equal(cache.get('a'), 1);
  t.equal(cache.get('c'), 3);
  t.equal(cache.get('d'), 4);
});

t.test('setting a key again replaces its value and TTL', async (t) => {
  let clock = 0;
  const cache = new ExpiringCache<string>(2, () => clock);
  cache.set('k', 'old', 10);
  cache.set('k', 'new', 100);
  clock = 50;
  t.equal(cache.get('k'), 'new');
  t.equal(cache.size, 1);
  cache.delete('k');
  t.equal(cache.get('k'), undefined);
});

t.test('a cache needs a positive integer size', async (t) => {
  t.throws(() => new ExpiringCache(0), RangeError);
  t.throws(() => new ExpiringCache(1.5), RangeError);
});

t.test('the review budget allows its burst, then its rate', async (t) => {
  let clock = 0;
  const budget = new RateBudget(2, 2, () => clock);
  t.same([budget.tryTake(), budget.tryTake(), budget.tryTake()], [true, true, false]);
  clock += 500;
  t.same([budget.tryTake(), budget.tryTake()], [true, false], 'one token per 500 ms');
  clock += 10_000;
  t.same(
    [budget.tryTake(), budget.tryTake(), budget.tryTake()],
    [true, true, false],
    'capped at the burst',
  );
  clock -= 5_000;
  t.equal(budget.tryTake(), false, 'a clock stepping back adds nothing');
});

t.test('callers that may wait are given their turn at the rate, in order', async (t) => {
  let clock = 0;
  const budget = new RateBudget(10, 2, () => clock);
  const cases: readonly { name: string; maxWaitMs: number; expected: number | undefined }[] = [
    { name: 'the burst: at once', maxWaitMs: 1000, expected: 0 },
    { name: 'the burst, second token: at once', maxWaitMs: 1000, expected: 0 },
    { name: 'the next token: one interval later', maxWaitMs: 1000, expected: 100 },
    { name: 'the one after: two intervals later', maxWaitMs: 1000, expected: 200 },
    { name: 'a caller that will not wait that long: refused', maxWaitMs: 250, expected: undefined },
    { name: 'a refusal reserved nothing', maxWaitMs: 1000, expected: 300 },
  ];
  for (const c of cases) t.equal(budget.reserve(c.maxWaitMs), c.expected, c.name);
  clock += 300;
  t.equal(budget.tryTake(), false, 'tokens owed are paid back before any is free again');
  clock += 200;
  t.equal(budget.reserve(0), 0, 'then the rate goes on as before');
});

t.test('a budget needs a positive rate and a burst of at least 1', async (t) => {
  t.throws(() => new RateBudget(0, 1), RangeError);
  t.throws(() => new RateBudget(1, 0), RangeError);
  t.throws(() => new RateBudget(Number.POSITIVE_INFINITY, 1), RangeError);
});

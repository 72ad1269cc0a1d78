// The auth caches stay bounded and forget on time; the review budget refills at its rate.
import t from 'tap';
import { ExpiringCache } from './decision-cache.ts';

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

import t from 'tap';
import { LruCache } from './lru.ts';

t.test('evicts the least recently used entry beyond its size', async (t) => {
  const cache = new LruCache<string, number>(3);
  cache.set('a', 1).set('b', 2).set('c', 3);
  t.equal(cache.get('a'), 1, 'reading a makes it recent');
  cache.set('d', 4);
  t.equal(cache.has('b'), false, 'b was least recently used');
  t.same([...cache.keys()], ['c', 'a', 'd']);
  t.equal(cache.size, 3);
});

t.test('peek does not refresh an entry', async (t) => {
  const cache = new LruCache<string, number>(2);
  cache.set('a', 1).set('b', 2);
  t.equal(cache.peek('a'), 1);
  cache.set('c', 3);
  t.equal(cache.has('a'), false);
});

t.test('overwriting a key refreshes it and keeps one entry', async (t) => {
  const cache = new LruCache<string, number>(2);
  cache.set('a', 1).set('b', 2).set('a', 10).set('c', 3);
  t.same([...cache.keys()], ['a', 'c']);
  t.equal(cache.get('a'), 10);
});

t.test('undefined values are stored, not confused with absence', async (t) => {
  const cache = new LruCache<string, number | undefined>(2);
  cache.set('u', undefined).set('x', 1);
  cache.get('u');
  cache.set('y', 2);
  t.equal(cache.has('u'), true, 'u was read, so x is evicted');
  t.equal(cache.has('x'), false);
});

t.test('delete and clear', async (t) => {
  const cache = new LruCache<string, number>(2);
  cache.set('a', 1);
  t.equal(cache.delete('a'), true);
  t.equal(cache.delete('a'), false);
  cache.set('b', 2);
  cache.clear();
  t.equal(cache.size, 0);
});

t.test('a large cache stays within its bound', async (t) => {
  const cache = new LruCache<number, number>(10_000);
  for (let i = 0; i < 25_000; i++) cache.set(i, i);
  t.equal(cache.size, 10_000);
  t.equal(cache.has(14_999), false);
  t.equal(cache.has(15_000), true);
});

t.test('refuses sizes that are not positive integers', async (t) => {
  for (const size of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new LruCache(size), RangeError, String(size));
  }
});

import t from 'tap';
import { createLimiter } from './limiter.ts';

t.test('no more than `concurrency` tasks run at once, and all of them run', async (t) => {
  const limit = createLimiter(2);
  let running = 0;
  let most = 0;
  const task = async (n: number): Promise<number> => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
    return n;
  };
  const results = await Promise.all(Array.from({ length: 10 }, (_, n) => limit(() => task(n))));
  t.same(results, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(most, 2);
});

t.test('a failing task frees its slot', async (t) => {
  const limit = createLimiter(1);
  await t.rejects(
    limit(() => Promise.reject(new Error('boom'))),
    /boom/,
  );
  t.equal(await limit(() => Promise.resolve('next')), 'next');
});

t.test('a concurrency below one is a bug', async (t) => {
  t.throws(() => createLimiter(0), RangeError);
});

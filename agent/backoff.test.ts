import t from 'tap';
import { Backoff, sleepUnlessAborted } from './backoff.ts';

t.test(
  'delays double from 200 ms up to 30 s, each between half and all of its ceiling',
  async (t) => {
    const low = new Backoff({ random: () => 0 });
    const high = new Backoff({ random: () => 0.999999 });
    const lows = Array.from({ length: 12 }, () => low.next());
    const highs = Array.from({ length: 12 }, () => high.next());
    t.same(lows, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000, 15000, 15000]);
    t.same(highs, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000, 30000]);
  },
);

t.test('a success starts again from the shortest delay', async (t) => {
  const backoff = new Backoff({ random: () => 0 });
  backoff.next();
  backoff.next();
  backoff.reset();
  t.equal(backoff.next(), 100);
});

t.test('sleepUnlessAborted ends at its time, or at the abort, whichever comes first', async (t) => {
  const cases: readonly { name: string; abortAfterMs: number | 'before'; sleepMs: number }[] = [
    { name: 'never aborted: ends at its time', abortAfterMs: 10_000, sleepMs: 20 },
    { name: 'aborted during the wait: ends then', abortAfterMs: 20, sleepMs: 60_000 },
    { name: 'aborted before: ends at once', abortAfterMs: 'before', sleepMs: 60_000 },
  ];
  for (const c of cases) {
    const stopping = new AbortController();
    if (c.abortAfterMs === 'before') stopping.abort();
    const abortTimer =
      c.abortAfterMs === 'before'
        ? undefined
        : setTimeout(() => {
            stopping.abort();
          }, c.abortAfterMs);
    await sleepUnlessAborted(c.sleepMs, stopping.signal);
    clearTimeout(abortTimer);
    t.pass(c.name);
  }
});

import t from 'tap';
import { Backoff } from './backoff.ts';

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

import t from 'tap';
import { RegistryHostLimits, TokenBucket } from './rate-limit.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

function takeAll(bucket: TokenBucket): number {
  let taken = 0;
  while (bucket.tryTake()) taken++;
  return taken;
}

t.test('starts full: a burst goes out at once, then nothing', async (t) => {
  const c = clock();
  const bucket = new TokenBucket({ perSecond: 10, burst: 20 }, c.now);
  t.equal(takeAll(bucket), 20);
  t.equal(bucket.tryTake(), false);
});

t.test('refills at the configured rate', async (t) => {
  const c = clock();
  const bucket = new TokenBucket({ perSecond: 10, burst: 20 }, c.now);
  takeAll(bucket);
  c.advance(99);
  t.equal(bucket.tryTake(), false, 'less than one token after 99 ms');
  c.advance(1);
  t.equal(bucket.tryTake(), true, 'one token after 100 ms');
  c.advance(500);
  t.equal(takeAll(bucket), 5, 'five tokens after 500 ms');
});

t.test('never holds more than the burst', async (t) => {
  const c = clock();
  const bucket = new TokenBucket({ perSecond: 10, burst: 20 }, c.now);
  c.advance(3_600_000);
  t.equal(bucket.available(), 20);
  t.equal(takeAll(bucket), 20);
});

t.test('a clock stepping backwards neither adds nor removes tokens', async (t) => {
  const c = clock();
  const bucket = new TokenBucket({ perSecond: 1, burst: 2 }, c.now);
  takeAll(bucket);
  c.advance(-60_000);
  t.equal(bucket.tryTake(), false);
  c.advance(1000);
  t.equal(bucket.tryTake(), true, 'refills from the new reading on');
});

t.test('fractional rates', async (t) => {
  const c = clock();
  const bucket = new TokenBucket({ perSecond: 0.5, burst: 1 }, c.now);
  t.equal(bucket.tryTake(), true);
  c.advance(1999);
  t.equal(bucket.tryTake(), false);
  c.advance(1);
  t.equal(bucket.tryTake(), true);
});

t.test('refuses limits that would never allow a probe', async (t) => {
  t.throws(() => new TokenBucket({ perSecond: 0, burst: 1 }), RangeError);
  t.throws(() => new TokenBucket({ perSecond: 1, burst: 0.5 }), RangeError);
  t.throws(() => new TokenBucket({ perSecond: Number.POSITIVE_INFINITY, burst: 1 }), RangeError);
});

t.test('registry hosts: each has its own rate and its own cap on probes in flight', async (t) => {
  const c = clock();
  const limits = new RegistryHostLimits({ perSecond: 10, burst: 3, concurrency: 2 }, c.now);
  const order: string[] = [];
  const take = (host: string, name: string) => {
    const place = limits.acquire(host);
    if (place === undefined) return 'refused';
    void Promise.resolve(place).then((release) => {
      order.push(name);
      releases.set(name, release);
    });
    return 'given';
  };
  const releases = new Map<string, () => void>();
  const cases: readonly { name: string; host: string; expected: 'given' | 'refused' }[] = [
    { name: 'a1', host: 'a.example', expected: 'given' },
    { name: 'a2', host: 'A.example', expected: 'given' },
    { name: 'a3 (waits: two in flight)', host: 'a.example', expected: 'given' },
    { name: "a4 (a's burst is spent)", host: 'a.example', expected: 'refused' },
    { name: "b1 (another host: a's limit is not b's)", host: 'b.example', expected: 'given' },
  ];
  for (const x of cases) t.equal(take(x.host, x.name), x.expected, x.name);
  await Promise.resolve();
  t.same(order, ['a1', 'a2', "b1 (another host: a's limit is not b's)"], 'two of a in flight');
  releases.get('a1')?.();
  releases.get('a1')?.(); // twice: one place given back
  await Promise.resolve();
  await Promise.resolve();
  t.same(order.at(-1), 'a3 (waits: two in flight)', 'the waiting probe gets the place');
  c.advance(100);
  t.equal(take('a.example', 'a5'), 'given', 'the rate refills');
  t.throws(() => new RegistryHostLimits({ perSecond: 1, burst: 1, concurrency: 0 }), RangeError);
});

t.test(
  'reserve: a spent bucket lends the next tokens in turn, within the wait allowed',
  async (t) => {
    const c = clock();
    const bucket = new TokenBucket({ perSecond: 10, burst: 2 }, c.now);
    const cases: readonly { name: string; maxWaitMs: number; expected: number | undefined }[] = [
      { name: 'a token in the bucket: at once', maxWaitMs: 0, expected: 0 },
      { name: 'the second token in the bucket: at once', maxWaitMs: 0, expected: 0 },
      { name: 'spent, no wait allowed: nothing taken', maxWaitMs: 0, expected: undefined },
      { name: 'spent: the next token is due in 100 ms', maxWaitMs: 1000, expected: 100 },
      { name: 'the one after is due 100 ms later', maxWaitMs: 1000, expected: 200 },
      {
        name: 'a turn beyond the wait allowed: nothing taken',
        maxWaitMs: 250,
        expected: undefined,
      },
      { name: 'a refused reservation pushed nobody back', maxWaitMs: 300, expected: 300 },
    ];
    for (const c of cases) {
      const got = bucket.reserve(c.maxWaitMs);
      if (c.expected === undefined) t.equal(got, undefined, c.name);
      else t.ok(got !== undefined && Math.abs(got - c.expected) < 1e-6, `${c.name} (got ${got})`);
    }
    c.advance(399);
    t.equal(bucket.tryTake(), false, 'the three loans are paid back by the refill first');
    c.advance(1);
    t.equal(bucket.tryTake(), true, 'then tokens come at the rate again');
  },
);

t.test(
  'acquireWithin: a probe beyond the rate waits for its turn instead of not being made',
  async (t) => {
    const limits = new RegistryHostLimits({ perSecond: 50, burst: 1, concurrency: 4 });
    const first = limits.acquire('r.example');
    t.type(first, 'function', 'the burst: at once');
    t.equal(limits.acquire('r.example'), undefined, 'acquire: the rate is spent, not probed');
    // The wait's timer is unref'd (a stopping process must not wait for it): keep this one alive.
    const keepAlive = setTimeout(() => undefined, 5000);
    t.teardown(() => {
      clearTimeout(keepAlive);
    });
    const started = Date.now();
    const waited = limits.acquireWithin('r.example', 1000);
    t.ok(waited instanceof Promise, 'acquireWithin: a place later');
    const release = await waited;
    t.type(release, 'function', 'the place comes');
    t.ok(Date.now() - started >= 10, 'after the rate allowed it (1/50 s)');
    t.equal(limits.acquireWithin('r.example', 0), undefined, 'no wait allowed: not probed');
    t.type(limits.acquireWithin('other.example', 0), 'function', 'another host is not held back');
  },
);

// The TokenReview and per-node broker budgets are token buckets too (agent/http/token-review.ts,
// agent/controller/app.ts).
t.test('the review budget allows its burst, then its rate', async (t) => {
  let clock = 0;
  const budget = new TokenBucket({ perSecond: 2, burst: 2 }, () => clock);
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
  const budget = new TokenBucket({ perSecond: 10, burst: 2 }, () => clock);
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
  t.throws(() => new TokenBucket({ perSecond: 0, burst: 1 }), RangeError);
  t.throws(() => new TokenBucket({ perSecond: 1, burst: 0 }), RangeError);
  t.throws(() => new TokenBucket({ perSecond: Number.POSITIVE_INFINITY, burst: 1 }), RangeError);
});

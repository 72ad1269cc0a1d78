// When the pull secret cache reads a secret, and when it does not: the refresh schedule
// (TTL with jitter, sooner for problems and failures), pod starts, finished pods, and secrets
// no pod references any more. A fake clock; the cache's own refresh tick runs for real.
import t from 'tap';
import type { SecretView } from '../model/snapshot.ts';
import { createLimiter, type Limiter } from './limiter.ts';
import {
  DEFAULT_SECRET_TTL_MS,
  PullSecretCache,
  secretRefsOf,
  type SecretFetch,
  type SecretReadReason,
} from './pull-secrets.ts';
import { eventually, sleep, type Teardown } from '../../test/kit/kube.ts';
import type { SecretRef } from './secret-view.ts';

const TTL = 60_000;
const TICK_MS = 250;

type Answer = 'ok' | 'missing' | 'network';

function viewFor(ref: SecretRef, answer: Answer): SecretFetch {
  if (answer === 'ok') return { view: { state: 'ok', ...ref, credentials: [] }, transient: false };
  const view: SecretView = {
    state: answer === 'missing' ? 'missing' : 'unavailable',
    ...ref,
    problem: answer,
  };
  return { view, transient: answer === 'network' };
}

interface Harness {
  readonly cache: PullSecretCache;
  readonly reads: string[];
  clock: number;
  answer: Answer;
}

function harness(
  t: Teardown,
  options: { random?: number; limit?: Limiter; fetch?: () => Promise<void> } = {},
): Harness {
  const h: Harness = {
    reads: [],
    clock: 1_000_000,
    answer: 'ok',
    cache: undefined as unknown as PullSecretCache,
  };
  const cache = new PullSecretCache({
    fetch: async (ref: SecretRef, reason: SecretReadReason) => {
      h.reads.push(`${ref.namespace}/${ref.name} ${reason}`);
      await options.fetch?.();
      return viewFor(ref, h.answer);
    },
    limit: options.limit ?? createLimiter(4),
    ttlMs: TTL,
    problemTtlMs: TTL / 6,
    retryMs: TTL / 60,
    minRefetchMs: 10_000,
    onChange: () => undefined,
    now: () => h.clock,
    random: () => options.random ?? 0,
  });
  t.teardown(() => cache.stop());
  return Object.assign(h, { cache });
}

const pod = (name: string, secrets: string[], finished = false) => ({
  namespace: 'tenant-a',
  name,
  pullSecretNames: secrets,
  finished,
});

/** Advances the fake clock and waits for two real refresh ticks. */
async function advance(h: Harness, ms: number): Promise<void> {
  h.clock += ms;
  await sleep(2 * TICK_MS + 50);
}

t.test('the default TTL is 30 minutes', async (t) => {
  t.equal(DEFAULT_SECRET_TTL_MS, 30 * 60_000);
});

t.test('a view is read again when its time comes, and not before', async (t) => {
  const cases: {
    name: string;
    answer: Answer;
    random: number;
    dueAfterMs: number;
  }[] = [
    { name: 'a good view, no jitter drawn: at the TTL', answer: 'ok', random: 0, dueAfterMs: TTL },
    {
      name: 'a good view, half the jitter drawn: at 90 % of the TTL',
      answer: 'ok',
      random: 0.5,
      dueAfterMs: TTL * 0.9,
    },
    {
      name: 'a missing secret: at the problem TTL',
      answer: 'missing',
      random: 0,
      dueAfterMs: TTL / 6,
    },
    {
      name: 'a network failure: after the retry delay',
      answer: 'network',
      random: 0,
      dueAfterMs: TTL / 60,
    },
  ];
  for (const c of cases) {
    const h = harness(t, { random: c.random });
    h.answer = c.answer;
    h.cache.update(secretRefsOf([pod('web', ['regcred'])]), new Set());
    await eventually(() => h.cache.views().size === 1, `${c.name}: the first read`);
    await advance(h, c.dueAfterMs - 1000);
    t.same(h.reads, ['tenant-a/regcred first'], `${c.name}: not read 1 s before`);
    await advance(h, 1000);
    t.same(
      h.reads,
      ['tenant-a/regcred first', 'tenant-a/regcred refresh'],
      `${c.name}: read again when due`,
    );
    await h.cache.stop();
  }
});

t.test('a new pod re-reads its secrets unless they were read in the last 10 s', async (t) => {
  const h = harness(t);
  h.cache.update(secretRefsOf([pod('web', ['regcred'])]), new Set());
  await eventually(() => h.reads.length === 1, 'the first read');
  h.clock += 5_000;
  h.cache.update(
    secretRefsOf([pod('web', ['regcred']), pod('web-2', ['regcred'])]),
    new Set(['tenant-a/regcred']),
  );
  await sleep(20);
  t.equal(h.reads.length, 1, 'read 5 s ago: not again');
  h.clock += 5_000;
  h.cache.update(
    secretRefsOf([pod('web', ['regcred']), pod('web-3', ['regcred'])]),
    new Set(['tenant-a/regcred']),
  );
  await eventually(() => h.reads.length === 2, 'the re-read');
  t.same(h.reads, ['tenant-a/regcred first', 'tenant-a/regcred pod-start']);
});

t.test('a secret only finished pods reference is read once and not refreshed', async (t) => {
  const h = harness(t);
  h.cache.update(secretRefsOf([pod('job', ['regcred'], true)]), new Set());
  await eventually(() => h.cache.views().size === 1, 'the first read');
  await advance(h, 2 * TTL);
  t.same(h.reads, ['tenant-a/regcred first'], 'its view is kept, never read again');

  // A running pod names it again: it is refreshed from then on.
  h.cache.update(secretRefsOf([pod('job', ['regcred'], true), pod('web', ['regcred'])]), new Set());
  await advance(h, 0);
  t.same(h.reads, ['tenant-a/regcred first', 'tenant-a/regcred refresh']);
});

t.test('a secret no pod references by the time its turn comes is not read', async (t) => {
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => {
    release = resolve;
  });
  const h = harness(t, { limit: createLimiter(1), fetch: () => blocked });
  h.cache.update(secretRefsOf([pod('a', ['first'])]), new Set());
  await eventually(() => h.reads.length === 1, 'the first read under way');
  h.cache.update(secretRefsOf([pod('a', ['first']), pod('b', ['second'])]), new Set());
  // The pod that named the waiting secret goes before the limiter lets its read through.
  h.cache.update(secretRefsOf([pod('a', ['first'])]), new Set());
  release();
  await eventually(() => h.cache.views().size === 1, 'the first read to finish');
  await sleep(20);
  t.same(h.reads, ['tenant-a/first first']);
  t.same([...h.cache.views().keys()], ['tenant-a/first']);
});

t.test('secretRefsOf: live when any pod naming the secret is not finished', async (t) => {
  const refs = secretRefsOf([
    pod('done', ['shared', 'old'], true),
    pod('web', ['shared']),
    pod('done-2', ['shared'], true),
  ]);
  t.same(Object.fromEntries([...refs].map(([key, r]) => [key, r.live])), {
    'tenant-a/shared': true,
    'tenant-a/old': false,
  });
});

t.test(
  'views() hands back the same map until a view changes (detection remembers per map)',
  async (t) => {
    const h = harness(t);
    h.cache.update(secretRefsOf([pod('web', ['regcred', 'other'])]), new Set());
    await eventually(() => h.cache.views().size === 2, 'both secrets read');
    const first = h.cache.views();
    t.equal(h.cache.views(), first, 'asked again: the very same map');
    h.cache.update(secretRefsOf([pod('web', ['regcred'])]), new Set());
    const fewer = h.cache.views();
    t.not(fewer, first, 'a secret no longer referenced: a new map');
    t.same([...fewer.keys()], ['tenant-a/regcred']);
    t.equal(h.cache.views(), fewer);
    h.answer = 'missing';
    h.clock += TTL;
    await eventually(
      () => h.cache.views().get('tenant-a/regcred')?.state === 'missing',
      'the re-read',
    );
    t.not(h.cache.views(), fewer, 'a view that changed: a new map');
  },
);

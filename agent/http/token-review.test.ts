// TokenReviewer against the embedded API server through the real @kubernetes/client-node: what
// is cached (by a SHA-256 of the token, for no longer than the token lives), how many reviews
// the API server is asked for, and how a burst of new tokens waits for the budget.
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import type { Test } from 'tap';
import type { TokenEntry } from '../../test/kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { capturedLogger } from '../../test/kit/http/serve-app.ts';
import type { TokenReviewOptions } from './token-review.ts';
import { TokenReviewer, sha256, tokenExpiresAt } from './token-review.ts';

const START = 1_800_000_000_000;
const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A JWT-shaped token (the API server verifies the real ones; the reviewer only reads `exp`). */
const jwt = (claims: object): string =>
  `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.${Buffer.from('signature').toString('base64url')}`;
const agent: TokenEntry = { username: 'system:serviceaccount:pullwatch:pullwatch-agent' };

async function setup(
  t: Test,
  tokens: readonly string[],
  options: Partial<Omit<TokenReviewOptions, 'kubeConfig' | 'logger'>> = {},
) {
  const apiServer = await startEmbeddedApiServer({
    tokens: Object.fromEntries(tokens.map((token) => [token, agent])),
  });
  t.teardown(() => apiServer.stop());
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(apiServer.kubeconfig());
  const clock = { now: START };
  const reviewer = new TokenReviewer({
    kubeConfig,
    logger: capturedLogger().logger,
    now: () => clock.now,
    ...options,
  });
  const identify = async (token: string) => {
    const review = await reviewer.identify(token, sha256(token));
    return review.kind === 'answer'
      ? review.value.authenticated
        ? 'agent'
        : 'refused'
      : review.kind;
  };
  const reviews = () =>
    apiServer.requestLog.filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews')
      .length;
  return { clock, identify, reviews };
}

t.test("a JWT's exp claim, read without trusting it for anything else", async (t) => {
  const cases: readonly { name: string; token: string; expected: number | undefined }[] = [
    { name: 'a bound token', token: jwt({ exp: 1_800_000_600 }), expected: 1_800_000_600_000 },
    { name: 'no exp claim', token: jwt({ sub: 'x' }), expected: undefined },
    { name: 'exp is not a number', token: jwt({ exp: 'soon' }), expected: undefined },
    { name: 'not a JWT (a legacy opaque token)', token: 'opaque-token', expected: undefined },
    { name: 'a payload that is not JSON', token: 'a.bm90IGpzb24.c', expected: undefined },
  ];
  for (const c of cases) t.equal(tokenExpiresAt(c.token), c.expected, c.name);
});

t.test('an identity is kept for the cache TTL, but never past the token expiry', async (t) => {
  const longLived = jwt({ exp: START / 1000 + 3600 });
  const expiringSoon = jwt({ exp: START / 1000 + 5 });
  const expired = jwt({ exp: START / 1000 - 1 });
  const s = await setup(t, [longLived, expiringSoon, expired], { allowedTtlMs: 60_000 });
  for (const token of [longLived, expiringSoon, expired]) t.equal(await s.identify(token), 'agent');
  t.equal(s.reviews(), 3);
  t.equal(await s.identify(longLived), 'agent');
  t.equal(await s.identify(expiringSoon), 'agent');
  t.equal(s.reviews(), 3, 'both valid tokens answered from the cache');
  t.equal(await s.identify(expired), 'agent');
  t.equal(s.reviews(), 4, 'a token past its exp is not cached (the API server decides anew)');
  s.clock.now += 6_000;
  t.equal(await s.identify(longLived), 'agent');
  t.equal(s.reviews(), 4, 'within the cache TTL');
  t.equal(await s.identify(expiringSoon), 'agent');
  t.equal(s.reviews(), 5, 'the token expired: its identity was forgotten with it');
  s.clock.now += 60_000;
  t.equal(await s.identify(longLived), 'agent');
  t.equal(s.reviews(), 6, 'the cache TTL is the other bound');
});

t.test('the cache holds as many identities as it is sized for', async (t) => {
  const tokens = ['agent-1', 'agent-2', 'agent-3'];
  const s = await setup(t, tokens, { maxCacheEntries: 3 });
  for (const token of [...tokens, ...tokens]) await s.identify(token);
  t.equal(s.reviews(), 3, 'three agents, three entries: one review each');
  const small = await setup(t, tokens, { maxCacheEntries: 2 });
  for (const token of [...tokens, ...tokens]) await small.identify(token);
  t.equal(small.reviews(), 6, 'one entry too few: taking turns, every call is reviewed');
});

t.test('new tokens beyond the budget wait for their turn, or are refused', async (t) => {
  const tokens = ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'];
  const waits: number[] = [];
  const wait = (ms: number): Promise<void> => {
    waits.push(ms);
    return Promise.resolve();
  };
  const waiting = await setup(t, tokens, {
    maxReviewsPerSecond: 2,
    maxReviewWaitMs: 1000,
    wait,
  });
  const answers = await Promise.all(tokens.map((token) => waiting.identify(token)));
  t.same(
    answers,
    ['agent', 'agent', 'agent', 'agent', 'over-budget'],
    'the burst, then up to 1 s of waiting',
  );
  t.same(waits, [500, 1000], 'each waits one interval more than the one before');
  t.equal(waiting.reviews(), 4);

  const refusing = await setup(t, tokens, { maxReviewsPerSecond: 2 });
  const refused = await Promise.all(tokens.map((token) => refusing.identify(token)));
  t.same(
    refused,
    ['agent', 'agent', 'over-budget', 'over-budget', 'over-budget'],
    'no waiting: refused',
  );

  const shared = await setup(t, tokens, { maxReviewsPerSecond: 1 });
  const same = await Promise.all([1, 2, 3].map(() => shared.identify('agent-1')));
  t.same(same, ['agent', 'agent', 'agent'], 'concurrent calls with one token share its review');
  t.equal(shared.reviews(), 1);
});

// The Event rate limits as client-go's recorder sets them: 25 at once then one per 5 minutes
// for a pod, 10 at once then 5 a second for the agent, on a clock the test moves.
import t from 'tap';
import { EventRateLimits } from './rate-limits.ts';
import type { RateLimitVerdict } from './rate-limits.ts';

function limitsAt(): { limits: EventRateLimits; advance: (ms: number) => void } {
  let now = 1_000_000;
  return {
    limits: new EventRateLimits({ now: () => now }),
    advance: (ms) => {
      now += ms;
    },
  };
}

const verdicts = (limits: EventRateLimits, pods: readonly string[]): RateLimitVerdict[] =>
  pods.map((pod) => limits.admit(pod));

t.test('one pod: a burst of 25, then one every 5 minutes', async (t) => {
  const { limits, advance } = limitsAt();
  const admitted: RateLimitVerdict[] = [];
  // Under the agent's 5 a second, so only the pod's bucket speaks.
  for (let i = 0; i < 25; i++) {
    admitted.push(limits.admit('pod-a'));
    advance(200);
  }
  t.same(new Set(admitted), new Set(['admitted']), 'the first 25 are written');
  t.equal(limits.admit('pod-a'), 'pod-rate-limit', 'the 26th is dropped');
  advance(295_000);
  t.equal(limits.admit('pod-a'), 'admitted', '5 minutes after the burst began: one more');
  t.equal(limits.admit('pod-a'), 'pod-rate-limit', 'and only one');
  t.equal(limits.admit('pod-b'), 'admitted', 'another pod has its own bucket');
});

t.test('the agent: 10 at once across pods, then 5 a second', async (t) => {
  const { limits, advance } = limitsAt();
  const pods = Array.from({ length: 12 }, (_, i) => `pod-${i}`);
  t.same(verdicts(limits, pods), [
    ...Array<RateLimitVerdict>(10).fill('admitted'),
    'agent-rate-limit',
    'agent-rate-limit',
  ]);
  advance(200);
  t.equal(limits.admit('pod-10'), 'admitted', 'one token back after 200 ms');
  t.equal(limits.admit('pod-11'), 'agent-rate-limit');
});

t.test("a write the agent's limit refuses costs the pod nothing", async (t) => {
  const { limits, advance } = limitsAt();
  for (let i = 0; i < 10; i++) limits.admit(`other-${i}`);
  for (let i = 0; i < 30; i++) t.equal(limits.admit('pod-a'), 'agent-rate-limit');
  advance(60_000);
  t.same(
    verdicts(limits, Array<string>(10).fill('pod-a')),
    Array<RateLimitVerdict>(10).fill('admitted'),
    "the pod's 25 are still there",
  );
});

import t from 'tap';
import { classifyManifestAnswer, redactOutcome, type ProbeOutcome } from './probe-outcome.ts';

t.test('a manifest answer becomes an outcome by its status', async (t) => {
  const cases: readonly [status: number, expected: ProbeOutcome][] = [
    [200, { result: 'readable' }],
    [204, { result: 'readable' }],
    [404, { result: 'not-found' }],
    [401, { result: 'denied', status: 401, detail: 'anonymous manifest request answered 401' }],
    [403, { result: 'denied', status: 403, detail: 'anonymous manifest request answered 403' }],
    [500, { result: 'error', detail: 'anonymous manifest request answered 500' }],
    [503, { result: 'error', detail: 'anonymous manifest request answered 503' }],
    [
      429,
      {
        result: 'error',
        detail: 'anonymous manifest request was rate-limited by the registry (429)',
      },
    ],
    [400, { result: 'error', detail: 'anonymous manifest request answered 400' }],
  ];
  for (const [status, expected] of cases) {
    const answer = new Response(null, { status });
    t.same(
      await classifyManifestAnswer(answer, 'anonymous manifest request'),
      expected,
      `${status}`,
    );
  }
});

t.test('a denial names the Bearer error code, and only a well-formed one', async (t) => {
  const cases: readonly [header: string, detail: string][] = [
    [
      'Bearer realm="https://auth/token",error="insufficient_scope"',
      'manifest request with a token for the credential answered 403 (insufficient_scope)',
    ],
    [
      'Bearer error="Basic c2VjcmV0 with spaces"',
      'manifest request with a token for the credential answered 403',
    ],
    ['Basic realm="r"', 'manifest request with a token for the credential answered 403'],
  ];
  for (const [header, detail] of cases) {
    const answer = new Response(null, { status: 403, headers: { 'www-authenticate': header } });
    t.same(
      await classifyManifestAnswer(answer, 'manifest request with a token for the credential'),
      { result: 'denied', status: 403, detail },
      header,
    );
  }
});

t.test('redaction replaces every sensitive value in a detail, and leaves short ones', async (t) => {
  const outcome: ProbeOutcome = { result: 'error', detail: 'echoed c2VjcmV0 and abc, c2VjcmV0' };
  t.same(redactOutcome(outcome, ['c2VjcmV0', 'abc']), {
    result: 'error',
    detail: 'echoed [redacted] and abc, [redacted]',
  });
  t.same(redactOutcome({ result: 'readable' }, ['c2VjcmV0']), { result: 'readable' });
});

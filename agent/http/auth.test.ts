// --auth kubernetes against the embedded API server through the real @kubernetes/client-node:
// TokenReview and SubjectAccessReview as a cluster answers them, RBAC as a rule function.
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import type { Test } from 'tap';
import type {
  AccessAttributes,
  EmbeddedApiServer,
  TokenEntry,
} from '../../test/kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import type { KubernetesAuthOptions } from './auth.ts';
import { kubernetesAuthorizer, parseBearerToken } from './auth.ts';
import type { ServedApp } from '../../test/kit/http/serve-app.ts';
import { capturedLogger, serveApp } from '../../test/kit/http/serve-app.ts';

const PROMETHEUS = 'system:serviceaccount:monitoring:prometheus';
const TOKENS: Readonly<Record<string, TokenEntry>> = {
  'prometheus-token': { username: PROMETHEUS, groups: ['system:serviceaccounts'] },
  'auditor-token': { username: 'alice', uid: 'u-alice', groups: ['security-team'] },
  'nobody-token': { username: 'bob', groups: ['developers'] },
};

/** RBAC as a cluster would have it: Prometheus gets /metrics, the security team /api/*. */
function rbac(a: AccessAttributes): boolean {
  if (a.verb !== 'get' || a.path === undefined) return false;
  if (a.user === PROMETHEUS) return a.path === '/metrics';
  if (a.groups.includes('security-team')) return a.path.startsWith('/api/');
  return false;
}

interface Setup {
  readonly apiServer: EmbeddedApiServer;
  readonly app: ServedApp;
  /** Every SubjectAccessReview the API server answered. */
  readonly asked: AccessAttributes[];
  readonly logLines: string[];
  tokenReviews(): number;
  accessReviews(): number;
}

async function setup(
  t: Test,
  options: Partial<Omit<KubernetesAuthOptions, 'kubeConfig' | 'logger'>> & {
    tokens?: Readonly<Record<string, TokenEntry>>;
  } = {},
): Promise<Setup> {
  const asked: AccessAttributes[] = [];
  const apiServer = await startEmbeddedApiServer({
    tokens: options.tokens ?? TOKENS,
    authorize: (a) => {
      asked.push(a);
      return rbac(a);
    },
  });
  t.teardown(() => apiServer.stop());
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(apiServer.kubeconfig());
  const log = capturedLogger();
  const auth = kubernetesAuthorizer({ ...options, kubeConfig, logger: log.logger });
  const app = await serveApp(t, { auth, logger: log.logger });
  const count = (path: string) => apiServer.requestLog.filter((r) => r.path === path).length;
  return {
    apiServer,
    app,
    asked,
    logLines: log.lines,
    tokenReviews: () => count('/apis/authentication.k8s.io/v1/tokenreviews'),
    accessReviews: () => count('/apis/authorization.k8s.io/v1/subjectaccessreviews'),
  };
}

const bearer = (token: string): RequestInit => ({ headers: { Authorization: `Bearer ${token}` } });

t.test('no token: 401 without asking the API server', async (t) => {
  const s = await setup(t);
  for (const path of ['/metrics', '/api/v1/findings', '/', '/nope']) {
    const answer = await s.app.request(path);
    t.equal(answer.status, 401, path);
    t.equal(answer.headers.get('www-authenticate'), 'Bearer realm="pullwatch"');
    t.match(answer.json(), { error: /authentication required/ });
  }
  t.equal(s.apiServer.requestLog.length, 0, 'no TokenReview, no request at all');
});

t.test('a malformed Authorization header: 401 without asking the API server', async (t) => {
  const s = await setup(t);
  const headers = [
    'Basic cHJvbWV0aGV1czpzZWNyZXQ=',
    'Bearer',
    'Bearer ',
    'Bearer two tokens',
    'prometheus-token',
    'Bearerprometheus-token',
    'Bearer tökén',
    `Bearer ${'a'.repeat(10_000)}`,
  ];
  for (const header of headers) {
    const answer = await s.app.request('/metrics', { headers: { Authorization: header } });
    t.equal(answer.status, 401, header.slice(0, 40));
    t.match(answer.json(), { error: /malformed Authorization header/ });
  }
  t.equal(s.apiServer.requestLog.length, 0);
});

t.test('an unknown token: 401 after one TokenReview, then from the cache', async (t) => {
  const s = await setup(t);
  const first = await s.app.request('/metrics', bearer('stolen-or-made-up'));
  t.equal(first.status, 401);
  t.same(first.json(), { error: 'invalid bearer token' });
  t.equal(s.tokenReviews(), 1);
  t.equal(s.accessReviews(), 0, 'no SubjectAccessReview for an unauthenticated user');
  const again = await s.app.request('/api/v1/findings', bearer('stolen-or-made-up'));
  t.equal(again.status, 401);
  t.equal(s.tokenReviews(), 1, 'the refusal is cached, for any path');
});

t.test('a valid token RBAC does not allow: 403 naming the user and path', async (t) => {
  const s = await setup(t);
  const answer = await s.app.request('/api/v1/findings', bearer('prometheus-token'));
  t.equal(answer.status, 403);
  t.same(answer.json(), {
    error: `User "${PROMETHEUS}" cannot get path "/api/v1/findings"`,
  });
  const nobody = await s.app.request('/metrics', bearer('nobody-token'));
  t.equal(nobody.status, 403);
});

t.test(
  'a token RBAC allows: 200; Prometheus scrapes, the security team reads the API',
  async (t) => {
    const s = await setup(t);
    const scrape = await s.app.request('/metrics', bearer('prometheus-token'));
    t.equal(scrape.status, 200);
    t.match(scrape.text, /pullwatch_up/);
    const findings = await s.app.request('/api/v1/findings?severity=high', bearer('auditor-token'));
    t.equal(findings.status, 200);
    t.equal(
      (await s.app.request('/api/v1/findings/f-exposed', bearer('auditor-token'))).status,
      200,
    );
  },
);

t.test(
  'the SubjectAccessReview asks about the path (no query), verb get, and the user',
  async (t) => {
    const s = await setup(t);
    await s.app.request(
      '/api/v1/findings?severity=high&rule=private-image-exposed',
      bearer('auditor-token'),
    );
    t.same(s.asked, [
      {
        user: 'alice',
        uid: 'u-alice',
        groups: ['security-team', 'system:authenticated'],
        verb: 'get',
        path: '/api/v1/findings',
      },
    ]);
  },
);

t.test('a decision is cached: the second request makes no review', async (t) => {
  const s = await setup(t);
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
  t.equal(s.tokenReviews(), 1);
  t.equal(s.accessReviews(), 1);
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
  t.equal((await s.app.request('/api/v1/status', bearer('prometheus-token'))).status, 403);
  t.equal((await s.app.request('/api/v1/status', bearer('prometheus-token'))).status, 403);
  t.equal(s.tokenReviews(), 1, 'the identity is cached across paths');
  t.equal(s.accessReviews(), 2, 'one SubjectAccessReview per path');
});

t.test('decisions expire: 60 s when allowed, 10 s when refused', async (t) => {
  let clock = Date.now();
  const s = await setup(t, { now: () => clock });
  await s.app.request('/metrics', bearer('prometheus-token'));
  await s.app.request('/metrics', bearer('made-up'));
  t.equal(s.tokenReviews(), 2);
  clock += 11_000;
  await s.app.request('/metrics', bearer('prometheus-token'));
  await s.app.request('/metrics', bearer('made-up'));
  t.equal(s.tokenReviews(), 3, 'the refusal expired, the allowed decision did not');
  clock += 50_000;
  await s.app.request('/metrics', bearer('prometheus-token'));
  t.equal(s.tokenReviews(), 4, 'the allowed decision expired after 60 s');
  t.equal(s.accessReviews(), 2);
});

t.test(
  'a token removed from the cluster is refused once its cached decision expires',
  async (t) => {
    let clock = Date.now();
    const s = await setup(t, { now: () => clock });
    t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
    s.apiServer.auth.removeToken('prometheus-token');
    t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200, 'cached');
    clock += 61_000;
    t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 401);
  },
);

t.test('the API server down: 503 for new tokens, cached decisions still hold', async (t) => {
  const s = await setup(t);
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
  await s.apiServer.faults.setDown(true);
  const unknown = await s.app.request('/api/v1/findings', bearer('auditor-token'));
  t.equal(unknown.status, 503);
  t.same(unknown.json(), {
    error: 'the Kubernetes API server could not review the request; try again later',
  });
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200, 'cached');
  await s.apiServer.faults.setDown(false);
  t.equal(
    (await s.app.request('/api/v1/findings', bearer('auditor-token'))).status,
    200,
    'a failure is not cached: the next request asks again',
  );
  t.ok(
    s.logLines.some((l) => l.includes('an authentication review failed')),
    'the failure is logged',
  );
});

t.test('the API server answering errors (e.g. our own RBAC missing): 503', async (t) => {
  const s = await setup(t);
  s.apiServer.faults.failNext('/apis/authentication.k8s.io/v1/tokenreviews', 403);
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 503);
  s.apiServer.faults.failNext('/apis/authorization.k8s.io/v1/subjectaccessreviews', 500);
  t.equal((await s.app.request('/api/v1/images', bearer('auditor-token'))).status, 503);
});

t.test('a hung API server: 503 after the review timeout', async (t) => {
  const s = await setup(t, { reviewTimeoutMs: 100 });
  s.apiServer.faults.setLatency(2_000);
  const started = Date.now();
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 503);
  t.ok(Date.now() - started < 1_500, 'answered before the API server did');
  s.apiServer.faults.clear();
});

t.test('concurrent identical requests share one review', async (t) => {
  const s = await setup(t);
  s.apiServer.faults.setLatency(150);
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => s.app.request('/metrics', bearer('prometheus-token'))),
  );
  t.same(
    answers.map((a) => a.status),
    Array.from({ length: 8 }, () => 200),
  );
  t.equal(s.tokenReviews(), 1);
  t.equal(s.accessReviews(), 1);
});

t.test('reviews stay under the global budget: 429 past it, no API request', async (t) => {
  let clock = Date.now();
  const s = await setup(t, { maxReviewsPerSecond: 3, now: () => clock });
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const answer = await s.app.request('/metrics', bearer(`flood-${i}`));
    statuses.push(answer.status);
    if (answer.status === 429) t.equal(answer.headers.get('retry-after'), '1');
  }
  t.same(statuses, [401, 401, 401, 429, 429]);
  t.equal(s.tokenReviews(), 3);
  clock += 1_000;
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
});

t.test('a flood of made-up tokens does not evict allowed decisions', async (t) => {
  const s = await setup(t, { maxCacheEntries: 4, maxReviewsPerSecond: 1000 });
  await s.app.request('/metrics', bearer('prometheus-token'));
  for (let i = 0; i < 20; i++) await s.app.request('/metrics', bearer(`junk-${i}`));
  const before = s.tokenReviews();
  t.equal((await s.app.request('/metrics', bearer('prometheus-token'))).status, 200);
  t.equal(s.tokenReviews(), before, 'Prometheus is still answered from the cache');
});

t.test('probes stay open without a token', async (t) => {
  const s = await setup(t);
  t.equal((await s.app.request('/readyz')).status, 200);
  t.equal((await s.app.request('/livez')).status, 200);
  t.equal((await s.app.request('/healthz')).status, 200);
  t.equal(s.apiServer.requestLog.length, 0);
  t.equal((await s.app.request('/readyz/')).status, 401, 'only the exact probe paths');
});

t.test('tokens meant for another audience are refused', async (t) => {
  const s = await setup(t, {
    audiences: ['pullwatch'],
    tokens: {
      'for-pullwatch': { username: 'alice', groups: ['security-team'], audiences: ['pullwatch'] },
      'for-vault': { username: 'alice', groups: ['security-team'], audiences: ['vault'] },
    },
  });
  t.equal((await s.app.request('/api/v1/status', bearer('for-pullwatch'))).status, 200);
  t.equal((await s.app.request('/api/v1/status', bearer('for-vault'))).status, 401);
});

t.test('the token never reaches the log', async (t) => {
  const s = await setup(t);
  const secrets = ['prometheus-token', 'auditor-token', 'nobody-token', 'made-up-secret-value'];
  for (const token of secrets) {
    await s.app.request('/metrics', bearer(token));
    await s.app.request('/api/v1/findings', bearer(token));
  }
  await s.apiServer.faults.setDown(true);
  await s.app.request('/metrics', bearer('made-up-while-down'));
  t.ok(s.logLines.length > 0, 'requests were logged');
  for (const token of [...secrets, 'made-up-while-down']) {
    t.notOk(
      s.logLines.some((l) => l.includes(token)),
      `${token} is not in the log`,
    );
  }
});

t.test('bearer headers are parsed like the API server does', async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    ['Bearer abc.def-ghi_jkl', 'abc.def-ghi_jkl'],
    ['bearer abc', 'abc'],
    ['BEARER  abc ', 'abc'],
    ['Bearer a=b+c/d~', 'a=b+c/d~'],
    [undefined, undefined],
    ['', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    ['Bearer\tabc', undefined],
    ['Basic abc', undefined],
    ['Bearer abc\u0000', undefined],
  ];
  for (const [header, token] of cases) t.equal(parseBearerToken(header), token, String(header));
});

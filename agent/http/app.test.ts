// The HTTP API against a fixed fake view: every answer is also checked against
// docs/openapi.yaml by the request helper.
import t from 'tap';
import { ENDPOINTS } from './app.ts';
import type { FindingsFilter } from './findings-query.ts';
import { FINDINGS_PARAMETERS, parseFindingsFilter, selectFindings } from './findings-query.ts';
import { findingJson } from './findings-json.ts';
import { loadOpenApiDocument } from './openapi.ts';
import { openApiChecker, serveApp } from '../../test/kit/http/serve-app.ts';
import { eventsStatusJson, reportsStatusJson } from './outputs-status.ts';
import { isStale } from './representation.ts';
import type { FakeView } from '../../test/kit/http/fake-view.ts';
import {
  FAKE_PROTECTION,
  FINDINGS,
  FIXED_NOW,
  HUGE_SIZE,
  PRIVATE_IMAGE_ID,
  fakeView,
} from '../../test/kit/http/fake-view.ts';

function parsedFilter(query: string): FindingsFilter {
  const filter = parseFindingsFilter(query);
  if (!filter.ok) throw new Error(`bad test query ${query}`);
  return filter.value;
}

interface Items {
  items: { id: string }[];
  stale: boolean;
}

t.test('findings are filtered and sorted as asked', async (t) => {
  const app = await serveApp(t);
  const cases: { name: string; query: string; ids: string[] }[] = [
    {
      name: 'no filter: every finding, most severe first, then longest-standing',
      query: '',
      ids: [
        'f-unauthorized-c',
        'f-unauthorized-b-old',
        'f-unauthorized-b',
        'f-exposed',
        'f-always-pull',
      ],
    },
    {
      name: 'a namespace',
      query: 'namespace=team-b',
      ids: ['f-unauthorized-b-old', 'f-unauthorized-b'],
    },
    { name: 'a namespace with no findings', query: 'namespace=quiet', ids: [] },
    {
      name: 'a tenant: its pods (namespace mapped by tenantOf) and images exposed to it',
      query: 'tenant=team-c',
      ids: ['f-unauthorized-c', 'f-exposed'],
    },
    {
      name: 'a tenant whose credentials brought the image (owner)',
      query: 'tenant=team-a',
      ids: ['f-unauthorized-c', 'f-unauthorized-b-old', 'f-unauthorized-b', 'f-exposed'],
    },
    { name: 'a namespace name is not its tenant', query: 'tenant=team-c-dev', ids: [] },
    { name: 'a rule', query: 'rule=private-image-exposed', ids: ['f-exposed'] },
    {
      name: 'a minimum severity',
      query: 'severity=high',
      ids: ['f-unauthorized-c', 'f-unauthorized-b-old', 'f-unauthorized-b'],
    },
    {
      name: 'the lowest severity keeps everything',
      query: 'severity=low',
      ids: [
        'f-unauthorized-c',
        'f-unauthorized-b-old',
        'f-unauthorized-b',
        'f-exposed',
        'f-always-pull',
      ],
    },
    {
      name: 'a minimum confidence',
      query: 'confidence=likely',
      ids: ['f-unauthorized-c', 'f-unauthorized-b', 'f-exposed', 'f-always-pull'],
    },
    {
      name: 'only confirmed findings',
      query: 'confidence=confirmed',
      ids: ['f-unauthorized-b', 'f-always-pull'],
    },
    {
      name: 'filters combine',
      query: 'tenant=team-b&severity=high&confidence=confirmed',
      ids: ['f-unauthorized-b'],
    },
    {
      name: 'a value with an escaped character',
      query: 'namespace=team%2Db',
      ids: ['f-unauthorized-b-old', 'f-unauthorized-b'],
    },
  ];
  for (const c of cases) {
    const answer = await app.request(`/api/v1/findings${c.query ? `?${c.query}` : ''}`);
    t.equal(answer.status, 200, c.name);
    t.same(
      answer.json<Items>().items.map((f) => f.id),
      c.ids,
      c.name,
    );
  }
});

t.test('asking the same again right after a change gets the change', async (t) => {
  const cases: { name: string; query: string; change: (view: FakeView) => void }[] = [
    {
      name: 'a finding retired',
      query: '',
      change: (view) => (view.state.findings = FINDINGS.slice(1)),
    },
    {
      name: 'a finding changed (a new object with the same id)',
      query: 'namespace=team-b',
      change: (view) =>
        (view.state.findings = FINDINGS.map((f) => ({
          ...f,
          lastSeen: '2026-02-01T12:30:00.000Z',
        }))),
    },
    {
      name: 'a source went stale',
      query: 'rule=private-image-exposed',
      change: (view) => {
        view.setSource('kubernetes', { up: false, stale: true });
      },
    },
    {
      name: 'a namespace now belongs to another tenant',
      query: 'tenant=team-z',
      change: (view) => (view.tenantOf = (ns) => (ns === 'team-b' ? 'team-z' : ns)),
    },
  ];
  for (const c of cases) {
    const view = fakeView();
    const app = await serveApp(t, { view });
    const target = `/api/v1/findings${c.query ? `?${c.query}` : ''}`;
    const before = (await app.request(target)).text;
    t.equal((await app.request(target)).text, before, `${c.name}: the same answer twice`);
    c.change(view);
    const after = await app.request(target);
    t.not(after.text, before, c.name);
    t.equal(after.headers.get('content-type'), 'application/json; charset=utf-8');
    const items = selectFindings(view.findings(), parsedFilter(c.query), (ns) => view.tenantOf(ns));
    t.same(
      JSON.parse(after.text),
      { items: items.map(findingJson), stale: isStale(view) },
      `${c.name}: the view now`,
    );
  }
});

t.test('a bad findings parameter is a 400 naming it', async (t) => {
  const app = await serveApp(t);
  const cases: { name: string; query: string; parameter: string }[] = [
    { name: 'an unknown rule', query: 'rule=leaky-image', parameter: 'rule' },
    { name: 'an unknown severity', query: 'severity=urgent', parameter: 'severity' },
    { name: 'a severity in capitals', query: 'severity=HIGH', parameter: 'severity' },
    { name: 'an unknown confidence', query: 'confidence=sure', parameter: 'confidence' },
    { name: 'an unknown parameter', query: 'limit=10', parameter: 'limit' },
    { name: 'a misspelt parameter', query: 'severty=high', parameter: 'severty' },
    { name: 'a parameter in capitals', query: 'Namespace=team-b', parameter: 'Namespace' },
    { name: 'a repeated parameter', query: 'namespace=a&namespace=b', parameter: 'namespace' },
    {
      name: 'a repeated parameter, same value',
      query: 'rule=private-image-exposed&rule=private-image-exposed',
      parameter: 'rule',
    },
    { name: 'an empty value', query: 'namespace=', parameter: 'namespace' },
    { name: 'a parameter without a value', query: 'tenant', parameter: 'tenant' },
    { name: 'array syntax', query: 'rule[]=private-image-exposed', parameter: 'rule[]' },
    { name: 'a bad one after good ones', query: 'severity=low&rule=nope', parameter: 'rule' },
  ];
  for (const c of cases) {
    const answer = await app.request(`/api/v1/findings?${c.query}`);
    t.equal(answer.status, 400, c.name);
    t.match(answer.json(), { error: String, parameter: c.parameter }, c.name);
  }
  const listed = await app.request('/api/v1/findings?severity=urgent');
  t.match(listed.json(), { error: 'must be one of: low, medium, high, critical' });
});

t.test('endpoints without parameters refuse any', async (t) => {
  const app = await serveApp(t);
  for (const path of [
    '/api/v1/images',
    '/api/v1/status',
    '/api/v1/findings/f-exposed',
    '/openapi.json',
    '/',
  ]) {
    const answer = await app.request(`${path}?verbose=1`);
    t.equal(answer.status, 400, path);
    t.same(answer.json(), {
      error: 'unknown query parameter (this endpoint takes: none)',
      parameter: 'verbose',
    });
  }
});

t.test('a finding by id, and a 404 for an unknown one', async (t) => {
  const app = await serveApp(t);
  const found = await app.request('/api/v1/findings/f-exposed');
  t.equal(found.status, 200);
  t.match(found.json(), {
    stale: false,
    item: { id: 'f-exposed', rule: 'private-image-exposed', exposedTenants: ['team-b', 'team-c'] },
  });
  const missing = await app.request('/api/v1/findings/no-such-finding');
  t.equal(missing.status, 404);
  t.same(missing.json(), { error: 'no active finding has this id' });
  t.equal(missing.headers.get('content-type'), 'application/json; charset=utf-8');
});

t.test('image sizes above 2^53 are exact JSON numbers', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/api/v1/images');
  t.equal(answer.status, 200);
  t.match(answer.text, `"sizeBytes":${HUGE_SIZE.toString()}`);
  t.notMatch(answer.text, /"sizeBytes":"/, 'a number, not a string');
  const parsed = JSON.parse(answer.text, (key, value: unknown, context?: { source?: string }) =>
    key === 'sizeBytes' && context?.source !== undefined ? BigInt(context.source) : value,
  ) as { items: { imageId: string; sizeBytes: bigint }[] };
  t.equal(parsed.items.find((i) => i.imageId === PRIVATE_IMAGE_ID)?.sizeBytes, HUGE_SIZE);
});

t.test('images list tags, digests, visibility, owners and users, by image ID', async (t) => {
  const app = await serveApp(t);
  const { items } = (await app.request('/api/v1/images')).json<{
    items: { imageId: string; visibility: string }[];
  }>();
  t.same(
    items.map((i) => i.imageId),
    [...items.map((i) => i.imageId)].sort(),
    'sorted by image ID',
  );
  t.match(
    items.find((i) => i.imageId === PRIVATE_IMAGE_ID),
    {
      repoTags: ['registry.example.com/team-a/billing:1.4'],
      visibility: 'private',
      pinned: false,
      owners: [{ tenant: 'team-a', namespace: 'team-a', secret: 'team-a-pull' }],
      usedBy: [
        { namespace: 'team-a', pod: 'billing-0', container: 'app' },
        { namespace: 'team-b', pod: 'reports-6d5f', container: 'main' },
      ],
    },
  );
});

t.test('status reports each source, readiness, version and protection', async (t) => {
  const view = fakeView();
  view.setSource('kubernetes', {
    up: false,
    lastSync: undefined,
    lastError: 'connection refused',
  });
  view.state.readiness = { ready: false, reason: 'waiting for the first pod list' };
  const app = await serveApp(t, { view });
  const answer = await app.request('/api/v1/status');
  t.equal(answer.status, 200);
  t.same(answer.json(), {
    node: 'node-1',
    version: '1.2.3',
    revision: 'abc1234',
    ready: false,
    notReadyReason: 'waiting for the first pod list',
    stale: false,
    sources: {
      cri: {
        up: true,
        lastSync: new Date(FIXED_NOW - 5_000).toISOString(),
        error: null,
        stale: false,
      },
      kubernetes: { up: false, lastSync: null, error: 'connection refused', stale: false },
    },
    protection: FAKE_PROTECTION,
  });
});

t.test('status says what the report and Event writers do, as the document describes', async (t) => {
  const outputs = {
    reports: reportsStatusJson('openreports', {
      status: () => ({
        state: 'kind-not-served' as const,
        problem:
          'the API server does not serve openreports.io/v1alpha1 Report (CRDs not installed)',
        objects: 0,
        pending: 2,
        lastError: { at: FIXED_NOW, message: 'apply Report tenant-b/pullwatch-node-1: not found' },
      }),
    }),
    events: eventsStatusJson('on', 'node-name-too-long'),
  };
  const app = await serveApp(t, { outputs: () => outputs });
  const answer = await app.request('/api/v1/status');
  t.equal(answer.status, 200);
  const body = answer.json<{ reports: unknown; events: unknown; sources: unknown }>();
  t.ok(body.sources, 'beside the sources');
  t.strictSame({ reports: body.reports, events: body.events }, outputs);
});

t.test('while a source is stale, every API answer says so', async (t) => {
  const view = fakeView();
  const app = await serveApp(t, { view });
  const paths = [
    '/api/v1/findings',
    '/api/v1/findings/f-exposed',
    '/api/v1/images',
    '/api/v1/status',
  ];
  for (const path of paths) {
    t.equal((await app.request(path)).json<{ stale: boolean }>().stale, false, `${path} fresh`);
  }
  view.setSource('cri', { up: false, stale: true, lastError: 'runtime unavailable' });
  for (const path of paths) {
    t.equal((await app.request(path)).json<{ stale: boolean }>().stale, true, `${path} stale`);
  }
});

t.test('readiness follows the view; liveness is always ok', async (t) => {
  const view = fakeView({ readiness: { ready: false, reason: 'first CRI listing not done' } });
  const app = await serveApp(t, { view });
  const notReady = await app.request('/readyz');
  t.equal(notReady.status, 503);
  t.same(notReady.json(), { ready: false, reason: 'first CRI listing not done' });
  view.state.readiness = { ready: true };
  const ready = await app.request('/readyz');
  t.equal(ready.status, 200);
  t.same(ready.json(), { ready: true });
  for (const path of ['/livez', '/healthz']) {
    const answer = await app.request(path);
    t.equal(answer.status, 200);
    t.equal(answer.text, 'ok');
    t.match(answer.headers.get('content-type'), /^text\/plain/);
  }
  t.equal((await app.request('/readyz?verbose')).status, 200, 'probes ignore query strings');
});

t.test('/metrics serves the registry in the Prometheus text format', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/metrics');
  t.equal(answer.status, 200);
  t.equal(answer.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.match(answer.text, /^pullwatch_up\{source="cri"\} 1$/m);
  t.match(answer.text, /^process_cpu_seconds_total /m);
});

t.test('/openapi.json is docs/openapi.yaml with the running version', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/openapi.json');
  t.equal(answer.status, 200);
  const doc = loadOpenApiDocument();
  t.same(answer.json(), { ...doc, info: { ...(doc['info'] as object), version: '1.2.3' } });
});

t.test('the landing page links every endpoint', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/');
  t.equal(answer.status, 200);
  t.match(answer.headers.get('content-type'), /^text\/html/);
  for (const { path } of ENDPOINTS) t.match(answer.text, `<code>${path}</code>`);
});

t.test('unknown paths are 404 JSON; paths are exact', async (t) => {
  const app = await serveApp(t);
  for (const path of [
    '/nope',
    '/api/v2/findings',
    '/METRICS',
    '/metrics/',
    '/api/v1/findings/a/b',
  ]) {
    const answer = await app.request(path);
    t.equal(answer.status, 404, path);
    t.same(answer.json(), { error: 'not found' }, path);
  }
});

t.test('methods other than GET and HEAD are 405 with Allow', async (t) => {
  const app = await serveApp(t);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    for (const path of ['/api/v1/findings', '/metrics', '/livez', '/nope']) {
      const answer = await app.request(path, { method });
      t.equal(answer.status, 405, `${method} ${path}`);
      t.equal(answer.headers.get('allow'), 'GET, HEAD');
      t.same(answer.json(), { error: `method ${method} not allowed` });
    }
  }
});

t.test('HEAD answers like GET without a body', async (t) => {
  const app = await serveApp(t);
  for (const path of ['/api/v1/findings', '/metrics', '/livez', '/api/v1/images']) {
    const answer = await app.request(path, { method: 'HEAD' });
    t.equal(answer.status, 200, path);
    t.equal(answer.text, '');
  }
});

t.test('a failure inside the agent is a 500 without details, logged', async (t) => {
  const view = fakeView();
  view.findings = () => {
    throw new Error('secret internal detail at /var/lib/pullwatch');
  };
  const app = await serveApp(t, { view });
  const answer = await app.request('/api/v1/findings');
  t.equal(answer.status, 500);
  t.same(answer.json(), { error: 'internal error' });
  t.notMatch(answer.text, /secret internal detail|at .*\.ts/);
  t.ok(
    app.log.lines.some((l) => l.includes('secret internal detail') && l.includes('"level":50')),
    'the error and its stack are in the log',
  );
});

t.test('a malformed escape in the path is a 400, not a 500', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/api/v1/findings/%E0%A4%A');
  t.equal(answer.status, 400);
  t.same(answer.json(), { error: 'bad request' });
});

t.test('answers are not cached by intermediaries', async (t) => {
  const app = await serveApp(t);
  const answer = await app.request('/api/v1/findings');
  t.equal(answer.headers.get('cache-control'), 'no-store');
  t.equal(answer.headers.get('x-powered-by'), null);
  t.equal(answer.headers.get('etag'), null, 'nothing to revalidate, so no ETag');
});

t.test('the OpenAPI document and the app agree', async (t) => {
  const checker = openApiChecker();
  const doc = loadOpenApiDocument();
  const documented = Object.keys(doc['paths'] as object).sort();
  t.same(
    ['/', ...ENDPOINTS.map((e) => e.path)].sort(),
    documented,
    'the landing page lists the documented paths',
  );
  t.same(
    checker.queryParameters('/api/v1/findings').sort(),
    [...FINDINGS_PARAMETERS].sort(),
    'the findings parameters are the documented ones',
  );
  const app = await serveApp(t);
  for (const path of documented) {
    const concrete = path.replace('{id}', 'f-exposed');
    t.equal((await app.request(concrete)).status, 200, `GET ${concrete} is served`);
  }
});

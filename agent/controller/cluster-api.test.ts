// The controller's findings API over HTTP, with a fake source and authorizer: the agent's
// filters plus `node`, its order, 503 before the first list, stale while the watch is down, and
// the refusals, every answer checked against docs/controller-openapi.yaml.
import express from 'express';
import { pino } from 'pino';
import t from 'tap';
import { FINDINGS } from '../../test/kit/http/fake-view.ts';
import { controllerOpenApiChecker } from '../../test/kit/http/controller-openapi.ts';
import type { TestHost } from '../../test/kit/http/serve-app.ts';
import type { AuthOutcome, RequestAuthorizer } from '../http/auth.ts';
import { findingJson } from '../http/findings-json.ts';
import { startHttpServer } from '../http/server.ts';
import { clusterFindingsRouter, parseClusterFindingsFilter } from './cluster-api.ts';
import { indexFindings, type WatchedReport } from './cluster-findings.ts';
import type { ClusterFindings } from './cluster-reports-watch.ts';

const onNode = (node: string) =>
  FINDINGS.map((f) => findingJson({ ...f, node, id: `${f.id}@${node}` }));

const report = (node: string): WatchedReport => ({
  ok: true,
  node,
  ref: {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'ClusterReport',
    name: `pullwatch-node-${node}`,
  },
  findings: onNode(node),
});

/** Tokens: `security` may read /api/*, `tenant` may not, anything else is not a token. */
const tableAuth: RequestAuthorizer = {
  mode: 'kubernetes',
  authorize: ({ path, authorization }): Promise<AuthOutcome> => {
    if (authorization === 'Bearer security')
      return Promise.resolve({ allowed: true, user: 'security' });
    if (authorization === 'Bearer tenant')
      return Promise.resolve({
        allowed: false,
        status: 403,
        reason: `User "tenant" cannot get path "${path}"`,
      });
    return Promise.resolve({ allowed: false, status: 401, reason: 'invalid bearer token' });
  },
};

async function serve(t: TestHost, state: { findings: ClusterFindings }) {
  const app = express();
  app.use(
    clusterFindingsRouter({
      source: { findings: () => state.findings },
      auth: tableAuth,
      logger: pino({ level: 'silent' }),
    }),
  );
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  const server = await startHttpServer({ app, listen: '127.0.0.1:0' });
  t.teardown(() => server.stop());
  return async (target: string, init: RequestInit & { token?: string } = {}) => {
    const { token = 'security', ...rest } = init;
    const response = await fetch(`http://${server.address}${target}`, {
      ...rest,
      headers: token === '' ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    const method = (rest.method ?? 'GET').toUpperCase();
    t.same(
      controllerOpenApiChecker().check({
        method,
        path: new URL(target, 'http://x').pathname,
        status: response.status,
        contentType: response.headers.get('content-type'),
        body: text,
      }),
      [],
      `${method} ${target} answers as docs/controller-openapi.yaml says`,
    );
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };
}

const serving = (stale = false): ClusterFindings => ({
  serving: true,
  stale,
  index: indexFindings([report('node-1'), report('node-2')]),
});

t.test("filters select among every node's findings, in the agent's order", async (t) => {
  const get = await serve(t, { findings: serving() });
  const ids = async (query: string) =>
    ((await get(`/api/v1/findings${query}`)).json()['items'] as { id: string }[]).map((f) => f.id);
  const cases: { name: string; query: string; expect: string[] }[] = [
    {
      name: 'one node',
      query: '?node=node-2',
      expect: [
        'f-unauthorized-c@node-2',
        'f-unauthorized-b-old@node-2',
        'f-unauthorized-b@node-2',
        'f-exposed@node-2',
        'f-always-pull@node-2',
      ],
    },
    { name: 'a node with no report', query: '?node=node-9', expect: [] },
    {
      name: 'a rule across nodes, most severe and oldest first',
      query: '?rule=private-image-exposed',
      expect: ['f-exposed@node-1', 'f-exposed@node-2'],
    },
    {
      name: 'a tenant, by the namespace the agents mapped to it, on one node',
      query: '?tenant=team-c&node=node-1&rule=unauthorized-cached-image-use',
      expect: ['f-unauthorized-c@node-1'],
    },
    {
      name: 'severity and node',
      query: '?severity=critical&node=node-1',
      expect: ['f-unauthorized-c@node-1'],
    },
    {
      name: 'a namespace',
      query: '?namespace=team-b&confidence=confirmed&node=node-1',
      expect: ['f-unauthorized-b@node-1'],
    },
  ];
  for (const c of cases) t.same(await ids(c.query), c.expect, c.name);
  t.equal((await get('/api/v1/findings')).json()['stale'], false);
  t.equal(((await get('/api/v1/findings')).json()['items'] as unknown[]).length, 10, 'both nodes');
});

t.test('one finding by id, of any node', async (t) => {
  const get = await serve(t, { findings: serving() });
  const answer = await get('/api/v1/findings/f-exposed@node-2');
  t.equal(answer.status, 200);
  t.match(answer.json(), { item: { id: 'f-exposed@node-2', node: 'node-2' }, stale: false });
  t.equal((await get('/api/v1/findings/nope')).status, 404);
  t.equal(
    (await get('/api/v1/findings/f-exposed@node-2?node=node-2')).status,
    400,
    'no query on one finding',
  );
});

t.test('before the first list, and while the watch is down', async (t) => {
  const state: { findings: ClusterFindings } = {
    findings: {
      serving: false,
      reason: 'the ClusterReport CRD (clusterreports.openreports.io/v1alpha1) is not installed',
    },
  };
  const get = await serve(t, state);
  for (const path of ['/api/v1/findings', '/api/v1/findings/f-exposed@node-1']) {
    const answer = await get(path);
    t.equal(answer.status, 503, `${path}: 503 before the first list`);
    t.match(answer.json(), { error: /CRD .* is not installed/ }, `${path}: says why`);
  }
  state.findings = serving(true);
  t.equal(
    (await get('/api/v1/findings?node=node-1')).json()['stale'],
    true,
    'stale, with the last findings',
  );
  t.equal((await get('/api/v1/findings/f-exposed@node-1')).json()['stale'], true);
  state.findings = serving(false);
  t.equal((await get('/api/v1/findings?node=node-1')).json()['stale'], false, 'current again');
});

t.test('refusals', async (t) => {
  const get = await serve(t, { findings: serving() });
  const cases: {
    name: string;
    target: string;
    init?: RequestInit & { token?: string };
    status: number;
    error: RegExp;
    parameter?: string;
  }[] = [
    {
      name: 'no token',
      target: '/api/v1/findings',
      init: { token: '' },
      status: 401,
      error: /invalid bearer token/,
    },
    {
      name: 'RBAC says no',
      target: '/api/v1/findings?node=node-1',
      init: { token: 'tenant' },
      status: 403,
      error: /cannot get path "\/api\/v1\/findings"/,
    },
    {
      name: 'a typo in a filter',
      target: '/api/v1/findings?nod=node-1',
      status: 400,
      error: /unknown query parameter .*node/,
      parameter: 'nod',
    },
    {
      name: 'an empty node',
      target: '/api/v1/findings?node=',
      status: 400,
      error: /no value/,
      parameter: 'node',
    },
    {
      name: 'node twice',
      target: '/api/v1/findings?node=a&node=b',
      status: 400,
      error: /more than once/,
      parameter: 'node',
    },
    {
      name: 'a bad severity',
      target: '/api/v1/findings?severity=urgent',
      status: 400,
      error: /must be one of/,
      parameter: 'severity',
    },
    {
      name: 'a POST',
      target: '/api/v1/findings',
      init: { method: 'POST' },
      status: 405,
      error: /method POST not allowed/,
    },
  ];
  for (const c of cases) {
    const answer = await get(c.target, c.init);
    t.equal(answer.status, c.status, c.name);
    t.match(
      answer.json(),
      { error: c.error, ...(c.parameter === undefined ? {} : { parameter: c.parameter }) },
      `${c.name}: says why`,
    );
  }
  const unauthenticated = await get('/api/v1/findings', { token: '' });
  t.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer realm="pullwatch"');
  t.equal((await get('/api/v1/findings', { method: 'POST' })).headers.get('allow'), 'GET, HEAD');
  t.equal((await get('/api/v1/findings')).headers.get('cache-control'), 'no-store');
});

t.test('the node filter is parsed with the agent filters, strictly', async (t) => {
  t.same(parseClusterFindingsFilter('node=n1&rule=private-image-exposed'), {
    ok: true,
    value: { rule: 'private-image-exposed', node: 'n1' },
  });
  t.same(parseClusterFindingsFilter(''), { ok: true, value: {} });
  t.match(parseClusterFindingsFilter('pod=x'), { ok: false, error: { parameter: 'pod' } });
});

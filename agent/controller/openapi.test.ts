// The checker of docs/controller-openapi.yaml must be able to fail, through the agent's schemas
// the document refers to: answers that break it are reported, with the reason.
import t from 'tap';
import { controllerOpenApiChecker } from '../../test/kit/http/controller-openapi.ts';
import { FINDINGS } from '../../test/kit/http/fake-view.ts';
import { findingJson } from '../http/findings-json.ts';
import { CLUSTER_FINDINGS_PARAMETERS } from './cluster-api.ts';

const json = 'application/json; charset=utf-8';
const [first] = FINDINGS;
if (first === undefined) throw new Error('no fixture finding');
const finding = findingJson(first);

t.test('answers that break docs/controller-openapi.yaml are reported', async (t) => {
  const cases: { name: string; path: string; status: number; body: unknown; problem: RegExp }[] = [
    {
      name: 'a finding without its node',
      path: '/api/v1/findings',
      status: 200,
      body: { items: [{ ...finding, node: undefined }], stale: false },
      problem: /node/,
    },
    {
      name: 'a finding naming a secret it should not',
      path: '/api/v1/findings/x',
      status: 200,
      body: { item: { ...finding, secretValue: 'x' }, stale: false },
      problem: /item/,
    },
    {
      name: 'a list without the stale flag',
      path: '/api/v1/findings',
      status: 200,
      body: { items: [] },
      problem: /must have required property 'stale'/,
    },
    {
      name: 'a 503 without a reason',
      path: '/api/v1/findings',
      status: 503,
      body: {},
      problem: /must have required property 'error'/,
    },
    {
      name: 'a status the operation does not document',
      path: '/api/v1/findings',
      status: 418,
      body: {},
      problem: /does not document status 418/,
    },
  ];
  for (const c of cases) {
    const problems = controllerOpenApiChecker().check({
      method: 'GET',
      path: c.path,
      status: c.status,
      contentType: json,
      body: JSON.stringify(c.body),
    });
    t.match(problems.join('\n'), c.problem, c.name);
  }
  t.same(
    controllerOpenApiChecker().check({
      method: 'GET',
      path: '/api/v1/findings',
      status: 200,
      contentType: json,
      body: JSON.stringify({ items: [finding], stale: true }),
    }),
    [],
    'and a good answer passes',
  );
});

t.test('the controller documents the cluster filter and nothing of the broker', async (t) => {
  const checker = controllerOpenApiChecker();
  t.same(
    checker.queryParameters('/api/v1/findings').sort(),
    [...CLUSTER_FINDINGS_PARAMETERS].sort(),
    'the filters the API takes are the ones documented',
  );
  t.equal(checker.templateOf('/api/v1/pull-secrets'), undefined);
});

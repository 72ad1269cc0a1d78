// The OpenAPI checker the API tests rely on must be able to fail: answers that break the
// document are reported, with the reason.
import t from 'tap';
import { openApiChecker } from '../../test/kit/http/serve-app.ts';

const json = 'application/json; charset=utf-8';

t.test('answers that break docs/openapi.yaml are reported', async (t) => {
  const checker = openApiChecker();
  const cases: { name: string; answer: Parameters<typeof checker.check>[0]; problem: RegExp }[] = [
    {
      name: 'an image size written as a string',
      answer: {
        method: 'GET',
        path: '/api/v1/images',
        status: 200,
        contentType: json,
        body: JSON.stringify({
          stale: false,
          items: [
            {
              imageId: 'sha256:1',
              repoTags: [],
              repoDigests: [],
              sizeBytes: '12',
              pinned: false,
              visibility: 'private',
              owners: [],
              usedBy: [],
            },
          ],
        }),
      },
      problem: /sizeBytes must be integer/,
    },
    {
      name: 'a findings list without the stale flag',
      answer: {
        method: 'GET',
        path: '/api/v1/findings',
        status: 200,
        contentType: json,
        body: '{"items":[]}',
      },
      problem: /must have required property 'stale'/,
    },
    {
      name: 'a finding with a field the document does not know',
      answer: {
        method: 'GET',
        path: '/api/v1/findings/x',
        status: 200,
        contentType: json,
        body: JSON.stringify({
          stale: false,
          item: { id: 'x', rule: 'private-image-exposed', secret: 'y' },
        }),
      },
      problem: /item/,
    },
    {
      name: 'a status the operation does not document',
      answer: { method: 'GET', path: '/api/v1/images', status: 418, contentType: json, body: '{}' },
      problem: /does not document status 418/,
    },
    {
      name: 'an undocumented content type',
      answer: { method: 'GET', path: '/metrics', status: 200, contentType: json, body: '{}' },
      problem: /content type "application\/json"/,
    },
    {
      name: 'a 400 without an error text',
      answer: {
        method: 'GET',
        path: '/api/v1/findings',
        status: 400,
        contentType: json,
        body: '{"parameter":"rule"}',
      },
      problem: /error/,
    },
    {
      name: 'a POST answered with 200',
      answer: {
        method: 'POST',
        path: '/api/v1/findings',
        status: 200,
        contentType: json,
        body: '{}',
      },
      problem: /not 405/,
    },
    {
      name: 'a stack trace in a 500',
      answer: {
        method: 'GET',
        path: '/api/v1/status',
        status: 500,
        contentType: json,
        body: '{"error":"internal error","stack":"Error: x\\n at y"}',
      },
      problem: /must NOT have additional properties/,
    },
  ];
  for (const c of cases) {
    const problems = checker.check(c.answer);
    t.ok(problems.length > 0, `${c.name} is reported`);
    t.match(problems.join('\n'), c.problem, c.name);
  }
});

t.test('documented path templates are found for concrete paths', async (t) => {
  const checker = openApiChecker();
  t.equal(checker.templateOf('/api/v1/findings/abc'), '/api/v1/findings/{id}');
  t.equal(checker.templateOf('/api/v1/findings'), '/api/v1/findings');
  t.equal(checker.templateOf('/api/v1/findings/a/b'), undefined);
});

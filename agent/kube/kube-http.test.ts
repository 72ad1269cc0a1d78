// The review POST: the kubeconfig's credentials, a JSON body, the 201 a create answers, and the
// same error values as a GET.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { listenOnLoopback } from '../../test/helpers/loopback-server.ts';
import { getJson, postReview } from './kube-http.ts';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** An API server that answers every request with `answer`, recording what it received. */
async function apiServer(
  t: Test,
  answer: (res: ServerResponse) => void,
): Promise<{ readonly kubeConfig: KubeConfig; readonly received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      answer(res);
    });
  });
  const port = await listenOnLoopback(t, server);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    // client-node refuses plain HTTP unless TLS verification is explicitly off.
    clusters: [{ name: 'test', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'agent', token: 'agent-token' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'agent' }],
    currentContext: 'test',
  });
  return { kubeConfig, received };
}

const PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const review = {
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenReview',
  spec: { token: 't' },
};

t.test('a review is POSTed as JSON with the agent credentials and its 201 is read', async (t) => {
  const server = await apiServer(t, (res) => {
    res
      .writeHead(201, { 'content-type': 'application/json' })
      .end('{"status":{"authenticated":true}}');
  });
  const answer = await postReview(server.kubeConfig, PATH, review, { timeoutMs: 5000 });
  t.same(answer, { ok: true, value: { status: { authenticated: true } } });
  const [request] = server.received;
  t.match(request, {
    method: 'POST',
    url: PATH,
    headers: {
      authorization: 'Bearer agent-token',
      'content-type': 'application/json',
      'content-length': String(JSON.stringify(review).length),
      accept: 'application/json',
    },
  });
  t.same(JSON.parse(request?.body ?? ''), review);
});

t.test('a review the API server refuses or garbles is an error value', async (t) => {
  const cases: readonly [name: string, answer: (res: ServerResponse) => void, expected: object][] =
    [
      [
        'a Status with a reason',
        (res) =>
          res
            .writeHead(403)
            .end('{"kind":"Status","reason":"Forbidden","message":"no tokenreviews for you"}'),
        {
          ok: false,
          error: {
            kind: 'http',
            status: 403,
            reason: 'Forbidden',
            message: 'no tokenreviews for you',
          },
        },
      ],
      [
        'a 2xx that is not JSON',
        (res) => res.writeHead(200).end('<html>'),
        {
          ok: false,
          error: { kind: 'protocol', message: `the answer to POST ${PATH} is not JSON` },
        },
      ],
      [
        'no answer within the timeout',
        () => undefined,
        {
          ok: false,
          error: { kind: 'timeout', message: `no answer to POST ${PATH} within 100 ms` },
        },
      ],
    ];
  for (const [name, answer, expected] of cases) {
    const server = await apiServer(t, answer);
    t.same(await postReview(server.kubeConfig, PATH, review, { timeoutMs: 100 }), expected, name);
  }
});

t.test('a GET still takes only 200 as an answer', async (t) => {
  const server = await apiServer(t, (res) => res.writeHead(201).end('{}'));
  const answer = await getJson(
    server.kubeConfig,
    '/api/v1/namespaces',
    {},
    {
      signal: new AbortController().signal,
      timeoutMs: 5000,
    },
  );
  t.match(answer, { ok: false, error: { kind: 'http', status: 201 } });
  t.equal(server.received[0]?.headers['content-type'], undefined, 'and sends no body');
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { readBoundedBody, sendRequest, type RequestLimits } from './http-request.ts';
import { serve } from './scripted-server.test-helper.ts';

const limits: RequestLimits = { timeoutMs: 2000, maxRedirects: 5, signal: undefined };

t.test('a request carries the agent as user agent and the given headers', async (t) => {
  const server = await serve(t, (_req, res) => res.writeHead(200).end());
  const sent = await sendRequest(
    limits,
    'HEAD',
    new URL(`http://${server.host}/v2/`),
    { accept: 'application/json' },
    undefined,
  );
  t.equal(sent.ok && sent.value.response.status, 200);
  t.match(server.requests, [
    { method: 'HEAD', url: '/v2/', accept: 'application/json', userAgent: /^pullwatch\// },
  ]);
});

t.test('connection refused is an error naming the URL', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    closed.close(() => {
      resolve();
    }),
  );
  const url = new URL(`http://127.0.0.1:${port}/v2/team/app/manifests/v1?x=1`);
  t.same(await sendRequest(limits, 'HEAD', url, {}, undefined), {
    ok: false,
    error: `HEAD http://127.0.0.1:${port}/v2/team/app/manifests/v1: connection refused (ECONNREFUSED)`,
  });
});

t.test(
  'the credential follows a redirect on its origin only, and is dropped for good',
  async (t) => {
    const other = await serve(t, (_req, res) => {
      res.writeHead(302, { location: `http://${first.host}/back` }).end();
    });
    const first = await serve(t, (req, res) => {
      if (req.url === '/start') res.writeHead(307, { location: '/moved' }).end();
      else if (req.url === '/moved')
        res.writeHead(302, { location: `http://${other.host}/hop` }).end();
      else res.writeHead(200).end();
    });
    const sent = await sendRequest(
      limits,
      'GET',
      new URL(`http://${first.host}/start`),
      {},
      'Basic dXNlcjpwYXNz',
    );
    t.equal(sent.ok && sent.value.url.pathname, '/back', 'the response says where it came from');
    t.same(
      first.requests.map((r) => [r.url, r.authorization]),
      [
        ['/start', 'Basic dXNlcjpwYXNz'],
        ['/moved', 'Basic dXNlcjpwYXNz'],
        ['/back', undefined],
      ],
      'same origin: sent; back on it after another origin: not sent again',
    );
    t.same(
      other.requests.map((r) => r.authorization),
      [undefined],
      'another origin never sees it',
    );
  },
);

t.test('redirects that cannot be followed', async (t) => {
  const cases: readonly [
    name: string,
    status: number,
    location: string | undefined,
    detail: RegExp,
  ][] = [
    ['to another URL scheme', 307, 'file:///etc/passwd', /: redirect to a file: URL$/],
    [
      'to a URL with user info',
      302,
      'http://u:p@127.0.0.1/x',
      /: redirect to a URL with user info$/,
    ],
    ['without a Location', 301, undefined, /: redirect 301 without a Location$/],
  ];
  for (const [name, status, location, detail] of cases) {
    const server = await serve(t, (_req, res) => {
      res.writeHead(status, location === undefined ? {} : { location }).end();
    });
    const sent = await sendRequest(limits, 'GET', new URL(`http://${server.host}/`), {}, undefined);
    t.match(sent, { ok: false, error: detail }, name);
  }
});

t.test('bodies are read up to a limit', async (t) => {
  const cases: readonly [name: string, body: string[], declared: boolean, expected: object][] = [
    ['a body within the limit', ['0123456789'], true, { ok: true }],
    [
      'a declared body over the limit',
      ['0123456789', 'x'],
      true,
      { ok: false, error: 'response of 11 bytes exceeds the 10-byte limit' },
    ],
    [
      'a streamed body over the limit',
      ['01234', '56789', 'x'],
      false,
      { ok: false, error: 'response exceeds the 10-byte limit' },
    ],
  ];
  for (const [name, chunks, declared, expected] of cases) {
    const server = await serve(t, (_req, res) => {
      const length = chunks.join('').length;
      res.writeHead(200, declared ? { 'content-length': String(length) } : {});
      for (const chunk of chunks) res.write(chunk);
      res.end();
    });
    const sent = await sendRequest(limits, 'GET', new URL(`http://${server.host}/`), {}, undefined);
    if (!sent.ok) throw new Error(sent.error);
    t.match(await readBoundedBody(limits, sent.value, 10), expected, name);
  }
});

import t from 'tap';
import type { RequestLimits } from './http-request.ts';
import { serve, type Handler } from './scripted-server.test-helper.ts';
import { fetchPullToken, MAX_TOKEN_RESPONSE_BYTES } from './token-flow.ts';

const limits: RequestLimits = { timeoutMs: 5000, maxRedirects: 5, signal: undefined };
const BASIC = `Basic ${Buffer.from('user:pa55word').toString('base64')}`;

t.test('token responses', async (t) => {
  const cases: readonly [name: string, token: Handler, expected: object][] = [
    [
      'token field',
      (_req, res) => res.writeHead(200).end('{"token":"good-token"}'),
      { ok: true, value: 'good-token' },
    ],
    [
      'access_token field (OAuth2 style)',
      (_req, res) => res.writeHead(200).end('{"access_token":"good-token","expires_in":60}'),
      { ok: true, value: 'good-token' },
    ],
    [
      'no token',
      (_req, res) => res.writeHead(200).end('{"expires_in":60}'),
      { ok: false, error: { result: 'error', detail: /no usable token or access_token$/ } },
    ],
    [
      'not JSON',
      (_req, res) => res.writeHead(200).end('<html>'),
      { ok: false, error: { result: 'error', detail: /no usable token or access_token$/ } },
    ],
    [
      'a token that would break the header',
      (_req, res) => res.writeHead(200).end('{"token":"a\\r\\nX-Injected: 1"}'),
      { ok: false, error: { result: 'error', detail: /no usable token or access_token$/ } },
    ],
    [
      'a declared body over 1 MiB',
      (_req, res) =>
        res
          .writeHead(200, { 'content-length': String(MAX_TOKEN_RESPONSE_BYTES + 1) })
          .end('{"token":"good-token"}'),
      { ok: false, error: { result: 'error', detail: /exceeds the 1048576-byte limit$/ } },
    ],
    [
      'a streamed body over 1 MiB',
      (_req, res) => {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        for (let i = 0; i < 17; i++) res.write(chunk);
        res.end('{"token":"good-token"}');
      },
      { ok: false, error: { result: 'error', detail: /exceeds the 1048576-byte limit$/ } },
    ],
    [
      'the token endpoint refuses',
      (_req, res) => res.writeHead(401).end(),
      {
        ok: false,
        error: { result: 'denied', status: 401, detail: 'anonymous token request answered 401' },
      },
    ],
    [
      'the token endpoint fails',
      (_req, res) => res.writeHead(502).end(),
      { ok: false, error: { result: 'error', detail: 'anonymous token request answered 502' } },
    ],
  ];
  for (const [name, token, expected] of cases) {
    const server = await serve(t, token);
    const realm = { realm: `http://${server.host}/token`, service: 'test-registry' };
    t.match(await fetchPullToken(limits, realm, 'team/app', [], undefined), expected, name);
  }
});

t.test('a token below the limit is accepted', async (t) => {
  const padding = ' '.repeat(MAX_TOKEN_RESPONSE_BYTES - 100);
  const server = await serve(t, (_req, res) =>
    res.writeHead(200).end(`{"token":"good-token"}${padding}`),
  );
  const realm = { realm: `http://${server.host}/token`, service: undefined };
  t.same(await fetchPullToken(limits, realm, 'team/app', [], undefined), {
    ok: true,
    value: 'good-token',
  });
});

t.test(
  'the token request carries service, scope and the credential to a loopback realm, keeping its query',
  async (t) => {
    const server = await serve(t, (_req, res) => res.writeHead(200).end('{"token":"good-token"}'));
    const realm = { realm: `http://${server.host}/token?client=x`, service: 'test-registry' };
    await fetchPullToken(limits, realm, 'team/app', [], BASIC);
    t.match(server.requests, [
      {
        method: 'GET',
        url: '/token?client=x&service=test-registry&scope=repository%3Ateam%2Fapp%3Apull',
        accept: 'application/json',
        authorization: BASIC,
      },
    ]);
  },
);

t.test('the credential never goes to a plain-HTTP realm off loopback', async (t) => {
  const realm = { realm: 'http://auth.example.invalid/token', service: undefined };
  t.same(await fetchPullToken(limits, realm, 'team/app', [], BASIC), {
    ok: false,
    error: {
      result: 'error',
      detail:
        'not sending the credential to the plain-HTTP token realm http://auth.example.invalid/token ' +
        '(list it in the insecure registries to allow this)',
    },
  });
});

t.test('a TLS failure at the realm is an error', async (t) => {
  // An HTTPS client speaking to a plain-HTTP server fails the TLS handshake.
  const server = await serve(t, (_req, res) => res.writeHead(200).end('{"token":"good-token"}'));
  const realm = { realm: `https://${server.host}/token`, service: undefined };
  t.match(await fetchPullToken(limits, realm, 'team/app', [], undefined), {
    ok: false,
    error: {
      result: 'error',
      detail: /^GET https:\/\/127\.0\.0\.1:\d+\/token: TLS error \(ERR_SSL_/,
    },
  });
});

t.test('realms that are not HTTP URLs', async (t) => {
  for (const [realm, detail] of [
    ['not a url', 'the Bearer challenge names an invalid token realm'],
    ['ftp://x/token', 'the token realm is a ftp: URL'],
    ['https://u:p@x/token', 'the token realm URL carries user info'],
  ] as const) {
    t.same(
      await fetchPullToken(limits, { realm, service: undefined }, 'team/app', [], BASIC),
      { ok: false, error: { result: 'error', detail } },
      realm,
    );
  }
});

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { listenOnLoopback } from '../../test/helpers/loopback-server.ts';
import {
  MANIFEST_ACCEPT,
  manifestUrl,
  MAX_TOKEN_RESPONSE_BYTES,
  probeManifest,
  registryBaseUrl,
  type ProbeCredential,
} from './probe.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

t.test('registry base URLs: HTTPS unless loopback or listed insecure', async (t) => {
  const cases: readonly [registry: string, insecure: readonly string[], expected: string][] = [
    ['docker.io', [], 'https://registry-1.docker.io'],
    ['index.docker.io', [], 'https://registry-1.docker.io'],
    ['ghcr.io', [], 'https://ghcr.io'],
    ['Registry.Example.COM:8443', [], 'https://registry.example.com:8443'],
    ['localhost', [], 'http://localhost'],
    ['localhost:5000', [], 'http://localhost:5000'],
    ['127.0.0.1:5000', [], 'http://127.0.0.1:5000'],
    ['127.9.8.7', [], 'http://127.9.8.7'],
    ['[::1]:5000', [], 'http://[::1]:5000'],
    ['[2001:db8::1]:5000', [], 'https://[2001:db8::1]:5000'],
    ['128.0.0.1:5000', [], 'https://128.0.0.1:5000'],
    ['localhost.example.com', [], 'https://localhost.example.com'],
    ['10.1.2.3:5000', ['10.0.0.0/8'], 'http://10.1.2.3:5000'],
    ['10.1.2.3:5000', ['10.1.2.3'], 'http://10.1.2.3:5000'],
    ['10.1.2.3:5000', ['10.1.2.3:6000'], 'https://10.1.2.3:5000'],
    ['reg.internal:5000', ['REG.internal:5000'], 'http://reg.internal:5000'],
    ['reg.internal:5000', ['reg.internal/8', 'garbage::', ''], 'https://reg.internal:5000'],
    ['[2001:db8::1]:5000', ['2001:db8::/32'], 'http://[2001:db8::1]:5000'],
  ];
  for (const [registry, insecure, expected] of cases) {
    t.same(
      registryBaseUrl(registry, insecure),
      { ok: true, value: expected },
      `${registry} ${insecure.join(',')}`,
    );
  }
  for (const bad of ['', 'a/b', 'host:99999', 'host:0', '[nothex]:1', 'user@host', '-bad-']) {
    t.equal(registryBaseUrl(bad).ok, false, `refuses ${JSON.stringify(bad)}`);
  }
});

t.test('manifest URLs refuse names that could leave the manifest path', async (t) => {
  const url = manifestUrl({
    registry: 'docker.io',
    repository: 'library/nginx',
    reference: DIGEST,
  });
  t.equal(
    url.ok && url.value.href,
    `https://registry-1.docker.io/v2/library/nginx/manifests/${DIGEST}`,
  );
  const tag = manifestUrl({
    registry: 'localhost:5000',
    repository: 'a/b-c/d__e',
    reference: 'v1.2_3',
  });
  t.equal(tag.ok && tag.value.href, 'http://localhost:5000/v2/a/b-c/d__e/manifests/v1.2_3');
  for (const repository of ['../x', 'A/b', 'a?b=1', 'a//b', 'a/', '', 'a#b', 'a%2fb']) {
    t.equal(manifestUrl({ registry: 'r.io', repository, reference: 'v1' }).ok, false, repository);
  }
  for (const reference of ['', '../x', 'a b', '-x', 'sha256:xyz', 'a'.repeat(129)]) {
    t.equal(manifestUrl({ registry: 'r.io', repository: 'a', reference }).ok, false, reference);
  }
});

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly accept: string | undefined;
  readonly userAgent: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A scripted HTTP server on loopback, stopped when the test ends. */
async function serve(
  t: Test,
  handler: Handler,
): Promise<{ readonly host: string; readonly requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      accept: req.headers.accept,
      userAgent: req.headers['user-agent'],
    });
    handler(req, res);
  });
  const port = await listenOnLoopback(t, server);
  return { host: `127.0.0.1:${port}`, requests };
}

const target = (host: string) => ({ registry: host, repository: 'team/app', reference: DIGEST });

const credential: ProbeCredential = {
  fingerprint: 'fp',
  basicAuthorization: () => `Basic ${Buffer.from('user:pa55word').toString('base64')}`,
};

t.test('a readable manifest: one anonymous HEAD with the manifest media types', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end();
  });
  t.same(await probeManifest(target(server.host), { credential }), { result: 'readable' });
  t.equal(server.requests.length, 1);
  t.match(server.requests[0], {
    method: 'HEAD',
    url: `/v2/team/app/manifests/${DIGEST}`,
    authorization: undefined,
    accept: MANIFEST_ACCEPT,
    userAgent: /^pullwatch\//,
  });
});

t.test('status codes without a challenge', async (t) => {
  const cases: readonly [status: number, expected: object][] = [
    [404, { result: 'not-found' }],
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
    const server = await serve(t, (_req, res) => res.writeHead(status).end());
    t.same(await probeManifest(target(server.host)), expected, `HTTP ${status}`);
  }
});

t.test('a registry without HEAD support is asked with GET', async (t) => {
  const server = await serve(t, (req, res) => {
    if (req.method === 'HEAD') res.writeHead(405).end();
    else res.writeHead(200).end('{"schemaVersion":2}');
  });
  t.same(await probeManifest(target(server.host)), { result: 'readable' });
  t.same(
    server.requests.map((r) => r.method),
    ['HEAD', 'GET'],
  );
});

t.test('a 401 without a usable challenge is a denial', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Negotiate abc' }).end();
  });
  t.same(await probeManifest(target(server.host), { credential }), {
    result: 'denied',
    status: 401,
    detail: 'anonymous manifest request answered 401 without a Basic or Bearer challenge',
  });
  t.equal(server.requests.length, 1, 'the credential is not offered blindly');
});

t.test('a registry that never answers times out', async (t) => {
  const server = await serve(t, () => {
    // never respond
  });
  const started = Date.now();
  const outcome = await probeManifest(target(server.host), { timeoutMs: 150 });
  t.same(outcome, {
    result: 'error',
    detail: `HEAD http://${server.host}/v2/team/app/manifests/${DIGEST}: no answer within 150 ms`,
  });
  t.ok(Date.now() - started < 3000, 'within the timeout');
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
  t.same(await probeManifest(target(`127.0.0.1:${port}`)), {
    result: 'error',
    detail: `HEAD http://127.0.0.1:${port}/v2/team/app/manifests/${DIGEST}: connection refused (ECONNREFUSED)`,
  });
});

t.test('an invalid target is an error without any request', async (t) => {
  t.same(await probeManifest({ registry: 'r.io', repository: '../../etc', reference: 'v1' }), {
    result: 'error',
    detail: 'not a repository path: "../../etc"',
  });
});

t.test('redirect loops end', async (t) => {
  const server = await serve(t, (req, res) => {
    res.writeHead(302, { location: req.url ?? '/' }).end();
  });
  t.match(await probeManifest(target(server.host), { maxRedirects: 3 }), {
    result: 'error',
    detail: /more than 3 redirects$/,
  });
  t.equal(server.requests.length, 4);
});

t.test('redirects to other URL schemes are refused', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(307, { location: 'file:///etc/passwd' }).end();
  });
  t.match(await probeManifest(target(server.host)), {
    result: 'error',
    detail: /redirect to a file: URL$/,
  });
});

/** A registry whose 401 asks for a token from `realm` (a path on itself unless absolute). */
function bearerRegistry(realm: (host: string) => string, token: Handler): Handler {
  return (req, res) => {
    if (req.url?.startsWith('/v2/') === true) {
      if (req.headers.authorization === 'Bearer good-token') {
        res.writeHead(200).end();
        return;
      }
      const host = req.headers.host ?? '';
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${realm(host)}",service="test-registry"`,
        })
        .end();
      return;
    }
    token(req, res);
  };
}

t.test('token responses', async (t) => {
  const cases: readonly [name: string, token: Handler, expected: object][] = [
    [
      'token field',
      (_req, res) => res.writeHead(200).end('{"token":"good-token"}'),
      { result: 'readable' },
    ],
    [
      'access_token field (OAuth2 style)',
      (_req, res) => res.writeHead(200).end('{"access_token":"good-token","expires_in":60}'),
      { result: 'readable' },
    ],
    [
      'no token',
      (_req, res) => res.writeHead(200).end('{"expires_in":60}'),
      { result: 'error', detail: /no usable token or access_token$/ },
    ],
    [
      'not JSON',
      (_req, res) => res.writeHead(200).end('<html>'),
      { result: 'error', detail: /no usable token or access_token$/ },
    ],
    [
      'a token that would break the header',
      (_req, res) => res.writeHead(200).end('{"token":"a\\r\\nX-Injected: 1"}'),
      { result: 'error', detail: /no usable token or access_token$/ },
    ],
    [
      'a declared body over 1 MiB',
      (_req, res) =>
        res
          .writeHead(200, { 'content-length': String(MAX_TOKEN_RESPONSE_BYTES + 1) })
          .end('{"token":"good-token"}'),
      { result: 'error', detail: /exceeds the 1048576-byte limit$/ },
    ],
    [
      'a streamed body over 1 MiB',
      (_req, res) => {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        for (let i = 0; i < 17; i++) res.write(chunk);
        res.end('{"token":"good-token"}');
      },
      { result: 'error', detail: /exceeds the 1048576-byte limit$/ },
    ],
    [
      'the token endpoint refuses',
      (_req, res) => res.writeHead(401).end(),
      { result: 'denied', status: 401, detail: 'anonymous token request answered 401' },
    ],
    [
      'the token endpoint fails',
      (_req, res) => res.writeHead(502).end(),
      { result: 'error', detail: 'anonymous token request answered 502' },
    ],
  ];
  for (const [name, token, expected] of cases) {
    const server = await serve(
      t,
      bearerRegistry((host) => `http://${host}/token`, token),
    );
    t.match(await probeManifest(target(server.host)), expected, name);
  }
});

t.test('a token below the limit is accepted', async (t) => {
  const padding = ' '.repeat(MAX_TOKEN_RESPONSE_BYTES - 100);
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `http://${host}/token`,
      (_req, res) => res.writeHead(200).end(`{"token":"good-token"}${padding}`),
    ),
  );
  t.same(await probeManifest(target(server.host)), { result: 'readable' });
});

t.test('the token request carries service and scope, keeping the realm query', async (t) => {
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `http://${host}/token?client=x`,
      (_req, res) => res.writeHead(200).end('{"token":"good-token"}'),
    ),
  );
  await probeManifest(target(server.host));
  const tokenRequest = server.requests[1];
  t.equal(tokenRequest?.method, 'GET');
  t.equal(
    tokenRequest?.url,
    '/token?client=x&service=test-registry&scope=repository%3Ateam%2Fapp%3Apull',
  );
  t.equal(server.requests[2]?.authorization, 'Bearer good-token');
});

t.test('the credential never goes to a plain-HTTP realm off loopback', async (t) => {
  const server = await serve(
    t,
    bearerRegistry(
      () => 'http://auth.example.invalid/token',
      (_req, res) => res.writeHead(500).end(),
    ),
  );
  t.same(await probeManifest(target(server.host), { credential }), {
    result: 'error',
    detail:
      'not sending the credential to the plain-HTTP token realm http://auth.example.invalid/token ' +
      '(list it in the insecure registries to allow this)',
  });
  t.equal(server.requests.length, 1, 'no token request was made');
});

t.test('a TLS failure at the realm is an error', async (t) => {
  // An HTTPS client speaking to a plain-HTTP server fails the TLS handshake.
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `https://${host}/token`,
      (_req, res) => res.writeHead(200).end('{"token":"good-token"}'),
    ),
  );
  t.match(await probeManifest(target(server.host)), {
    result: 'error',
    detail: /^GET https:\/\/127\.0\.0\.1:\d+\/token: TLS error \(ERR_SSL_/,
  });
});

t.test('realms that are not HTTP URLs', async (t) => {
  for (const [realm, detail] of [
    ['not a url', 'the Bearer challenge names an invalid token realm'],
    ['ftp://x/token', 'the token realm is a ftp: URL'],
    ['https://u:p@x/token', 'the token realm URL carries user info'],
  ] as const) {
    const server = await serve(
      t,
      bearerRegistry(
        () => realm,
        (_req, res) => res.end(),
      ),
    );
    t.same(await probeManifest(target(server.host)), { result: 'error', detail }, realm);
  }
});

t.test('a misbehaving credential capability is reported without its output', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
  });
  const leaky = 'Basic c2VjcmV0\r\nX-Injected: yes';
  const cases: readonly [name: string, capability: ProbeCredential, detail: string][] = [
    [
      'returns a value with a line break',
      { fingerprint: 'f', basicAuthorization: () => leaky },
      'the credential did not produce a valid Basic Authorization header',
    ],
    [
      'returns a Bearer value',
      { fingerprint: 'f', basicAuthorization: () => 'Bearer c2VjcmV0' },
      'the credential did not produce a valid Basic Authorization header',
    ],
    [
      'throws with the secret in its message',
      {
        fingerprint: 'f',
        basicAuthorization: () => {
          throw new Error('c2VjcmV0');
        },
      },
      'the credential could not produce an Authorization header',
    ],
  ];
  for (const [name, capability, detail] of cases) {
    const outcome = await probeManifest(target(server.host), { credential: capability });
    t.same(outcome, { result: 'error', detail }, name);
    t.notMatch(JSON.stringify(outcome), /c2VjcmV0/, `${name}: nothing of the value is echoed`);
  }
});

t.test('an aborted probe is an error', async (t) => {
  const server = await serve(t, () => {
    // never respond
  });
  const controller = new AbortController();
  const probing = probeManifest(target(server.host), { signal: controller.signal });
  setTimeout(() => {
    controller.abort();
  }, 20);
  t.match(await probing, { result: 'error', detail: /: aborted$/ });
});

import t from 'tap';
import type { RegistryAuthorization } from '../model/credential.ts';
import { MANIFEST_ACCEPT, probeManifest } from './probe.ts';
import { bearerRegistry, serve } from './scripted-server.test-helper.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const BASIC = `Basic ${Buffer.from('user:pa55word').toString('base64')}`;

const target = (host: string) => ({ registry: host, repository: 'team/app', reference: DIGEST });

const credential: RegistryAuthorization = { fingerprint: 'fp', basicAuthorization: () => BASIC };

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

t.test('an anonymous answer other than 401 is the outcome', async (t) => {
  const cases: readonly [status: number, expected: object][] = [
    [404, { result: 'not-found' }],
    [403, { result: 'denied', status: 403, detail: 'anonymous manifest request answered 403' }],
    [503, { result: 'error', detail: 'anonymous manifest request answered 503' }],
  ];
  for (const [status, expected] of cases) {
    const server = await serve(t, (_req, res) => res.writeHead(status).end());
    t.same(await probeManifest(target(server.host), { credential }), expected, `HTTP ${status}`);
    t.equal(server.requests.length, 1, `HTTP ${status}: the credential is not offered`);
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

t.test('a Basic challenge: the credential is sent, or the anonymous probe is denied', async (t) => {
  const server = await serve(t, (req, res) => {
    if (req.headers.authorization === BASIC) res.writeHead(200).end();
    else res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
  });
  t.same(await probeManifest(target(server.host), { credential }), { result: 'readable' });
  t.same(
    server.requests.map((r) => r.authorization),
    [undefined, BASIC],
  );
  t.same(await probeManifest(target(server.host)), {
    result: 'denied',
    status: 401,
    detail: 'anonymous manifest request answered 401 (Basic challenge)',
  });
});

t.test('a Bearer challenge: a token from the realm, then the manifest with it', async (t) => {
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `http://${host}/token`,
      (_req, res) => res.writeHead(200).end('{"token":"good-token"}'),
    ),
  );
  t.same(await probeManifest(target(server.host), { credential }), { result: 'readable' });
  t.match(server.requests, [
    { method: 'HEAD', authorization: undefined },
    { method: 'GET', url: /^\/token\?/, authorization: BASIC },
    { method: 'HEAD', authorization: 'Bearer good-token' },
  ]);
});

t.test('a token the registry then refuses is a denial', async (t) => {
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `http://${host}/token`,
      (_req, res) => res.writeHead(200).end('{"token":"other-token"}'),
    ),
  );
  t.same(await probeManifest(target(server.host)), {
    result: 'denied',
    status: 401,
    detail: 'manifest request with an anonymous token answered 401',
  });
});

t.test('a token flow that fails is the outcome', async (t) => {
  const server = await serve(
    t,
    bearerRegistry(
      (host) => `http://${host}/token`,
      (_req, res) => res.writeHead(403).end(),
    ),
  );
  t.same(await probeManifest(target(server.host), { credential }), {
    result: 'denied',
    status: 403,
    detail: 'token request with the credential answered 403',
  });
});

t.test('the timeout holds for each request: a registry that never answers', async (t) => {
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

t.test('redirect loops end after maxRedirects', async (t) => {
  const server = await serve(t, (req, res) => {
    res.writeHead(302, { location: req.url ?? '/' }).end();
  });
  t.match(await probeManifest(target(server.host), { maxRedirects: 3 }), {
    result: 'error',
    detail: /more than 3 redirects$/,
  });
  t.equal(server.requests.length, 4);
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

t.test('an invalid target is an error without any request', async (t) => {
  t.same(await probeManifest({ registry: 'r.io', repository: '../../etc', reference: 'v1' }), {
    result: 'error',
    detail: 'not a repository path: "../../etc"',
  });
});

t.test('a misbehaving credential capability is reported without its output', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
  });
  const leaky = 'Basic c2VjcmV0\r\nX-Injected: yes';
  const cases: readonly [name: string, capability: RegistryAuthorization, detail: string][] = [
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

t.test('a challenge seen before is answered at once, and reported when seen', async (t) => {
  let accepts = BASIC;
  let challenge = 'Basic realm="r"';
  const server = await serve(t, (req, res) => {
    if (req.headers.authorization === accepts) res.writeHead(200).end();
    else if (req.url?.startsWith('/token') === true) res.writeHead(401).end();
    else res.writeHead(401, { 'www-authenticate': challenge }).end();
  });
  const seen: unknown[] = [];
  const first = await probeManifest(target(server.host), {
    onChallenge: (challenge) => seen.push(challenge),
  });
  t.equal(first.result, 'denied', 'the anonymous visibility probe');
  t.same(seen, [{ scheme: 'Basic', realm: 'r' }], 'its challenge is reported');

  const cases: readonly {
    name: string;
    accepts: string;
    challenge: string;
    expected: string;
    authorizations: (string | undefined)[];
  }[] = [
    {
      name: 'the credential is read: one request, no anonymous one first',
      accepts: BASIC,
      challenge: 'Basic realm="r"',
      expected: 'readable',
      authorizations: [BASIC],
    },
    {
      name: 'a 401 under the same challenge refuses the credential: no second round',
      accepts: 'Basic another',
      challenge: 'Basic realm="r"',
      expected: 'denied',
      authorizations: [BASIC],
    },
    {
      name: 'a 401 asking another challenge: the probe starts over from the anonymous request',
      accepts: 'Basic another',
      challenge: `Bearer realm="http://${server.host}/token",service="s"`,
      expected: 'denied',
      authorizations: [BASIC, undefined, BASIC],
    },
  ];
  for (const c of cases) {
    accepts = c.accepts;
    challenge = c.challenge;
    server.requests.length = 0;
    const outcome = await probeManifest(target(server.host), {
      credential,
      knownChallenge: { scheme: 'Basic', realm: 'r' },
    });
    t.equal(outcome.result, c.expected, c.name);
    t.same(
      server.requests.map((r) => r.authorization),
      c.authorizations,
      c.name,
    );
  }
  server.requests.length = 0;
  challenge = 'Basic realm="r"';
  await probeManifest(target(server.host), { knownChallenge: { scheme: 'Basic', realm: 'r' } });
  t.same(
    server.requests.map((r) => r.authorization),
    [undefined],
    'without a credential the known challenge changes nothing',
  );
});

// The registry probe against real registries: Debian's docker-registry with htpasswd (the
// Basic challenge), a second one without auth, and, for the token flow, which that registry
// cannot serve without a PKI, an in-process registry and token server on loopback that
// behaves like distribution's token auth. Everything the probe returns or throws is captured
// and searched for alice's password, raw and base64-encoded.

import { Buffer } from 'node:buffer';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RegistryAuthorization as ProbeCredential } from '../../agent/model/credential.ts';
import type { ManifestTarget } from '../../agent/registry/address.ts';
import { probeManifest, type ProbeOptions } from '../../agent/registry/probe.ts';
import type { ProbeOutcome } from '../../agent/registry/probe-outcome.ts';
import { VisibilityResolver } from '../../agent/registry/visibility.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const ALICE = { username: 'alice', password: 'looking-glass-73' };
const ALICE_BASIC = Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64');
const SECRETS = [ALICE.password, ALICE_BASIC];
const MISSING_DIGEST = `sha256:${'0'.repeat(64)}`;

/** A capability like the agent's: the secret stays in the closure; the fingerprint names it. */
function basicCredential(fingerprint: string, username: string, password: string): ProbeCredential {
  const header = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  return { fingerprint, basicAuthorization: () => header };
}

const alice = basicCredential('fp-alice', ALICE.username, ALICE.password);
const aliceWrongPassword = basicCredential('fp-alice-wrong', ALICE.username, 'not-the-password');

/** Everything the code under test handed back, as text, to search for secrets. */
const observed: string[] = [];

function remember(value: unknown): void {
  observed.push(typeof value === 'string' ? value : JSON.stringify(value));
  if (value instanceof Error) observed.push(value.message, value.stack ?? '', String(value.cause));
}

/** probeManifest, recording what it returns (and anything it throws). */
async function probe(target: ManifestTarget, options: ProbeOptions = {}): Promise<ProbeOutcome> {
  try {
    const outcome = await probeManifest(target, options);
    remember(outcome);
    return outcome;
  } catch (error) {
    remember(error);
    throw error;
  }
}

/** Copies of everything written to stdout and stderr while the tests run. */
const printed: string[] = [];
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = (...args: unknown[]) => {
    const [chunk] = args;
    printed.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
    return write(...args);
  };
}

function assertNoSecrets(t: Test, what: string, texts: readonly string[]): void {
  const all = texts.join('\n');
  for (const secret of SECRETS) {
    t.notOk(
      all.includes(secret),
      `${what} never contain alice's password (${secret === ALICE.password ? 'raw' : 'base64'})`,
    );
  }
}

t.test('docker-registry with htpasswd: the Basic challenge', async (t) => {
  if (!requireTools(t, ['docker-registry', 'skopeo', 'htpasswd'])) return;

  const privateRegistry = await startRegistry(t, { users: { [ALICE.username]: ALICE.password } });
  const publicRegistry = await startRegistry(t);
  const work = await makeTempDir(t, 'registry-probe');

  const image = await buildImageLayout(join(work, 'private'), { marker: 'probe-private' });
  const digest = await pushLayout(image.layoutDir, `${privateRegistry.host}/team-a/app:v1`, ALICE);
  t.equal(digest, image.manifestDigest);
  const publicImage = await buildImageLayout(join(work, 'public'), { marker: 'probe-public' });
  const publicDigest = await pushLayout(
    publicImage.layoutDir,
    `${publicRegistry.host}/tools/cli:v1`,
  );

  const privateTarget = {
    registry: privateRegistry.host,
    repository: 'team-a/app',
    reference: digest,
  };
  const publicTarget = {
    registry: publicRegistry.host,
    repository: 'tools/cli',
    reference: publicDigest,
  };

  t.same(
    await probe(privateTarget),
    {
      result: 'denied',
      status: 401,
      detail: 'anonymous manifest request answered 401 (Basic challenge)',
    },
    'anonymous probe of the private repository: 401 with a Basic challenge',
  );
  t.same(
    await probe(privateTarget, { credential: alice }),
    { result: 'readable' },
    "alice's credential reads it",
  );
  t.same(
    await probe({ ...privateTarget, reference: 'v1' }, { credential: alice }),
    { result: 'readable' },
    'by tag too',
  );
  t.same(
    await probe(privateTarget, { credential: aliceWrongPassword }),
    { result: 'denied', status: 401, detail: 'manifest request with the credential answered 401' },
    'a wrong password is refused',
  );
  t.same(
    await probe({ ...privateTarget, reference: MISSING_DIGEST }, { credential: alice }),
    { result: 'not-found' },
    'a digest the repository does not hold is not found',
  );
  t.same(
    await probe(publicTarget),
    { result: 'readable' },
    'a registry without auth: anonymous read',
  );

  let now = Date.UTC(2026, 0, 1);
  const resolver = new VisibilityResolver({
    probe: async (target, options) => probe(target, options),
    now: () => now,
    probeTimeoutMs: 2000,
  });
  const privateName = `${privateRegistry.host}/team-a/app`;
  const publicName = `${publicRegistry.host}/tools/cli`;
  t.same(await resolver.repositoryVisibility(privateName, digest), {
    visibility: 'private',
    basis: 'anonymous manifest request answered 401',
    nodeCredentials: false,
  });
  t.same(await resolver.repositoryVisibility(publicName, publicDigest), {
    visibility: 'public',
    basis: 'anonymous manifest request succeeded',
    nodeCredentials: false,
  });
  t.equal(await resolver.verifyCredential(alice, privateName, digest), 'can-read');
  t.equal(await resolver.verifyCredential(aliceWrongPassword, privateName, digest), 'cannot-read');

  await privateRegistry.stop();
  const down = await probe(privateTarget, { credential: alice, timeoutMs: 2000 });
  t.match(
    down,
    {
      result: 'error',
      detail:
        /^HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/team-a\/app\/manifests\/sha256:[0-9a-f]{64}: connection refused/,
    },
    'the registry stopped: an error, not a denial',
  );

  now += 2 * 60 * 60 * 1000; // past every TTL: the resolver asks again
  const kept = await resolver.repositoryVisibility(privateName, digest);
  t.equal(kept.visibility, 'private', 'the resolver keeps the last known visibility');
  t.match(
    kept.basis,
    /^anonymous manifest request answered 401 \(last known; now: registry probe failed: .*connection refused/,
  );
  t.equal(
    await resolver.verifyCredential(alice, privateName, digest),
    'can-read',
    'and the last verdict',
  );
  t.match(resolver.stats(), {
    visibility: { readable: 1, denied: 1, error: 1 },
    credential: { readable: 1, denied: 1, error: 1 },
  });
  for (const answer of [kept, resolver.stats()]) remember(answer);

  assertNoSecrets(t, 'probe outcomes and resolver answers', observed);
});

// ---- the token flow, served in-process ------------------------------------------------------

interface TokenRegistryOptions {
  /** Where a manifest request carrying a valid token is redirected to (blob storage). */
  readonly redirectTo?: string;
}

interface TokenRegistry {
  readonly host: string;
  /** Requests seen, with the Authorization header each carried. */
  readonly requests: { readonly path: string; readonly authorization: string | undefined }[];
}

const TOKEN_SERVICE = 'pullwatch-fake-registry';
const PUBLIC_REPO = 'library/public';
const PRIVATE_REPO = 'team-a/private';
const REFERENCE = `sha256:${'ab'.repeat(32)}`;

function listen(
  t: Test,
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
) {
  const server = createServer(handler);
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return new Promise<string>((resolve) => {
    server.listen(0, host, () => {
      resolve(`${host}:${(server.address() as AddressInfo).port}`);
    });
  });
}

/**
 * A registry speaking distribution's token auth: the manifest endpoint answers 401 with a
 * Bearer challenge naming the realm on the same server; the realm issues an anonymous token
 * good for the public repository only, and to alice (Basic) a token good for both.
 */
async function startTokenRegistry(
  t: Test,
  options: TokenRegistryOptions = {},
): Promise<TokenRegistry> {
  const requests: { path: string; authorization: string | undefined }[] = [];
  const grants = new Map<string, Set<string>>();
  let issued = 0;
  let host = '';
  host = await listen(t, '127.0.0.1', (req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    requests.push({ path: url.pathname + url.search, authorization: req.headers.authorization });
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? '';
      const repository = /^repository:([^:]+):pull$/.exec(scope)?.[1];
      const authorization = req.headers.authorization;
      let allowed: Set<string>;
      if (authorization === undefined) {
        allowed = new Set([PUBLIC_REPO]);
      } else if (authorization === `Basic ${ALICE_BASIC}`) {
        allowed = new Set([PUBLIC_REPO, PRIVATE_REPO]);
      } else {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"details":"bad credentials"}');
        return;
      }
      if (url.searchParams.get('service') !== TOKEN_SERVICE || repository === undefined) {
        res.writeHead(400).end();
        return;
      }
      const token = `token-${++issued}`;
      // Like distribution: the token carries what was asked for AND granted.
      grants.set(token, new Set([...allowed].filter((r) => r === repository)));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    const match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (match === null) {
      res.writeHead(404).end();
      return;
    }
    const repository = match[1] ?? '';
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const granted = bearer === undefined ? undefined : grants.get(bearer);
    if (granted?.has(repository) !== true) {
      const challenge =
        `Bearer realm="http://${host}/token",service="${TOKEN_SERVICE}",` +
        `scope="repository:${repository}:pull"` +
        (bearer === undefined ? '' : ',error="insufficient_scope"');
      res.writeHead(401, { 'www-authenticate': challenge }).end();
      return;
    }
    if (options.redirectTo !== undefined) {
      res.writeHead(307, { location: `${options.redirectTo}${url.pathname}` }).end();
      return;
    }
    res.writeHead(200, { 'docker-content-digest': match[2] ?? '' }).end();
  });
  return { host, requests };
}

t.test('token flow: anonymous and credentialed tokens', async (t) => {
  const registry = await startTokenRegistry(t);
  const at = (repository: string) => ({
    registry: registry.host,
    repository,
    reference: REFERENCE,
  });

  t.same(
    await probe(at(PUBLIC_REPO)),
    { result: 'readable' },
    'anonymous token reads the public repository',
  );
  t.same(
    await probe(at(PRIVATE_REPO)),
    {
      result: 'denied',
      status: 401,
      detail: 'manifest request with an anonymous token answered 401 (insufficient_scope)',
    },
    'the anonymous token is refused for the private repository',
  );
  t.same(
    await probe(at(PRIVATE_REPO), { credential: alice }),
    { result: 'readable' },
    "alice's token reads it",
  );
  t.same(
    await probe(at(PRIVATE_REPO), { credential: aliceWrongPassword }),
    { result: 'denied', status: 401, detail: 'token request with the credential answered 401' },
    'a wrong password gets no token',
  );

  const tokenRequests = registry.requests.filter((r) => r.path.startsWith('/token'));
  t.same(
    tokenRequests.map((r) => r.path),
    [
      `/token?service=${TOKEN_SERVICE}&scope=repository%3Alibrary%2Fpublic%3Apull`,
      `/token?service=${TOKEN_SERVICE}&scope=repository%3Ateam-a%2Fprivate%3Apull`,
      `/token?service=${TOKEN_SERVICE}&scope=repository%3Ateam-a%2Fprivate%3Apull`,
      `/token?service=${TOKEN_SERVICE}&scope=repository%3Ateam-a%2Fprivate%3Apull`,
    ],
    'the realm is asked with the challenge service and a pull scope',
  );
  t.same(
    tokenRequests.map((r) => (r.authorization === undefined ? 'anonymous' : 'basic')),
    ['anonymous', 'anonymous', 'basic', 'basic'],
  );
  t.ok(
    registry.requests
      .filter((r) => r.path.startsWith('/v2/'))
      .every((r) => r.authorization === undefined || r.authorization.startsWith('Bearer ')),
    'the manifest endpoint only ever sees bearer tokens, never the Basic credential',
  );

  const resolver = new VisibilityResolver({
    probe: async (target, options) => probe(target, options),
  });
  t.equal(
    (await resolver.repositoryVisibility(`${registry.host}/${PUBLIC_REPO}`, REFERENCE)).visibility,
    'public',
  );
  t.equal(
    (await resolver.repositoryVisibility(`${registry.host}/${PRIVATE_REPO}`, REFERENCE)).visibility,
    'private',
  );
  t.equal(
    await resolver.verifyCredential(alice, `${registry.host}/${PRIVATE_REPO}`, REFERENCE),
    'can-read',
  );

  assertNoSecrets(t, 'token-flow outcomes', observed);
});

t.test('redirects: the credential never follows to another host', async (t) => {
  const storageRequests: { path: string; authorization: string | undefined }[] = [];
  const storage = await listen(t, '127.0.0.2', (req, res) => {
    storageRequests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200).end();
  });

  // Basic: a registry that redirects an authorized manifest request to blob storage.
  const basicRequests: (string | undefined)[] = [];
  const basicRegistry = await listen(t, '127.0.0.1', (req, res) => {
    basicRequests.push(req.headers.authorization);
    if (req.headers.authorization !== `Basic ${ALICE_BASIC}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    } else if (req.url?.startsWith('/v2/moved/') === true) {
      res.writeHead(307, { location: `http://${storage}${req.url}` }).end();
    } else {
      // same origin: the credential goes along
      res.writeHead(308, { location: `/v2/moved${req.url ?? ''}` }).end();
    }
  });
  t.same(
    await probe(
      { registry: basicRegistry, repository: PRIVATE_REPO, reference: REFERENCE },
      { credential: alice },
    ),
    { result: 'readable' },
  );
  t.same(
    basicRequests.map((a) => (a === undefined ? 'none' : 'basic')),
    ['none', 'basic', 'basic'],
    'anonymous, then the credential, kept across a same-host redirect',
  );

  // Bearer: the S3-style redirect after a token was granted.
  const tokenRegistry = await startTokenRegistry(t, { redirectTo: `http://${storage}` });
  t.same(
    await probe(
      { registry: tokenRegistry.host, repository: PRIVATE_REPO, reference: REFERENCE },
      { credential: alice },
    ),
    { result: 'readable' },
  );

  t.equal(storageRequests.length, 2, 'both redirects reached the other host');
  t.same(
    storageRequests.map((r) => r.authorization),
    [undefined, undefined],
    'with no Authorization header: neither the Basic credential nor the bearer token',
  );
  assertNoSecrets(t, 'redirect outcomes', observed);
});

t.test('nothing printed the credential', async (t) => {
  t.ok(printed.join('').includes('# Subtest: redirects'), 'the capture saw the test output');
  assertNoSecrets(t, 'stdout and stderr', printed);
});

// Proves the token-auth registry helper on real parts: Debian's docker-registry (distribution
// 2.8) in `auth.token` mode trusting test/helpers/token-server.ts, skopeo pushing with a
// user's rights, containerd's CRI PullImage answering the Bearer challenge itself, and the
// product's own registry verification (VisibilityResolver, built as agent/main.ts builds it).
//
// Users, as on Harbor, GHCR or Docker Hub, with per-repository rights:
//   alice   pull+push on team-a/* and public/*
//   reader  pull on team-a/*
//   mallory pull+push on team-m/* only: a valid login that must not read team-a/app
// and anyone may pull public/*.

import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RegistryAuthorization as ProbeCredential } from '../../agent/model/credential.ts';
import { VisibilityResolver } from '../../agent/registry/visibility.ts';
import { startContainerd, type Containerd } from '../helpers/containerd.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout, type ImageLayout } from '../helpers/oci.ts';
import { leftoverProcesses, trackedLivePids } from '../helpers/process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startTokenAuthRegistry, type Registry } from '../helpers/registry.ts';
import { pushLayout, type Credentials } from '../helpers/skopeo.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import {
  ANONYMOUS,
  decodeToken,
  startTokenServer,
  type AccessEntry,
  type TokenOutcome,
  type TokenServer,
  type TokenUser,
} from '../helpers/token-server.ts';

const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'openssl'];

const ALICE = { username: 'alice', password: 'alice-token-pw-31' };
const READER = { username: 'reader', password: 'reader-token-pw-47' };
const MALLORY = { username: 'mallory', password: 'mallory-token-pw-59' };
const ALICE_WRONG = { username: 'alice', password: 'not-alices-password' };
const PASSWORDS = [ALICE.password, READER.password, MALLORY.password, ALICE_WRONG.password];

const USERS: Record<string, TokenUser> = {
  [ALICE.username]: {
    password: ALICE.password,
    rights: [
      { repository: 'team-a/*', actions: ['pull', 'push'] },
      { repository: 'public/*', actions: ['pull', 'push'] },
    ],
  },
  [READER.username]: {
    password: READER.password,
    rights: [{ repository: 'team-a/*', actions: ['pull'] }],
  },
  [MALLORY.username]: {
    password: MALLORY.password,
    rights: [{ repository: 'team-m/*', actions: ['pull', 'push'] }],
  },
};

/** Temp dirs of everything started, checked at the end; and the token servers' URLs. */
const startedDirs: string[] = [];
const tokenServerUrls: string[] = [];

const basic = (c: Credentials): string =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/** Like the agent's credential capability: the secret stays in the closure. */
const probeCredential = (c: Credentials, fingerprint: string): ProbeCredential => ({
  fingerprint,
  basicAuthorization: () => basic(c),
});

function challengeParams(header: string | null): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/(\w+)="([^"]*)"/g)) params[m[1] ?? ''] = m[2] ?? '';
  return params;
}

interface TokenAnswer {
  readonly status: number;
  readonly token: string | undefined;
  readonly access: readonly AccessEntry[];
}

async function askToken(
  server: TokenServer,
  creds: Credentials | undefined,
  scopes: readonly string[],
  service = server.service,
): Promise<TokenAnswer> {
  const url = new URL(server.realm);
  url.searchParams.set('service', service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const res = await fetch(url, {
    headers: creds === undefined ? {} : { authorization: basic(creds) },
  });
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token;
  return {
    status: res.status,
    token,
    access: token === undefined ? [] : (decodeToken(token).claims.access ?? []),
  };
}

interface PullAnswer {
  /** Status of the manifest request made with the token. */
  readonly status: number;
  readonly digest: string | null;
  /** `error` of the registry's second challenge, e.g. insufficient_scope. */
  readonly error: string | undefined;
  readonly token: TokenAnswer;
}

/**
 * The pull handshake a client does: HEAD the manifest, follow the registry's Bearer
 * challenge to the realm it names (service and scope from the challenge), HEAD again.
 */
async function headManifest(
  registry: Registry,
  repository: string,
  reference: string,
  creds: Credentials | undefined,
  tokenServer: TokenServer,
): Promise<PullAnswer> {
  const url = `${registry.url}/v2/${repository}/manifests/${reference}`;
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const first = await fetch(url, { method: 'HEAD', headers: { accept } });
  if (first.status !== 401) throw new Error(`anonymous HEAD answered ${first.status}, not 401`);
  const challenge = challengeParams(first.headers.get('www-authenticate'));
  if (challenge.realm !== tokenServer.realm) throw new Error(`realm ${challenge.realm}`);
  const token = await askToken(
    tokenServer,
    creds,
    [challenge.scope ?? ''],
    challenge.service ?? '',
  );
  if (token.token === undefined) return { status: 0, digest: null, error: undefined, token };
  const second = await fetch(url, {
    method: 'HEAD',
    headers: { accept, authorization: `Bearer ${token.token}` },
  });
  return {
    status: second.status,
    digest: second.headers.get('docker-content-digest'),
    error: challengeParams(second.headers.get('www-authenticate')).error,
    token,
  };
}

const rejection = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => '(it succeeded)',
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );

interface World {
  readonly registry: Registry;
  readonly tokenServer: TokenServer;
  readonly containerd: Containerd;
  readonly work: string;
  readonly app: ImageLayout;
  readonly teamM: ImageLayout;
  readonly tool: ImageLayout;
}

interface Case {
  readonly name: string;
  run(t: Test, w: World): Promise<void>;
}

const CASES: readonly Case[] = [
  {
    name: 'alice (team-a/*) pushes team-a/app with skopeo and pulls it',
    async run(t, w) {
      const pull = await headManifest(w.registry, 'team-a/app', 'v1', ALICE, w.tokenServer);
      t.equal(pull.status, 200, 'manifest readable with her token');
      t.equal(pull.digest, w.app.manifestDigest, 'the manifest she pushed');
      t.same(pull.token.access, [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
      const { header, claims } = decodeToken(pull.token.token ?? '');
      t.match(header, { typ: 'JWT', alg: 'ES256', x5c: [/^[A-Za-z0-9+/]+=*$/] });
      t.match(claims, {
        iss: w.tokenServer.issuer,
        sub: 'alice',
        aud: w.tokenServer.service,
        jti: /^[0-9a-f]{32}$/,
      });
      const exp = Number(claims.exp);
      t.ok(
        exp > Number(claims.iat) && Number(claims.nbf) <= Number(claims.iat),
        'nbf <= iat < exp',
      );
      // skopeo asked for push and pull on the repository it pushed to (in the setup)
      t.ok(
        w.tokenServer.requests.some(
          (r) =>
            r.user === 'alice' &&
            r.outcome === 'granted' &&
            r.scopes.includes('repository:team-a/app:pull,push'),
        ),
        'skopeo asked the token server for repository:team-a/app:pull,push as alice',
      );
    },
  },
  {
    name: 'mallory (valid login, team-m/* only) is refused team-a/app and reads team-m/x',
    async run(t, w) {
      const before = w.tokenServer.count({ user: 'mallory', outcome: 'nothing-granted' });
      const pull = await headManifest(w.registry, 'team-a/app', 'v1', MALLORY, w.tokenServer);
      t.equal(pull.token.status, 200, 'the token server still issues a token ...');
      t.same(pull.token.access, [], '... granting nothing');
      t.equal(pull.status, 401, 'the registry refuses it');
      t.equal(pull.error, 'insufficient_scope');
      t.equal(
        w.tokenServer.count({ user: 'mallory', outcome: 'nothing-granted' }),
        before + 1,
        'counted as nothing-granted for mallory',
      );
      t.match(
        await rejection(pushLayout(w.app.layoutDir, `${w.registry.host}/team-a/evil:v1`, MALLORY)),
        /unauthorized|denied|insufficient_scope|401|403/i,
        'her push to team-a is refused',
      );
      const own = await headManifest(w.registry, 'team-m/x', 'v1', MALLORY, w.tokenServer);
      t.equal(own.status, 200, 'her own repository is readable');
      t.equal(own.digest, w.teamM.manifestDigest);
    },
  },
  {
    name: 'reader (pull-only on team-a/*) gets pull but not push',
    async run(t, w) {
      const token = await askToken(w.tokenServer, READER, ['repository:team-a/app:pull,push']);
      t.equal(token.status, 200);
      t.same(token.access, [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
      t.equal(w.tokenServer.requests.at(-1)?.outcome, 'partial');
      t.equal(
        (await headManifest(w.registry, 'team-a/app', 'v1', READER, w.tokenServer)).status,
        200,
      );
      t.match(
        await rejection(pushLayout(w.app.layoutDir, `${w.registry.host}/team-a/new:v1`, READER)),
        /unauthorized|denied|insufficient_scope|401|403/i,
        'push refused',
      );
    },
  },
  {
    name: 'a wrong password is refused by the token server',
    async run(t, w) {
      const before = w.tokenServer.count({ user: 'alice', outcome: 'unauthorized' });
      const token = await askToken(w.tokenServer, ALICE_WRONG, ['repository:team-a/app:pull']);
      t.equal(token.status, 401, '401 from the token server');
      t.equal(token.token, undefined, 'no token');
      const unknown = await askToken(w.tokenServer, { username: 'nobody', password: 'x' }, []);
      t.equal(unknown.status, 401, 'an unknown user too');
      t.match(
        await rejection(
          pushLayout(w.app.layoutDir, `${w.registry.host}/team-a/app:v2`, ALICE_WRONG),
        ),
        /unauthorized|denied|401/i,
        'skopeo push with the wrong password fails',
      );
      t.ok(w.tokenServer.count({ user: 'alice', outcome: 'unauthorized' }) >= before + 2);
      t.equal(w.tokenServer.count({ user: 'nobody', outcome: 'unauthorized' }), 1);
      const other = await askToken(w.tokenServer, ALICE, [], 'another-service');
      t.equal(other.status, 400, 'a token for another service is a bad request');
    },
  },
  {
    name: 'anonymous: refused on the private team-a/app, allowed on public/tool',
    async run(t, w) {
      const privatePull = await headManifest(
        w.registry,
        'team-a/app',
        'v1',
        undefined,
        w.tokenServer,
      );
      t.equal(privatePull.token.status, 200, 'an anonymous token is issued ...');
      t.same(privatePull.token.access, [], '... granting nothing on team-a/app');
      t.equal(privatePull.status, 401);
      t.equal(privatePull.error, 'insufficient_scope');
      const publicPull = await headManifest(
        w.registry,
        'public/tool',
        'v1',
        undefined,
        w.tokenServer,
      );
      t.equal(publicPull.status, 200, 'public/tool is readable anonymously');
      t.equal(publicPull.digest, w.tool.manifestDigest);
      t.same(decodeToken(publicPull.token.token ?? '').claims.sub, '', 'sub is empty');
      t.match(
        await rejection(pushLayout(w.tool.layoutDir, `${w.registry.host}/public/other:v1`)),
        /unauthorized|denied|insufficient_scope|401|403/i,
        'anonymous push to a public repository is refused',
      );
      t.ok(w.tokenServer.count({ user: ANONYMOUS, outcome: 'granted' }) >= 1);
      t.ok(w.tokenServer.count({ user: ANONYMOUS, outcome: 'nothing-granted' }) >= 1);
    },
  },
  {
    name: 'the registry verifies signatures: a token from an untrusted key is invalid',
    async run(t, w) {
      const impostor = await startTokenServer(t, {
        users: USERS,
        service: w.tokenServer.service,
        issuer: w.tokenServer.issuer,
      });
      startedDirs.push(impostor.dir);
      tokenServerUrls.push(impostor.url);
      const token = await askToken(impostor, ALICE, ['repository:team-a/app:pull']);
      t.same(token.access, [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
      const res = await fetch(`${w.registry.url}/v2/team-a/app/manifests/v1`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token.token ?? ''}` },
      });
      t.equal(res.status, 401);
      t.equal(challengeParams(res.headers.get('www-authenticate')).error, 'invalid_token');
    },
  },
  {
    name: 'a `kid` header (libtrust key ID) works with distribution 2.8 as well as `x5c`',
    async run(t, w) {
      const kid = await startTokenAuthRegistry(t, { users: USERS, keyHeader: 'kid' });
      startedDirs.push(kid.registry.dir, kid.tokenServer.dir);
      tokenServerUrls.push(kid.tokenServer.url);
      t.equal(
        await pushLayout(w.app.layoutDir, `${kid.registry.host}/team-a/app:v1`, ALICE),
        w.app.manifestDigest,
      );
      const pull = await headManifest(kid.registry, 'team-a/app', 'v1', ALICE, kid.tokenServer);
      t.equal(pull.status, 200);
      t.match(decodeToken(pull.token.token ?? '').header, {
        kid: /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/,
      });
      t.notOk('x5c' in decodeToken(pull.token.token ?? '').header);
      const mallory = await headManifest(
        kid.registry,
        'team-a/app',
        'v1',
        MALLORY,
        kid.tokenServer,
      );
      t.equal(mallory.status, 401);
    },
  },
  {
    name: "containerd CRI PullImage: alice's credentials pull team-a/app, mallory's do not",
    async run(t, w) {
      const image = `${w.registry.host}/team-a/app:v1`;
      w.tokenServer.clearRequests();
      const refused = await rejection(pullImage(w.containerd.socket, image, MALLORY));
      t.match(refused, /insufficient_scope|401|403|unauthorized|denied/i, 'mallory is refused');
      t.notOk((await w.containerd.imageNames()).includes(image), 'nothing cached');
      t.match(
        await rejection(pullImage(w.containerd.socket, image)),
        /insufficient_scope|401|403|unauthorized|denied/i,
        'so is anonymous',
      );
      t.equal(
        await pullImage(w.containerd.socket, image, ALICE),
        w.app.configDigest,
        'alice pulls',
      );
      t.ok((await w.containerd.imageNames()).includes(image));
      t.match(
        await rejection(pullImage(w.containerd.socket, image, MALLORY)),
        /insufficient_scope|401|403|unauthorized|denied/i,
        'with the image cached, mallory is still refused by the registry',
      );
      t.equal(
        await pullImage(w.containerd.socket, `${w.registry.host}/public/tool:v1`),
        w.tool.configDigest,
        'anonymous pull of the public image',
      );
      // With a password containerd tries the OAuth2 POST first (405 here, as on Harbor), then
      // GET with Basic; without one it GETs an anonymous token at once.
      const seen = (user: string, method: string, outcome: TokenOutcome) =>
        w.tokenServer.count({ user, method, outcome });
      t.ok(seen('alice', 'POST', 'method-not-allowed') >= 1, 'alice: OAuth2 POST tried');
      t.ok(seen('alice', 'GET', 'granted') >= 1, 'alice: GET granted');
      t.ok(seen('mallory', 'POST', 'method-not-allowed') >= 2, 'mallory: OAuth2 POST tried');
      t.ok(seen('mallory', 'GET', 'nothing-granted') >= 2, 'mallory: GET, nothing granted');
      t.equal(seen(ANONYMOUS, 'POST', 'method-not-allowed'), 0, 'anonymous: no POST');
      t.ok(seen(ANONYMOUS, 'GET', 'nothing-granted') >= 1, 'anonymous: team-a/app not granted');
      t.ok(seen(ANONYMOUS, 'GET', 'granted') >= 1, 'anonymous: public/tool granted');
      t.comment(
        `token requests during the CRI pulls: ${w.tokenServer.requests
          .map((r) => `${r.method} ${r.user} ${r.outcome}`)
          .join('; ')}`,
      );
    },
  },
  {
    name: "the product's VisibilityResolver against token auth",
    async run(t, w) {
      // As agent/main.ts builds it (flags at their defaults; loopback registries are plain HTTP).
      const resolver = new VisibilityResolver({
        registryProbe: 'on',
        verifyCredentials: true,
        publicRegistries: [],
        nodeCredentialRegistries: [],
        insecureRegistries: [],
      });
      const app = `${w.registry.host}/team-a/app`;
      const digest = w.app.manifestDigest;
      w.tokenServer.clearRequests();
      t.equal(
        await resolver.verifyCredential(probeCredential(ALICE, 'fp-alice'), app, digest),
        'can-read',
        "alice's credential can read team-a/app",
      );
      t.equal(
        await resolver.verifyCredential(probeCredential(MALLORY, 'fp-mallory'), app, digest),
        'cannot-read',
        "mallory's cannot",
      );
      t.equal(
        await resolver.verifyCredential(probeCredential(READER, 'fp-reader'), app, digest),
        'can-read',
        "reader's (pull-only) can",
      );
      t.equal(
        await resolver.verifyCredential(probeCredential(ALICE_WRONG, 'fp-wrong'), app, digest),
        'cannot-read',
        'a wrong password cannot',
      );
      t.match(
        await resolver.repositoryVisibility(app, digest),
        { visibility: 'private', nodeCredentials: false },
        'anonymous: team-a/app is private',
      );
      t.match(
        await resolver.repositoryVisibility(
          `${w.registry.host}/public/tool`,
          w.tool.manifestDigest,
        ),
        { visibility: 'public', nodeCredentials: false },
        'public/tool is public',
      );
      t.same(
        w.tokenServer.requests.map((r) => [r.user, r.scopes, r.outcome]),
        [
          ['alice', ['repository:team-a/app:pull'], 'granted'],
          ['mallory', ['repository:team-a/app:pull'], 'nothing-granted'],
          ['reader', ['repository:team-a/app:pull'], 'granted'],
          ['alice', ['repository:team-a/app:pull'], 'unauthorized'],
          [ANONYMOUS, ['repository:team-a/app:pull'], 'nothing-granted'],
          [ANONYMOUS, ['repository:public/tool:pull'], 'granted'],
        ],
        'the probe asked the realm once per question, for pull only, with the service',
      );
      t.ok(w.tokenServer.requests.every((r) => r.service === w.tokenServer.service));
    },
  },
  {
    name: 'the token server records no password, and the registry never sees one',
    async run(t, w) {
      const records = JSON.stringify(w.tokenServer.requests);
      const registryLog = await readFile(w.registry.logPath, 'utf8');
      for (const password of PASSWORDS) {
        const encoded = Buffer.from(password).toString('base64');
        for (const [what, text] of [
          ['token server records', records],
          ['registry log', registryLog],
        ] as const) {
          t.notOk(text.includes(password) || text.includes(encoded), `${what}: no password`);
        }
      }
    },
  },
];

t.test('registry in token-auth mode with per-repository rights', async (t) => {
  if (!requireTools(t, TOOLS)) return;

  const began = performance.now();
  const { registry, tokenServer } = await startTokenAuthRegistry(t, {
    users: USERS,
    anonymousPull: ['public/*'],
  });
  const startupMs = performance.now() - began;
  t.comment(`token server + registry ready in ${startupMs.toFixed(0)} ms`);
  startedDirs.push(registry.dir, tokenServer.dir);
  tokenServerUrls.push(tokenServer.url);
  t.equal(registry.auth, 'token');
  t.ok(registry.authRequired);

  const v2 = await fetch(`${registry.url}/v2/`);
  t.equal(v2.status, 401, 'GET /v2/ needs a token');
  t.same(challengeParams(v2.headers.get('www-authenticate')), {
    realm: tokenServer.realm,
    service: tokenServer.service,
  });

  const work = await makeTempDir(t, 'token-registry');
  startedDirs.push(work);
  const [app, teamM, tool] = await Promise.all([
    buildImageLayout(join(work, 'app'), { marker: 'token-team-a-app' }),
    buildImageLayout(join(work, 'team-m'), { marker: 'token-team-m-x' }),
    buildImageLayout(join(work, 'tool'), { marker: 'token-public-tool' }),
  ]);
  t.equal(
    await pushLayout(app.layoutDir, `${registry.host}/team-a/app:v1`, ALICE),
    app.manifestDigest,
    'alice pushes team-a/app',
  );
  t.equal(
    await pushLayout(teamM.layoutDir, `${registry.host}/team-m/x:v1`, MALLORY),
    teamM.manifestDigest,
    'mallory pushes team-m/x',
  );
  t.equal(
    await pushLayout(tool.layoutDir, `${registry.host}/public/tool:v1`, ALICE),
    tool.manifestDigest,
    'alice pushes public/tool',
  );

  const containerd = await startContainerd(t, { registryMirrors: [registry.host] });
  startedDirs.push(containerd.dir);

  const world: World = { registry, tokenServer, containerd, work, app, teamM, tool };
  for (const c of CASES) {
    await t.test(c.name, (t) => c.run(t, world));
  }
});

t.test('teardown left nothing behind', async (t) => {
  t.same(trackedLivePids(), [], 'every process we started has exited');
  const left = await leftoverProcesses(['containerd', 'docker-registry'], startedDirs);
  t.same(
    left.map((p) => `${p.pid} ${p.cmdline}`),
    [],
    'no containerd or docker-registry of ours is running',
  );
  for (const dir of startedDirs) t.notOk(existsSync(dir), `${dir} removed`);
  for (const url of tokenServerUrls) {
    t.match(await rejection(fetch(`${url}/token`)), /fetch failed/, `${url} closed`);
  }
});

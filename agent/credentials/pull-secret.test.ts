import t from 'tap';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import {
  createFingerprintKey,
  kubeletCredentialHash,
  MAX_SECRET_DATA_BYTES,
  parsePullSecret,
  type FingerprintKey,
  type ParsedPullSecret,
  type SecretProblemKind,
} from './pull-secret.ts';

function fingerprintKey(fill: number): FingerprintKey {
  const key = createFingerprintKey(Buffer.alloc(32, fill));
  if (!key.ok) throw new Error(key.error);
  return key.value;
}
const KEY = fingerprintKey(1);

const base64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64');
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

type Json = Record<string, unknown>;

function secretOf(type: string, data: Record<string, string>): Json {
  return { metadata: { namespace: 'team-a', name: 'regcred', uid: 'uid-1' }, type, data };
}
const dockerConfigJson = (config: unknown): Json =>
  secretOf('kubernetes.io/dockerconfigjson', {
    '.dockerconfigjson': base64(JSON.stringify(config)),
  });
const dockerCfg = (config: unknown): Json =>
  secretOf('kubernetes.io/dockercfg', { '.dockercfg': base64(JSON.stringify(config)) });
const rawDockerConfigJson = (bytes: string | Uint8Array): Json =>
  secretOf('kubernetes.io/dockerconfigjson', { '.dockerconfigjson': base64(bytes) });

// The credentials the case expects, by registry key, as the kubelet would hash them.
interface ExpectedCredential {
  readonly key: string;
  readonly username: string | Uint8Array;
  readonly password: string | Uint8Array;
  readonly email?: string;
  readonly indexKey?: string;
  readonly host?: string;
}

interface Case {
  readonly name: string;
  readonly secret: unknown;
  readonly problem?: SecretProblemKind;
  readonly credentials?: readonly ExpectedCredential[];
  readonly warnings?: readonly { readonly key: string; readonly rejectsSecret: boolean }[];
  readonly kubeletAccepts?: boolean;
  /** Every password the secret holds in any form; none may appear in the output. */
  readonly secrets?: readonly string[];
}

const USER_PASS_AUTH = base64('user:password');

const cases: readonly Case[] = [
  {
    name: 'dockerconfigjson with username and password',
    secret: dockerConfigJson({
      auths: { 'registry.example.com': { username: 'alice', password: 'S3cret-one' } },
    }),
    credentials: [{ key: 'registry.example.com', username: 'alice', password: 'S3cret-one' }],
    secrets: ['S3cret-one'],
  },
  {
    name: 'dockercfg: the map without "auths"',
    secret: dockerCfg({ 'https://index.docker.io/v1/': { auth: base64('bob:S3cret-two') } }),
    credentials: [
      {
        key: 'https://index.docker.io/v1/',
        username: 'bob',
        password: 'S3cret-two',
        indexKey: 'index.docker.io',
      },
    ],
    secrets: ['S3cret-two'],
  },
  {
    name: 'auth only: decoded into username and password (upstream test vector)',
    secret: dockerConfigJson({ auths: { 'test.registry.io': { auth: USER_PASS_AUTH } } }),
    credentials: [{ key: 'test.registry.io', username: 'user', password: 'password' }],
  },
  {
    name: 'auth without base64 padding is accepted, as RawStdEncoding',
    secret: dockerConfigJson({
      auths: { 'r.example.com': { auth: base64('carol:S3cret-three').replace(/=+$/, '') } },
    }),
    credentials: [{ key: 'r.example.com', username: 'carol', password: 'S3cret-three' }],
    secrets: ['S3cret-three'],
  },
  {
    name: 'the password may contain colons: auth splits at the first one',
    secret: dockerConfigJson({ auths: { 'r.example.com': { auth: base64('dave:S3:cr:et') } } }),
    credentials: [{ key: 'r.example.com', username: 'dave', password: 'S3:cr:et' }],
    secrets: ['S3:cr:et'],
  },
  {
    name: 'both auth and username/password: auth wins, as in the kubelet',
    secret: dockerConfigJson({
      auths: {
        'r.example.com': {
          username: 'field-user',
          password: 'Field-S3cret',
          auth: base64('auth-user:Auth-S3cret'),
        },
      },
    }),
    credentials: [{ key: 'r.example.com', username: 'auth-user', password: 'Auth-S3cret' }],
    secrets: ['Field-S3cret', 'Auth-S3cret'],
  },
  {
    name: 'an empty auth does not override username/password',
    secret: dockerConfigJson({
      auths: { 'r.example.com': { username: 'erin', password: 'S3cret-four', auth: '' } },
    }),
    credentials: [{ key: 'r.example.com', username: 'erin', password: 'S3cret-four' }],
    secrets: ['S3cret-four'],
  },
  {
    name: 'the email is part of the kubelet hash',
    secret: dockerConfigJson({
      auths: { 'r.example.com': { username: 'u', password: 'p', email: 'e@x.io' } },
    }),
    credentials: [{ key: 'r.example.com', username: 'u', password: 'p', email: 'e@x.io' }],
  },
  {
    name: 'field names match case-insensitively, as Go decodes them',
    secret: rawDockerConfigJson(
      '{"Auths":{"r.example.com":{"USERNAME":"frank","PassWord":"S3cret-five"}}}',
    ),
    credentials: [{ key: 'r.example.com', username: 'frank', password: 'S3cret-five' }],
    secrets: ['S3cret-five'],
  },
  {
    name: 'Go folds the long s (ſ) to s in field names',
    secret: rawDockerConfigJson('{"auths":{"r.example.com":{"uſername":"gina","password":"p"}}}'),
    credentials: [{ key: 'r.example.com', username: 'gina', password: 'p' }],
  },
  {
    name: 'a registry key written twice: the last entry wins',
    secret: rawDockerConfigJson(
      '{"auths":{"r.example.com":{"username":"old","password":"Old-S3cret"},"r.example.com":{"username":"new","password":"New-S3cret"}}}',
    ),
    credentials: [{ key: 'r.example.com', username: 'new', password: 'New-S3cret' }],
    secrets: ['Old-S3cret', 'New-S3cret'],
  },
  {
    name: 'a second "auths" adds to the first',
    secret: rawDockerConfigJson(
      '{"auths":{"a.example.com":{"username":"a","password":"p"}},"auths":{"b.example.com":{"username":"b","password":"p"}}}',
    ),
    credentials: [
      { key: 'a.example.com', username: 'a', password: 'p' },
      { key: 'b.example.com', username: 'b', password: 'p' },
    ],
  },
  {
    name: 'several registries keep their document order',
    secret: dockerConfigJson({
      auths: {
        'quay.io': { username: 'q', password: 'Quay-S3cret' },
        'https://index.docker.io/v1/': { username: 'd', password: 'Hub-S3cret' },
        'ghcr.io/team': { username: 'g', password: 'Ghcr-S3cret' },
      },
    }),
    credentials: [
      { key: 'quay.io', username: 'q', password: 'Quay-S3cret' },
      { key: 'https://index.docker.io/v1/', username: 'd', password: 'Hub-S3cret' },
      { key: 'ghcr.io/team', username: 'g', password: 'Ghcr-S3cret' },
    ],
    secrets: ['Quay-S3cret', 'Hub-S3cret', 'Ghcr-S3cret'],
  },
  {
    name: 'unicode hosts are kept as written',
    secret: dockerConfigJson({
      auths: {
        'bücher.example': { username: 'u', password: 'p' },
        'https://例え.jp/v2/': { username: 'u', password: 'p' },
      },
    }),
    credentials: [
      { key: 'bücher.example', username: 'u', password: 'p', host: 'bücher.example' },
      { key: 'https://例え.jp/v2/', username: 'u', password: 'p', host: '例え.jp' },
    ],
  },
  {
    name: 'an entry without credentials has an empty username',
    secret: dockerConfigJson({ auths: { 'r.example.com': {} } }),
    credentials: [{ key: 'r.example.com', username: '', password: '' }],
  },
  {
    name: 'a null entry decodes to no credentials, as in Go',
    secret: rawDockerConfigJson('{"auths":{"r.example.com":null}}'),
    credentials: [{ key: 'r.example.com', username: '', password: '' }],
  },
  {
    name: 'empty auths',
    secret: dockerConfigJson({ auths: {} }),
    credentials: [],
  },
  {
    name: 'no auths at all',
    secret: dockerConfigJson({ credsStore: 'desktop' }),
    credentials: [],
  },
  {
    name: 'userinfo in a registry key is masked',
    secret: dockerConfigJson({
      auths: { 'https://mallory:Key-S3cret@r.example.com': { username: 'u', password: 'p' } },
    }),
    credentials: [{ key: 'https://***@r.example.com', username: 'u', password: 'p' }],
    secrets: ['Key-S3cret'],
  },
  {
    name: 'invalid UTF-8 in the config becomes one U+FFFD per byte, as in Go',
    secret: rawDockerConfigJson(
      Buffer.concat([
        Buffer.from('{"auths":{"r.example.com":{"username":"u","password":"p'),
        Buffer.from([0xe2, 0x82]),
        Buffer.from('A"}}}'),
      ]),
    ),
    credentials: [{ key: 'r.example.com', username: 'u', password: 'p\uFFFD\uFFFDA' }],
  },
  {
    name: 'invalid UTF-8 inside auth is hashed byte for byte, as Go does',
    secret: dockerConfigJson({
      auths: { 'r.example.com': { auth: base64(Buffer.from([0x75, 0x3a, 0x70, 0xff])) } },
    }),
    credentials: [{ key: 'r.example.com', username: 'u', password: Uint8Array.from([0x70, 0xff]) }],
  },
  // Entries the kubelet's json.Unmarshal fails on: it rejects the whole secret.
  {
    name: 'entries that are numbers are skipped, and the kubelet rejects the secret',
    secret: dockerConfigJson({
      auths: {
        'bad.example.com': 5,
        'good.example.com': { username: 'u', password: 'Good-S3cret' },
      },
    }),
    credentials: [{ key: 'good.example.com', username: 'u', password: 'Good-S3cret' }],
    warnings: [{ key: 'bad.example.com', rejectsSecret: true }],
    kubeletAccepts: false,
    secrets: ['Good-S3cret'],
  },
  {
    name: 'a password that is not a string',
    secret: dockerConfigJson({ auths: { 'r.example.com': { username: 'u', password: 12345 } } }),
    credentials: [],
    warnings: [{ key: 'r.example.com', rejectsSecret: true }],
    kubeletAccepts: false,
  },
  {
    name: 'an auth that is not base64',
    secret: dockerConfigJson({
      auths: { 'r.example.com': { auth: 'not base64!', password: 'Plain-S3cret' } },
    }),
    credentials: [],
    warnings: [{ key: 'r.example.com', rejectsSecret: true }],
    kubeletAccepts: false,
    secrets: ['Plain-S3cret'],
  },
  {
    name: 'an auth without a colon',
    secret: dockerConfigJson({ auths: { 'r.example.com': { auth: base64('NoColonS3cret') } } }),
    credentials: [],
    warnings: [{ key: 'r.example.com', rejectsSecret: true }],
    kubeletAccepts: false,
    secrets: ['NoColonS3cret'],
  },
  {
    name: 'a padded auth with a stray space fails like Go',
    secret: dockerConfigJson({ auths: { 'r.example.com': { auth: `${USER_PASS_AUTH} ` } } }),
    credentials: [],
    warnings: [{ key: 'r.example.com', rejectsSecret: true }],
    kubeletAccepts: false,
  },
  // Entries the kubelet skips on its own (url.Parse fails): the rest of the secret works.
  {
    name: 'a registry key Go cannot parse is skipped; the secret stays usable',
    secret: dockerConfigJson({
      auths: {
        'registry example.com': { username: 'u', password: 'Space-S3cret' },
        'r.example.com': { username: 'u', password: 'p' },
      },
    }),
    credentials: [{ key: 'r.example.com', username: 'u', password: 'p' }],
    warnings: [{ key: 'registry example.com', rejectsSecret: false }],
    kubeletAccepts: true,
    secrets: ['Space-S3cret'],
  },
  // Problems with the whole secret.
  {
    name: 'invalid base64 in data',
    secret: secretOf('kubernetes.io/dockerconfigjson', { '.dockerconfigjson': 'not*base64' }),
    problem: 'invalid-base64',
  },
  {
    name: 'a data value that is not a string',
    secret: {
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': { nested: true } },
    },
    problem: 'invalid-base64',
  },
  {
    name: 'JSON that is an array',
    secret: dockerConfigJson([{ auths: {} }]),
    problem: 'invalid-json',
  },
  {
    name: 'JSON that does not parse',
    secret: rawDockerConfigJson('{"auths":{"r.example.com":{"password":"Trunc-S3cret"'),
    problem: 'invalid-json',
    secrets: ['Trunc-S3cret'],
  },
  {
    name: 'JSON with a trailing comma',
    secret: rawDockerConfigJson('{"auths":{},}'),
    problem: 'invalid-json',
  },
  {
    name: '"auths" that is not an object',
    secret: dockerConfigJson({ auths: ['r.example.com'] }),
    problem: 'invalid-json',
  },
  {
    name: 'HttpHeaders that is not an object of strings',
    secret: dockerConfigJson({ auths: {}, HttpHeaders: { 'X-Token': 5 } }),
    problem: 'invalid-json',
  },
  {
    name: 'dockerconfigjson type without the .dockerconfigjson key',
    secret: secretOf('kubernetes.io/dockerconfigjson', { '.dockercfg': base64('{}') }),
    problem: 'missing-key',
  },
  {
    name: 'an empty .dockercfg value (the kubelet ignores the secret)',
    secret: secretOf('kubernetes.io/dockercfg', { '.dockercfg': '' }),
    problem: 'missing-key',
  },
  {
    name: 'no data at all',
    secret: { type: 'kubernetes.io/dockercfg', metadata: { namespace: 'a', name: 'b' } },
    problem: 'missing-key',
  },
  {
    name: 'wrong type Opaque',
    secret: secretOf('Opaque', {
      '.dockerconfigjson': base64(JSON.stringify({ auths: { r: { password: 'Opaque-S3cret' } } })),
    }),
    problem: 'wrong-type',
    secrets: ['Opaque-S3cret'],
  },
  {
    name: 'no type at all (Opaque)',
    secret: { data: {} },
    problem: 'wrong-type',
  },
  { name: 'not an object', secret: 'kubernetes.io/dockerconfigjson', problem: 'wrong-type' },
  { name: 'null', secret: null, problem: 'wrong-type' },
  {
    name: 'a value over 1 MiB is refused',
    secret: rawDockerConfigJson(`{"auths":{}}${' '.repeat(MAX_SECRET_DATA_BYTES)}`),
    problem: 'too-large',
  },
  {
    name: 'exactly 1 MiB of data is still read',
    secret: rawDockerConfigJson(`{"auths":{}}${' '.repeat(MAX_SECRET_DATA_BYTES - 12)}`),
    credentials: [],
  },
  {
    name: 'the limit counts all data values together',
    secret: secretOf('kubernetes.io/dockercfg', {
      '.dockercfg': base64('{}'),
      other: base64(Buffer.alloc(MAX_SECRET_DATA_BYTES)),
    }),
    problem: 'too-large',
  },
];

function leaks(value: unknown, secrets: readonly string[]): string[] {
  const rendered = [JSON.stringify(value), inspect(value, { depth: null, showHidden: true })];
  const forms = secrets.flatMap((s) => [s, base64(s), JSON.stringify(s).slice(1, -1)]);
  return forms.filter((form) => rendered.some((text) => text.includes(form)));
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const result = parsePullSecret(c.secret, KEY);
    t.same(leaks(result, c.secrets ?? []), [], 'no credential material in the result');
    if (c.problem !== undefined) {
      t.equal(result.ok ? 'parsed' : result.error.kind, c.problem);
      if (!result.ok && isNamedSecret(c.secret)) t.match(result.error.message, 'team-a/regcred');
      return;
    }
    if (!result.ok) {
      t.fail(`unexpected ${result.error.kind}: ${result.error.message}`);
      return;
    }
    const parsed: ParsedPullSecret = result.value;
    t.same(parsed.secret, { namespace: 'team-a', name: 'regcred', uid: 'uid-1' });
    const expected = c.credentials ?? [];
    t.same(
      parsed.credentials.map((x) => x.key),
      expected.map((x) => x.key),
      'the registry keys',
    );
    expected.forEach((want, i) => {
      const got = parsed.credentials[i];
      if (got === undefined) return;
      t.equal(
        got.credentialHash,
        kubeletCredentialHash(want.username, want.password, want.email),
        `the kubelet hash of ${want.key}`,
      );
      t.equal(got.hasUsername, want.username.length > 0, `whether ${want.key} has a username`);
      if (want.indexKey !== undefined) t.equal(got.matcher.indexKey, want.indexKey);
      if (want.host !== undefined) t.equal(got.matcher.host, want.host);
    });
    t.same(
      parsed.warnings.map((w) => ({ key: w.registryKey, rejectsSecret: w.kubeletRejectsSecret })),
      c.warnings ?? [],
      'the skipped entries',
    );
    for (const warning of parsed.warnings) t.match(warning.message, 'team-a/regcred');
    t.equal(
      parsed.kubeletAcceptsSecret,
      c.kubeletAccepts ?? true,
      'whether the kubelet accepts it',
    );
  });
}

function isNamedSecret(secret: unknown): boolean {
  return JSON.stringify(secret)?.includes('"regcred"') ?? false;
}

t.test('credentialHash vectors', async (t) => {
  // From kubernetes pkg/credentialprovider/secrets/secrets_test.go (user / password).
  t.equal(
    kubeletCredentialHash('user', 'password'),
    'a55436fc140d516560d072c5fe8700385ce9f41629abf65c1edcbcb39fac691d',
  );
  t.equal(kubeletCredentialHash('u', 'p'), sha256('{"username":"u","password":"p"}'));
  t.equal(
    kubeletCredentialHash('u', 'p', 'e@x.io'),
    sha256('{"username":"u","password":"p","email":"e@x.io"}'),
  );
  t.equal(kubeletCredentialHash('', ''), sha256('{}'));
});

t.test('fingerprints depend on the key and on both username and password', async (t) => {
  const parse = (auths: Json, key: FingerprintKey): string[] => {
    const r = parsePullSecret(dockerConfigJson({ auths }), key);
    return r.ok ? r.value.credentials.map((c) => c.fingerprint) : [];
  };
  const same = { a: { username: 'u', password: 'p' }, b: { auth: base64('u:p') } };
  const [a, b] = parse(same, KEY);
  t.equal(a, b, 'the same credential written two ways has one fingerprint');
  t.not(parse(same, fingerprintKey(2))[0], a, 'another agent key gives another fingerprint');
  const [c, d] = parse(
    { c: { username: 'ab', password: 'c' }, d: { username: 'a', password: 'bc' } },
    KEY,
  );
  t.not(c, d, 'moving characters between username and password changes the fingerprint');
  t.match(a, /^[0-9a-f]{64}$/);
});

t.test('a fingerprint key must have at least 32 bytes', async (t) => {
  t.notOk(createFingerprintKey(Buffer.alloc(16)).ok);
  t.ok(createFingerprintKey(Buffer.alloc(32)).ok);
});

t.test('a 1 MiB auth made of spaces is rejected quickly', async (t) => {
  const auth = `${' '.repeat(MAX_SECRET_DATA_BYTES / 2)}x`;
  const started = performance.now();
  const result = parsePullSecret(dockerConfigJson({ auths: { r: { auth } } }), KEY);
  t.ok(result.ok && !result.value.kubeletAcceptsSecret);
  t.ok(performance.now() - started < 2000, 'in linear time');
});

t.test(
  'a credential can be presented to its registry without ever being a readable property',
  async (t) => {
    const password = 'S3cret-presented-only';
    const parsed = parsePullSecret(
      dockerConfigJson({ auths: { 'registry.example.com': { username: 'bob', password } } }),
      KEY,
    );
    t.ok(parsed.ok);
    if (!parsed.ok) return;
    const [credential] = parsed.value.credentials;
    t.equal(credential?.authorization?.basicAuthorization(), `Basic ${base64(`bob:${password}`)}`);
    t.equal(credential?.authorization?.fingerprint, credential?.fingerprint);
    const shown = `${JSON.stringify(parsed.value)}${inspect(parsed.value, { depth: 10, showHidden: true })}`;
    t.notMatch(shown, password);
    t.notMatch(shown, base64(`bob:${password}`));
    const anonymous = parsePullSecret(
      dockerConfigJson({ auths: { 'registry.example.com': {} } }),
      KEY,
    );
    t.equal(
      anonymous.ok && anonymous.value.credentials[0]?.authorization,
      undefined,
      'no username, nothing to present',
    );
  },
);

import t from 'tap';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import {
  createFingerprintKey,
  goJsonString,
  kubeletCredentialHash,
  parsePullSecret,
  type FingerprintKey,
} from './pull-secret.ts';

const keyResult = createFingerprintKey(Buffer.alloc(32, 9));
if (!keyResult.ok) throw new Error(keyResult.error);
const KEY: FingerprintKey = keyResult.value;

const base64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64');
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const TYPES = ['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg'] as const;
const DATA_KEYS = {
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
  'kubernetes.io/dockercfg': '.dockercfg',
};

function secretWithData(type: (typeof TYPES)[number], bytes: string | Uint8Array): unknown {
  return {
    metadata: { namespace: 'ns', name: 'name' },
    type,
    data: { [DATA_KEYS[type]]: base64(bytes) },
  };
}

// Calls the parser and reports an exception as a failed property instead of crashing the run.
function parses(secret: unknown): boolean {
  const result = parsePullSecret(secret, KEY);
  return typeof result.ok === 'boolean';
}

t.test('arbitrary JSON in the config never throws', async () => {
  fc.assert(
    fc.property(fc.constantFrom(...TYPES), fc.jsonValue(), (type, config) =>
      parses(secretWithData(type, JSON.stringify(config))),
    ),
  );
});

t.test('arbitrary JSON shaped like a config never throws', async () => {
  const entry = fc.dictionary(
    fc.constantFrom('username', 'password', 'auth', 'email', 'Auth', 'PASSWORD'),
    fc.oneof(fc.string(), fc.jsonValue(), fc.base64String()),
  );
  const auths = fc.dictionary(fc.string(), fc.oneof(entry, fc.jsonValue()));
  fc.assert(
    fc.property(fc.constantFrom(...TYPES), auths, (type, map) =>
      parses(secretWithData(type, JSON.stringify(type === TYPES[0] ? { auths: map } : map))),
    ),
  );
});

t.test('arbitrary bytes in data never throw', async () => {
  fc.assert(
    fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 512 }), (type, bytes) =>
      parses(secretWithData(type, bytes)),
    ),
  );
});

t.test('arbitrary values as the secret never throw', async () => {
  fc.assert(fc.property(fc.anything(), (secret) => parses(secret)));
  fc.assert(
    fc.property(fc.constantFrom(...TYPES), fc.anything(), (type, data) => parses({ type, data })),
  );
});

// A password that cannot turn up by chance anywhere else: a random marker, then anything.
const passwordArb = fc
  .tuple(fc.stringMatching(/^[A-Z][a-z0-9]{13}$/), fc.string({ maxLength: 6, unit: 'binary' }))
  .map(([marker, tail]) => `Pw${marker}${tail}`);
const usernameArb = fc.string({ maxLength: 8 }).filter((u) => !u.includes(':'));
const registryKeyArb = fc.oneof(
  fc.constantFrom(
    'https://index.docker.io/v1/',
    'quay.io',
    'r.example.com:5000/team',
    'bücher.example',
  ),
  fc.string({ maxLength: 12 }),
);

type EntryShape = Record<string, unknown>;
const entryArb: fc.Arbitrary<{ entry: EntryShape; username: string; password: string }> = fc
  .tuple(
    usernameArb,
    passwordArb,
    fc.constantFrom(
      'fields',
      'auth',
      'auth-unpadded',
      'both',
      'password-only',
      'auth-without-colon',
      'broken-auth',
      'wrong-type',
    ),
  )
  .map(([username, password, shape]) => {
    const auth = base64(`${username}:${password}`);
    const entries: Record<typeof shape, EntryShape> = {
      fields: { username, password },
      auth: { auth },
      'auth-unpadded': { auth: auth.replace(/=+$/, '') },
      both: { username: 'other', password: `${password}-field`, auth },
      'password-only': { password },
      'auth-without-colon': { auth: base64(password) },
      'broken-auth': { password, auth: `${auth}*` },
      'wrong-type': { username: 5, password },
    };
    return { entry: entries[shape], username, password };
  });

const corruptionArb = fc.constantFrom(
  'none',
  'none',
  'truncate',
  'array',
  'opaque',
  'bad-base64',
  'missing-key',
);

t.test('no generated password reaches any returned value or message', async () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...TYPES),
      fc.array(fc.tuple(registryKeyArb, entryArb), { maxLength: 4 }),
      corruptionArb,
      fc.string({ maxLength: 8 }),
      (type, entries, corruption, namespace) => {
        const map = Object.fromEntries(entries.map(([key, { entry }]) => [key, entry]));
        let text = JSON.stringify(type === TYPES[0] ? { auths: map } : map);
        if (corruption === 'truncate') text = text.slice(0, Math.floor(text.length / 2));
        if (corruption === 'array') text = `[${text}]`;
        let encoded = base64(text);
        if (corruption === 'bad-base64') encoded = `*${encoded}`;
        const dataKey = corruption === 'missing-key' ? 'other' : DATA_KEYS[type];
        const secret = {
          metadata: { namespace, name: 'n' },
          type: corruption === 'opaque' ? 'Opaque' : type,
          data: { [dataKey]: encoded },
        };
        const result = parsePullSecret(secret, KEY);
        const rendered = [
          JSON.stringify(result),
          inspect(result, { depth: null, showHidden: true }),
          result.ok ? result.value.warnings.map((w) => w.message).join('\n') : result.error.message,
        ].join('\n');
        for (const [, { username, password }] of entries) {
          const forms = [
            password,
            password.slice(0, 16),
            base64(password),
            base64(`${username}:${password}`),
            JSON.stringify(password).slice(1, -1),
          ];
          for (const form of forms) {
            if (rendered.includes(form)) throw new Error(`credential material leaked: ${form}`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

// An independent statement of Go's json.Marshal for a string: JSON.stringify agrees with it on
// quotes, backslashes, \b \f \n \r \t and \u00xx (lower-case) control escapes; Go also escapes
// < > & U+2028 U+2029, and a string that is not well-formed becomes U+FFFD.
function expectedGoJsonString(s: string): string {
  return JSON.stringify(s.toWellFormed()).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

function expectedHash(username: string, password: string, email: string): string {
  const fields = [
    username === '' ? '' : `"username":${expectedGoJsonString(username)}`,
    password === '' ? '' : `"password":${expectedGoJsonString(password)}`,
    email === '' ? '' : `"email":${expectedGoJsonString(email)}`,
  ].filter((f) => f !== '');
  return sha256(`{${fields.join(',')}}`);
}

const trickyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    maxLength: 12,
    unit: fc.constantFrom(
      ...['<', '>', '&', '\u2028', '\u2029', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t'],
      ...[
        '\u0000',
        '\u001f',
        '\u007f',
        '\u0085',
        'é',
        '😀',
        '\ud800',
        '\udc00',
        '\ufffd',
        'a',
        ':',
      ],
    ),
  }),
);

t.test('credentialHash is sha256 of the Go JSON of the AuthConfig', async () => {
  fc.assert(
    fc.property(trickyText, trickyText, trickyText, (username, password, email) => {
      return (
        kubeletCredentialHash(username, password, email) === expectedHash(username, password, email)
      );
    }),
  );
});

t.test('the parser yields the same credentialHash as a direct computation', async () => {
  fc.assert(
    fc.property(
      trickyText.filter((u) => !u.includes(':')),
      trickyText,
      trickyText,
      fc.boolean(),
      (username, password, email, viaAuth) => {
        const entry = viaAuth
          ? { auth: base64(`${username}:${password}`), email }
          : { username, password, email };
        const result = parsePullSecret(
          secretWithData(TYPES[0], JSON.stringify({ auths: { 'r.example.com': entry } })),
          KEY,
        );
        return (
          result.ok &&
          result.value.credentials[0]?.credentialHash === expectedHash(username, password, email)
        );
      },
    ),
  );
});

t.test('known credentialHash vectors', async (t) => {
  t.equal(kubeletCredentialHash('u', 'p'), sha256('{"username":"u","password":"p"}'));
  t.equal(
    kubeletCredentialHash('u', 'p'),
    'edbd57ca9372e64eb1c9070ecf3a049ac553596b0529acf034c7a71d4e618e88',
  );
  const tricky = 'a<b&c>d\u2028e';
  t.equal(goJsonString(tricky), '"a\\u003cb\\u0026c\\u003ed\\u2028e"');
  t.equal(
    kubeletCredentialHash('u', tricky),
    '9ebc5b72ddb130ae5194f1d9613468c0d4fb81ded6d3a198d729dd9e570d68f8',
    'sha256 of {"username":"u","password":"a\\u003cb\\u0026c\\u003ed\\u2028e"}',
  );
  t.equal(
    kubeletCredentialHash('u', Uint8Array.from([0x70, 0xff])),
    '2e856984b076a21ad3d316c5673d16d60589936ff43884e70bcc0690a99d4455',
    'sha256 of {"username":"u","password":"p\\ufffd"}: invalid UTF-8 as the \\ufffd escape',
  );
});

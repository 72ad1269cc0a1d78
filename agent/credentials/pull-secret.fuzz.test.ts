// What pull-secret.property.test.ts leaves out: registry keys written in any script (IDN labels,
// fullwidth and ideographic dots, combining marks, zero-width joiners, right-to-left text,
// punycode, userinfo, ports, paths) and values at the 1 MiB a Secret may hold (a password,
// a username, a registry key, an auth or thousands of entries that big). Parsing never throws,
// never leaks a password, keeps the credential presentable, and stays fast.
import { Buffer } from 'node:buffer';
import { inspect } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { resolveCredentialsForImage } from './keyring.ts';
import {
  MAX_SECRET_DATA_BYTES,
  createFingerprintKey,
  parsePullSecret,
  type FingerprintKey,
} from './pull-secret.ts';

const keyResult = createFingerprintKey(Buffer.alloc(32, 7));
if (!keyResult.ok) throw new Error(keyResult.error);
const KEY: FingerprintKey = keyResult.value;

const base64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64');

function dockerConfigJsonSecret(text: string): unknown {
  return {
    metadata: { namespace: 'tenant-ü', name: 'pull' },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': base64(text) },
  };
}

/** Every rendering of a parse result a log line, an API answer or a state file could hold. */
function rendered(result: ReturnType<typeof parsePullSecret>): string {
  return [
    JSON.stringify(result),
    inspect(result, { depth: null, showHidden: true, maxStringLength: null }),
    result.ok ? result.value.warnings.map((w) => w.message).join('\n') : result.error.message,
  ].join('\n');
}

function leakedForms(text: string, username: string, password: string): string[] {
  return [
    password,
    base64(password),
    base64(`${username}:${password}`),
    JSON.stringify(password).slice(1, -1),
  ].filter((form) => form.length >= 8 && text.includes(form));
}

// ---- unicode hosts ----

const scripts = fc.constantFrom(
  'bücher',
  'пример',
  '例え',
  'مثال',
  'דוגמה',
  'ẞtraße',
  'İstanbul',
  'e\u0301xample', // combining acute accent
  'zw\u200dj', // zero-width joiner
  'rtl\u202eevil', // right-to-left override
  '😀',
  'xn--bcher-kva',
  'xn--',
  'ＦＵＬＬ',
);
const dot = fc.constantFrom('.', '。', '．', '｡', '..', '');
const label = fc.oneof(
  scripts,
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
  fc.stringMatching(/^[a-z0-9-]{1,10}$/),
  fc.constantFrom('*', '*.', 'localhost'),
);
const host = fc
  .array(fc.tuple(label, dot), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.map(([l, d]) => `${l}${d}`).join(''));
const userinfoPassword = fc.stringMatching(/^[A-Z][a-z0-9]{11}$/).map((m) => `Ui${m}`);
const registryKey = fc
  .record({
    scheme: fc.constantFrom('', 'https://', 'http://', 'HTTPS://', 'oci://'),
    userinfo: fc.option(
      userinfoPassword.map((p) => ({ text: `user:${p}@`, password: p })),
      { nil: undefined },
    ),
    host,
    port: fc.constantFrom('', ':5000', ':0', ':99999', ':port', ':'),
    path: fc.constantFrom('', '/', '/v1/', '/v2/team', '/tëam/ä', '/%ZZ', '/..'),
  })
  .map((k) => ({
    key: `${k.scheme}${k.userinfo?.text ?? ''}${k.host}${k.port}${k.path}`,
    userinfoPassword: k.userinfo?.password,
    host: k.host,
  }));
const password = fc
  .tuple(fc.stringMatching(/^[A-Z][a-z0-9]{13}$/), fc.string({ unit: 'grapheme', maxLength: 6 }))
  .map(([marker, tail]) => `Pw${marker}${tail}`);
const username = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
  .filter((u) => !u.includes(':'));

t.test('registry keys in any script: never throw, never leak, stay presentable', async () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(registryKey, username, password, fc.boolean()), {
        minLength: 1,
        maxLength: 4,
      }),
      (entries) => {
        const auths = Object.fromEntries(
          entries.map(([k, user, pass, viaAuth]) => [
            k.key,
            viaAuth ? { auth: base64(`${user}:${pass}`) } : { username: user, password: pass },
          ]),
        );
        const result = parsePullSecret(dockerConfigJsonSecret(JSON.stringify({ auths })), KEY);
        const text = rendered(result);
        for (const [k, user, pass] of entries) {
          const leaked = [
            ...leakedForms(text, user, pass),
            ...(k.userinfoPassword !== undefined && text.includes(k.userinfoPassword)
              ? [k.userinfoPassword]
              : []),
          ];
          if (leaked.length > 0) throw new Error(`leaked: ${leaked.join(', ')}`);
        }
        if (!result.ok) return;
        for (const credential of result.value.credentials) {
          if (!/^[0-9a-f]{64}$/.test(credential.fingerprint)) throw new Error('fingerprint');
          if (!/^[0-9a-f]{64}$/.test(credential.credentialHash)) throw new Error('hash');
          // The sealed capability presents exactly one of the generated user:password pairs.
          const header = credential.authorization?.basicAuthorization() ?? '';
          const presented = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString('utf8');
          if (!entries.some(([, user, pass]) => presented === `${user}:${pass}`)) {
            throw new Error('the credential presents something that is not its user:password');
          }
          // The keyring matches an image on a unicode registry without throwing.
          resolveCredentialsForImage([credential], {
            registry: credential.matcher.host,
            repository: 'team/app',
          });
        }
      },
    ),
    { numRuns: 500 },
  );
});

t.test('every unicode host parses the same whether written in the key or in auth', async () => {
  fc.assert(
    fc.property(registryKey, username, password, (k, user, pass) => {
      const a = parsePullSecret(
        dockerConfigJsonSecret(
          JSON.stringify({ auths: { [k.key]: { username: user, password: pass } } }),
        ),
        KEY,
      );
      const b = parsePullSecret(
        dockerConfigJsonSecret(
          JSON.stringify({ auths: { [k.key]: { auth: base64(`${user}:${pass}`) } } }),
        ),
        KEY,
      );
      if (a.ok !== b.ok) throw new Error('fields and auth disagree on whether the secret parses');
      if (!a.ok || !b.ok) return;
      const fa = a.value.credentials.map((c) => `${c.matcher.indexKey}|${c.fingerprint}`);
      const fb = b.value.credentials.map((c) => `${c.matcher.indexKey}|${c.fingerprint}`);
      if (fa.join() !== fb.join()) throw new Error('same credential, different identity');
    }),
    { numRuns: 300 },
  );
});

// ---- 1 MiB values ----

const SHAPES = ['password', 'username', 'key', 'auth', 'email', 'entries', 'dockercfg'] as const;
type Shape = (typeof SHAPES)[number];

/** A secret whose decoded data is `size` bytes (± a few), with the bulk in one place. */
function bigSecret(
  shape: Shape,
  size: number,
  marker: string,
): { secret: unknown; username: string; password: string } {
  const frame = (filler: number) => {
    const big = `${marker}${'x'.repeat(Math.max(0, filler))}`;
    switch (shape) {
      case 'password':
        return {
          text: JSON.stringify({ auths: { 'r.example': { username: 'u', password: big } } }),
          username: 'u',
          password: big,
        };
      case 'username':
        return {
          text: JSON.stringify({ auths: { 'r.example': { username: big, password: marker } } }),
          username: big,
          password: marker,
        };
      case 'key':
        return {
          text: JSON.stringify({
            auths: { [`r.example/${big}`]: { username: 'u', password: `pw-${marker}` } },
          }),
          username: 'u',
          password: `pw-${marker}`,
        };
      case 'auth': {
        const raw = 3 * Math.floor(Math.max(0, filler) / 4);
        const pw = `${marker}${'y'.repeat(raw)}`;
        return {
          text: JSON.stringify({ auths: { 'r.example': { auth: base64(`u:${pw}`) } } }),
          username: 'u',
          password: pw,
        };
      }
      case 'email':
        return {
          text: JSON.stringify({
            auths: { 'r.example': { username: 'u', password: `pw-${marker}`, email: big } },
          }),
          username: 'u',
          password: `pw-${marker}`,
        };
      case 'entries': {
        const count = Math.max(1, Math.floor(filler / 60));
        const auths: Record<string, unknown> = {};
        for (let i = 0; i < count; i++)
          auths[`r${i}.example`] = { username: 'u', password: `${marker}${i}` };
        return { text: JSON.stringify({ auths }), username: 'u', password: `${marker}0` };
      }
      case 'dockercfg':
        return {
          text: JSON.stringify({ 'r.example': { username: 'u', password: big } }),
          username: 'u',
          password: big,
        };
    }
  };
  const base = frame(0);
  const built = frame(size - Buffer.byteLength(base.text));
  const type = shape === 'dockercfg' ? 'kubernetes.io/dockercfg' : 'kubernetes.io/dockerconfigjson';
  const dataKey = shape === 'dockercfg' ? '.dockercfg' : '.dockerconfigjson';
  return {
    secret: {
      metadata: { namespace: 'n', name: 'big' },
      type,
      data: { [dataKey]: base64(built.text) },
    },
    username: built.username,
    password: built.password,
  };
}

t.test('values around 1 MiB: never throw, decided quickly, never leaked', async () => {
  const marker = fc.stringMatching(/^[A-Z][a-z0-9]{15}$/).map((m) => `Big${m}`);
  fc.assert(
    fc.property(
      fc.constantFrom(...SHAPES),
      fc.integer({ min: MAX_SECRET_DATA_BYTES - 64, max: MAX_SECRET_DATA_BYTES + 64 }),
      marker,
      (shape, size, mark) => {
        const { secret, username: user, password: pass } = bigSecret(shape, size, mark);
        const started = performance.now();
        const result = parsePullSecret(secret, KEY);
        const ms = performance.now() - started;
        if (ms > 2000) throw new Error(`${shape} of ${size} bytes took ${Math.round(ms)} ms`);
        const text = rendered(result);
        // The marker opens every big value: none of it may appear, however long.
        for (const form of [mark, base64(`${user}:${mark}`).slice(0, 16)]) {
          if (shape !== 'key' && shape !== 'email' && text.includes(form)) {
            throw new Error(`${shape}: credential material leaked`);
          }
        }
        if (leakedForms(text, user, pass).length > 0) throw new Error(`${shape}: leaked`);
        if (!result.ok && result.error.message.length > 2000) {
          throw new Error(`${shape}: a ${result.error.message.length}-character message`);
        }
        if (result.ok) {
          for (const w of result.value.warnings) {
            if (w.message.length > 2000) throw new Error(`${shape}: a warning that long`);
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});

t.test(
  'user info behind a scheme the kubelet does not recognise stays in the parser',
  async (t) => {
    // Found by the first property: "https://" is added to "HTTPS://user:pass@host", so the user
    // info lands in the path of the key's matcher.
    for (const key of ['HTTPS://user:UiFound1234567@ .', 'oci://user:UiFound1234567@host/team']) {
      const result = parsePullSecret(
        dockerConfigJsonSecret(
          JSON.stringify({ auths: { [key]: { username: 'u', password: 'p' } } }),
        ),
        KEY,
      );
      t.notOk(
        rendered(result).includes('UiFound1234567'),
        `a key written ${key.slice(0, key.indexOf('//') + 2)}...`,
      );
    }
  },
);

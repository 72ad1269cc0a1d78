// The Go standard-library behaviour the registry code mirrors. Expected values were checked
// against Go's own encoding/json, encoding/base64, net/url, net and path/filepath.
import t from 'tap';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { globMatch } from './glob.ts';
import { goJsonString, parseGoJson, type GoJsonValue } from './go-json.ts';
import { decodeBase64, decodeUtf8, jsonKeySelectsField } from './go-text.ts';
import { splitHostPort } from './go-url.ts';

t.test('filepath.Match', async (t) => {
  const cases: readonly (readonly [pattern: string, name: string, matches: boolean])[] = [
    ['*', 'registry', true],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['reg*', 'registry', true],
    ['*try', 'registry', true],
    ['r*g*y', 'registry', true],
    ['r?gistry', 'registry', true],
    ['r?gistry', 'rgistry', false],
    ['[a-c]', 'b', true],
    ['[^a-c]', 'b', false],
    ['[^a-c]', 'd', true],
    ['[abc]x', 'cx', true],
    ['[\\]]', ']', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['*', 'a/b', false],
    ['?', '/', false],
    ['?', 'é', true],
    ['[é-😀]', 'ü', true],
    // Malformed patterns are errors in Go, so they never match.
    ['[', '[', false],
    ['[]', ']', false],
    ['[a-]', 'a', false],
    ['[a', 'a', false],
    ['\\', '\\', false],
    ['a[', 'b', false],
    ['*[', 'x', false],
    // Go extends a star byte by byte: '?' and classes may start inside a multi-byte character
    // and read it as U+FFFD. (A textbook glob says false here.)
    ['*?[é-😀]?', 'bcbc😀', true],
  ];
  for (const [pattern, name, matches] of cases) {
    t.equal(
      globMatch(pattern, name),
      matches,
      `${JSON.stringify(pattern)} vs ${JSON.stringify(name)}`,
    );
  }
});

t.test('net.SplitHostPort', async (t) => {
  const cases: readonly (readonly [string, { host: string; port: string } | undefined])[] = [
    ['registry:5000', { host: 'registry', port: '5000' }],
    ['registry:', { host: 'registry', port: '' }],
    ['[::1]:5000', { host: '::1', port: '5000' }],
    ['registry', undefined],
    ['[::1]', undefined],
    ['a:b:c', undefined],
    ['[::1]x:1', undefined],
    ['a]:1', undefined],
    ['[a[b]:1', undefined],
  ];
  for (const [hostport, expected] of cases) t.same(splitHostPort(hostport), expected, hostport);
});

t.test('base64 as Go decodes it', async (t) => {
  const text = (b: Buffer | undefined): string | undefined => b?.toString('latin1');
  t.equal(text(decodeBase64('dXNlcjpwYXNz', 'padded')), 'user:pass');
  t.equal(text(decodeBase64('dXNlcjpwYXNzMQ==', 'padded')), 'user:pass1');
  t.equal(decodeBase64('dXNlcjpwYXNzMQ', 'padded'), undefined, 'padding is required');
  t.equal(text(decodeBase64('dXNlcjpwYXNzMQ', 'raw')), 'user:pass1');
  t.equal(decodeBase64('dXNlcjpwYXNzMQ==', 'raw'), undefined, 'padding is refused');
  t.equal(text(decodeBase64('dXNl\r\ncjpw\nYXNz', 'padded')), 'user:pass', 'CR and LF skipped');
  t.equal(decodeBase64('dXNl cjpwYXNz', 'padded'), undefined, 'spaces are not skipped');
  t.equal(decodeBase64('dXNl*cjpwYXNz', 'padded'), undefined, 'no silent skipping of garbage');
  t.equal(decodeBase64('A===', 'padded'), undefined);
  t.equal(decodeBase64('QQ==QQ==', 'padded'), undefined, 'nothing after the padding');
  t.equal(decodeBase64('A', 'raw'), undefined);
  t.equal(text(decodeBase64('', 'padded')), '');
  t.equal(text(decodeBase64('QR==', 'padded')), 'A', 'unused bits are ignored');
});

t.test('UTF-8 as Go reads it: one U+FFFD per invalid byte', async (t) => {
  const decode = (bytes: number[]): string => decodeUtf8(Uint8Array.from(bytes)).text;
  t.equal(decode([0x61, 0xe2, 0x82, 0x41]), 'a\uFFFD\uFFFDA', 'a truncated sequence');
  t.equal(decode([0xed, 0xa0, 0x80]), '\uFFFD\uFFFD\uFFFD', 'an encoded surrogate');
  t.equal(decode([0xc0, 0xaf]), '\uFFFD\uFFFD', 'an overlong form');
  t.equal(decode([0xf4, 0x90, 0x80, 0x80]), '\uFFFD\uFFFD\uFFFD\uFFFD', 'above U+10FFFF');
  t.equal(decode([0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]), '€😀');
  t.ok(decodeUtf8(Uint8Array.from([0x61])).valid);
  t.notOk(decodeUtf8(Uint8Array.from([0xff])).valid);
});

t.test('JSON field names match as Go folds them', async (t) => {
  t.ok(jsonKeySelectsField('password', 'password'));
  t.ok(jsonKeySelectsField('PassWord', 'password'));
  t.ok(jsonKeySelectsField('uſername', 'username'), 'long s folds to s');
  t.ok(jsonKeySelectsField('\u212Aey', 'key'), 'Kelvin sign folds to k');
  t.notOk(jsonKeySelectsField('pass_word', 'password'));
  t.notOk(jsonKeySelectsField('passwords', 'password'));
  t.notOk(jsonKeySelectsField('pässword', 'password'));
});

t.test('json.Marshal of a string', async (t) => {
  const cases: readonly (readonly [string | Uint8Array, string])[] = [
    ['plain', '"plain"'],
    ['"\\/', '"\\"\\\\/"'],
    ['\b\f\n\r\t', '"\\b\\f\\n\\r\\t"'],
    ['\u0000\u001f\u007f', '"\\u0000\\u001f\u007f"'],
    ['<>&', '"\\u003c\\u003e\\u0026"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['é😀\uFFFD', '"é😀\uFFFD"'],
    ['\ud800', '"\uFFFD"'],
    [Uint8Array.from([0x61, 0xff, 0xe2, 0x82]), '"a\\ufffd\\ufffd\\ufffd"'],
  ];
  for (const [input, expected] of cases)
    t.equal(goJsonString(input), expected, JSON.stringify(expected));
});

// Reduces a parsed value to what JSON.parse would give, for comparison.
function plain(value: GoJsonValue): unknown {
  switch (value.kind) {
    case 'null':
      return null;
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'string':
      return value.value;
    case 'array':
      return ['array', value.length];
    case 'object':
      return Object.fromEntries(value.members.map(([name, member]) => [name, plain(member)]));
  }
}

function plainFromJs(value: unknown): unknown {
  if (value === null) return null;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return ['array', value.length];
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, plainFromJs(v)]),
  );
}

function jsonParses(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

t.test('the Go JSON parser accepts and reads what JSON.parse does', async () => {
  const mutated = fc
    .tuple(
      fc.json(),
      fc.nat(),
      fc.constantFrom(
        '',
        '',
        ',',
        '"',
        '{',
        '}',
        '[',
        ']',
        ':',
        '\\',
        'tru',
        '-',
        '0',
        '1e',
        '.',
        ' ',
        '\u0001',
      ),
      fc.nat({ max: 2 }),
    )
    .map(([text, at, insert, remove]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(i + remove);
    });
  fc.assert(
    fc.property(fc.oneof(fc.json(), mutated), (text) => {
      const go = parseGoJson(text);
      const js = jsonParses(text);
      if (go.ok !== js.ok) return false;
      return (
        !go.ok ||
        !js.ok ||
        JSON.stringify(plain(go.value)) === JSON.stringify(plainFromJs(js.value))
      );
    }),
    { numRuns: 2000 },
  );
});

t.test('the Go JSON parser keeps duplicate members in order', async (t) => {
  const parsed = parseGoJson('{"a":"1","A":"2","a":"3"}');
  t.same(parsed.ok && parsed.value.kind === 'object' ? parsed.value.members.map(([n]) => n) : [], [
    'a',
    'A',
    'a',
  ]);
});

t.test('unpaired surrogate escapes become U+FFFD, as in Go', async (t) => {
  const read = (json: string): unknown => {
    const parsed = parseGoJson(json);
    return parsed.ok && parsed.value.kind === 'string' ? parsed.value.value : undefined;
  };
  t.equal(read('"\\ud83d\\ude00"'), '😀');
  t.equal(read('"\\ud800"'), '\uFFFD');
  t.equal(read('"\\udc00\\ud800"'), '\uFFFD\uFFFD');
  t.equal(read('"\\ud800\\ud800\\udc00"'), '\uFFFD\u{10000}');
  t.equal(read('"\\ud800A"'), '\uFFFDA');
  t.equal(read('"\\ud800\\u0041"'), '\uFFFDA');
});

t.test('nesting is limited to 10000 levels, as in Go', async (t) => {
  t.ok(parseGoJson('['.repeat(10000) + ']'.repeat(10000)).ok);
  t.notOk(parseGoJson('['.repeat(10001) + ']'.repeat(10001)).ok);
  t.notOk(parseGoJson('['.repeat(200000)).ok, 'deep input fails without exhausting the stack');
});

t.test('Buffer-backed UTF-8 input with an offset decodes only its own bytes', async (t) => {
  const backing = Buffer.from('xx{"a":"b"}yy');
  const view = backing.subarray(2, 11);
  t.equal(decodeUtf8(view).text, '{"a":"b"}');
});

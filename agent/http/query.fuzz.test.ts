// Any query string, on any JSON endpoint, is answered 200 or 400 with a JSON body: never a 5xx,
// never a stack trace. Requests go over a raw socket so that the bytes are exactly the ones
// generated (fetch would normalise them); a target Node's parser refuses is answered by the
// server's clientError handler, which is part of the contract too.
import { connect } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { FINDINGS_PARAMETERS } from './findings-query.ts';
import { serveApp } from '../../test/kit/http/serve-app.ts';
import { FINDINGS } from '../../test/kit/http/fake-view.ts';

interface RawAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Sends `bytes` as is on a new connection and reads one answer until the server closes. */
function rawRequest(port: number, bytes: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => {
      socket.destroy(new Error('no answer within 5 s'));
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end === -1 ? text : text.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? NaN);
      const contentType = /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1] ?? '';
      let body = end === -1 ? '' : text.slice(end + 4);
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) body = unchunk(body);
      resolve({ status, contentType, body: Buffer.from(body, 'latin1').toString('utf8') });
    });
    socket.end(bytes);
  });
}

function unchunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 4 + size);
  }
}

function get(target: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from('GET '),
    target,
    Buffer.from(' HTTP/1.1\r\nHost: pullwatch\r\nConnection: close\r\n\r\n'),
  ]);
}

const KNOWN_VALUES = [
  'critical',
  'high',
  'low',
  'confirmed',
  'possible',
  'unauthorized-cached-image-use',
  'team-b',
  'team-a',
];

const percentEscape = fc
  .tuple(fc.constantFrom('%', '%%', '%2', '%zz', '%E0%A4%A', '%C0%80', '%00', '%FF', '%26', '%3D'))
  .map(([e]) => e);
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
  fc.constantFrom(...KNOWN_VALUES, ...FINDINGS_PARAMETERS, '', '=', '&', '+', '?', '#', '[]'),
  percentEscape,
);
const name = fc.oneof(fc.constantFrom(...FINDINGS_PARAMETERS), text);
const pair = fc
  .tuple(name, fc.constantFrom('=', '', '=='), fc.oneof(fc.constantFrom(...KNOWN_VALUES), text))
  .map(([n, eq, v]) => `${n}${eq}${v}`);
/** Every byte outside the unreserved set as %XX: any text on a valid request line. */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) =>
      /[\w.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const encodedPair = fc
  .tuple(name, fc.oneof(fc.constantFrom(...KNOWN_VALUES), text))
  .map(([n, v]) => `${percentEncode(n)}=${percentEncode(v)}`);
/** Query strings as text (sent as UTF-8) or as raw bytes; most of them valid on the wire. */
const query: fc.Arbitrary<Buffer> = fc.oneof(
  {
    arbitrary: fc.array(encodedPair, { maxLength: 6 }).map((p) => Buffer.from(p.join('&'))),
    weight: 3,
  },
  fc
    .array(pair, { maxLength: 6 })
    .chain((pairs) => fc.constantFrom(pairs.join('&'), pairs.join(';'), pairs.join('&&')))
    .map((q) => Buffer.from(q, 'utf8')),
  fc.string({ unit: 'binary', maxLength: 60 }).map((q) => Buffer.from(q, 'utf8')),
  fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes)),
);

const ENDPOINTS = [
  '/api/v1/findings',
  `/api/v1/findings/${FINDINGS[0]?.id ?? 'f-unauthorized-b'}`,
  '/api/v1/images',
  '/api/v1/status',
  '/openapi.json',
];

function isJsonError(answer: RawAnswer): boolean {
  try {
    const body = JSON.parse(answer.body) as { error?: unknown };
    return typeof body.error === 'string' && body.error !== '';
  } catch {
    return false;
  }
}

t.test('any query string gives 200 or 400 JSON, never 5xx', async (t) => {
  const app = await serveApp(t);
  const port = Number(new URL(app.base).port);
  const seen = { ok: 0, parameterError: 0, malformed: 0 };
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ENDPOINTS), query, async (path, q) => {
      const answer = await rawRequest(port, get(Buffer.concat([Buffer.from(`${path}?`), q])));
      if (answer.status === 200) seen.ok++;
      else if (answer.body.includes('"parameter"')) seen.parameterError++;
      else seen.malformed++;
      if (answer.status !== 200 && answer.status !== 400) {
        throw new Error(`${path}?${q.toString('latin1')} answered ${answer.status}`);
      }
      if (!answer.contentType.startsWith('application/json')) {
        throw new Error(`answered ${answer.contentType}, not JSON`);
      }
      JSON.parse(answer.body);
      if (answer.status === 400 && !isJsonError(answer)) throw new Error('400 without {error}');
    }),
    { numRuns: 400 },
  );
  const failures = app.log.lines.filter((l) => l.includes('request failed'));
  t.same(failures, [], 'no request reached the 500 handler');
  // The generator reaches all three outcomes, so the property is not vacuous.
  t.ok(seen.ok > 0 && seen.parameterError > 0 && seen.malformed > 0, JSON.stringify(seen));
});

t.test('any finding id in the path gives 200, 400 or 404 JSON, never 5xx', async (t) => {
  const app = await serveApp(t);
  const port = Number(new URL(app.base).port);
  const id = fc.oneof(
    fc.constantFrom(...FINDINGS.map((f) => f.id)),
    text.map((s) => Buffer.from(s, 'utf8').toString('latin1')),
    fc
      .array(fc.oneof(percentEscape, fc.constantFrom('a', '/', '.', '..', '%2F')), {
        maxLength: 8,
      })
      .map((parts) => parts.join('')),
  );
  await fc.assert(
    fc.asyncProperty(id, async (segment) => {
      const answer = await rawRequest(
        port,
        get(Buffer.from(`/api/v1/findings/${segment}`, 'latin1')),
      );
      if (![200, 400, 404].includes(answer.status)) {
        throw new Error(`/api/v1/findings/${segment} answered ${answer.status}`);
      }
      if (answer.status !== 200 && !isJsonError(answer)) {
        throw new Error(`${answer.status} without a JSON {error}: ${answer.body}`);
      }
    }),
    { numRuns: 300 },
  );
  t.same(
    app.log.lines.filter((l) => l.includes('request failed')),
    [],
    'no request reached the 500 handler',
  );
});

// The agent's real HTTP port (a separate `pullwatch run --auth kubernetes` process against the
// embedded API server) under hostile clients: raw TCP garbage, broken request lines, invalid
// and huge headers, slowloris connections, and thousands of requests without a usable token.
// Only 4xx answers (never a 5xx), the agent keeps serving, no TokenReview is made for a request
// without a well-formed bearer token, and its memory stays bounded. The runtime is the embedded
// one (an in-process gRPC server): nothing here needs root.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { rssBytes, sleep } from '../helpers/seed-scenario.ts';

const REVIEW_PATHS = [
  '/apis/authentication.k8s.io/v1/tokenreviews',
  '/apis/authorization.k8s.io/v1/subjectaccessreviews',
];

interface RawAnswer {
  /** Status of each answer on the connection, in order; empty when the server just closed. */
  readonly statuses: number[];
  readonly text: string;
}

/**
 * Writes `bytes` and collects everything until the server closes (or `timeoutMs` passes).
 * `halfClose` ends our side at once, as some attackers do; Node's server then drops a request
 * whose answer is still pending (it has no one left to answer), so well-behaved requests that
 * wait for a review are sent without it.
 */
function raw(
  port: number,
  bytes: Buffer | string,
  { halfClose = true, timeoutMs = 5000 }: { halfClose?: boolean; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ statuses, text });
    };
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    if (halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

const get = (path: string, headers: string[] = []): string =>
  [`GET ${path} HTTP/1.1`, 'Host: pullwatch', ...headers, 'Connection: close', '', ''].join('\r\n');

t.test(
  'hostile HTTP clients get 4xx only, cause no review, and leave the agent well',
  async (t) => {
    const dir = await makeTempDir(t, 'hostile-http');
    const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), {
      images: [
        {
          id: `sha256:${'a'.repeat(64)}`,
          repoTags: ['registry.example.com/team-a/app:1'],
          repoDigests: [],
          sizeBytes: 1000n,
          pinned: false,
        },
      ],
    });
    t.teardown(() => runtime.stop());
    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    const agent = await startAgentProcess(t, {
      dir,
      nodeName: 'node-1',
      criEndpoint: runtime.target,
      kubeconfigYaml: api.kubeconfigYaml(),
      stateDir: join(dir, 'state'),
      extraArgs: ['--auth', 'kubernetes'],
    });
    const port = Number(new URL(agent.url).port);
    const pid = agent.process.pid;
    const reviews = () => api.requestLog.filter((r) => REVIEW_PATHS.includes(r.path)).length;
    const all: number[] = [];
    const record = (answer: RawAnswer): RawAnswer => {
      all.push(...answer.statuses);
      return answer;
    };
    const rssBefore = await rssBytes(pid);

    await t.test('token-less requests: 401, and no TokenReview', async (t) => {
      const paths = ['/metrics', '/api/v1/findings', '/api/v1/images', '/', '/openapi.json', '/x'];
      const authorizations = [
        undefined,
        'Basic dXNlcjpwYXNz',
        'Bearer',
        'Bearer ',
        'bearer  ',
        'Bearer two words',
        'Bearer t\u00f8ken',
        `Bearer ${'x'.repeat(9000)}`,
        'Negotiate abc',
        'Token abc',
      ];
      const flood = async (count: number): Promise<number[]> => {
        const statuses: number[] = [];
        for (let start = 0; start < count; start += 100) {
          const batch = Array.from({ length: Math.min(100, count - start) }, async (_, i) => {
            const n = start + i;
            const authorization = authorizations[n % authorizations.length];
            const headers = authorization === undefined ? [] : [`Authorization: ${authorization}`];
            const path = `${paths[n % paths.length] ?? '/'}${n % 3 === 0 ? `?q=${n}` : ''}`;
            const answer = await raw(port, get(path, headers));
            return answer.statuses[0] ?? 0;
          });
          statuses.push(...(await Promise.all(batch)));
        }
        return statuses;
      };
      const first = await flood(2000);
      const rssAfterFirst = await rssBytes(pid);
      const second = await flood(2000);
      const rssAfterSecond = await rssBytes(pid);
      all.push(...first, ...second);
      const counts = new Map<number, number>();
      for (const s of [...first, ...second]) counts.set(s, (counts.get(s) ?? 0) + 1);
      t.same(
        [...counts.keys()],
        [401],
        `4,000 token-less requests: ${JSON.stringify([...counts])}`,
      );
      t.equal(reviews(), 0, 'not one TokenReview or SubjectAccessReview was made');
      const mib = (n: number) => Math.round(n / 1024 / 1024);
      t.comment(
        `RSS: ${mib(rssBefore)} MiB before, ${mib(rssAfterFirst)} after 2,000, ${mib(rssAfterSecond)} after 4,000`,
      );
      // The first requests warm the heap up; after that, growth must level off.
      t.ok(rssAfterSecond - rssBefore < 128 * 1024 * 1024, '4,000 requests grew RSS by < 128 MiB');
      t.ok(
        rssAfterSecond - rssAfterFirst < 48 * 1024 * 1024,
        'the second 2,000 grew RSS by < 48 MiB: nothing is kept per request',
      );
    });

    await t.test('a well-formed unknown token is reviewed once, then cached', async (t) => {
      const before = reviews();
      const token = `Bearer made-up-${randomBytes(8).toString('hex')}`;
      const request = get('/metrics', [`Authorization: ${token}`]);
      const a = record(await raw(port, request, { halfClose: false }));
      const b = record(await raw(port, request, { halfClose: false }));
      t.same([a.statuses, b.statuses], [[401], [401]]);
      t.equal(
        reviews() - before,
        1,
        'exactly one TokenReview for two requests with the same token',
      );
    });

    await t.test('malformed requests: 4xx or a closed connection, never 5xx', async (t) => {
      const malformed: Record<string, string | Buffer> = {
        'random bytes': randomBytes(512),
        'random bytes after a good request line': Buffer.concat([
          Buffer.from('GET / HTTP/1.1\r\n'),
          randomBytes(256),
        ]),
        'only CRLFs': '\r\n\r\n\r\n\r\n',
        'no version': 'GET /\r\n\r\n',
        'unknown version': 'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
        'lower-case version': 'GET / http/1.1\r\nHost: x\r\n\r\n',
        'unknown method': 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n',
        'two spaces': 'GET  / HTTP/1.1\r\nHost: x\r\n\r\n',
        'NUL in the target': 'GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n',
        'no Host on HTTP/1.1': 'GET /metrics HTTP/1.1\r\n\r\n',
        'header name with a space': 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
        'header without colon': 'GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n',
        'NUL in a header value': 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n',
        'obsolete line folding': 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n',
        'bare LF line ends': 'GET / HTTP/1.1\nHost: x\n\n',
        'negative Content-Length': 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        'two Content-Lengths':
          'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        'Content-Length and chunked':
          'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'broken chunk': 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n',
        'absolute-form target': 'GET http://evil.example/metrics HTTP/1.1\r\nHost: x\r\n\r\n',
        'asterisk target': 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
        CONNECT: 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n',
        'upgrade to websocket':
          'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
        'path traversal': 'GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n',
        'malformed escape in the path': 'GET /api/v1/findings/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n',
        'a 64 KiB target': `GET /${'a'.repeat(64 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        'a 17 KiB header': `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`,
        '3,000 small headers': `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(3000)}\r\n`,
        'a 64 KiB Authorization': `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'t'.repeat(64 * 1024)}\r\n\r\n`,
        'a body on GET': 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
        '100 pipelined requests': `GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(100),
        'a DELETE': 'DELETE /api/v1/findings HTTP/1.1\r\nHost: x\r\n\r\n',
      };
      for (const [name, bytes] of Object.entries(malformed)) {
        const answer = record(await raw(port, bytes));
        const bad = answer.statuses.filter((s) => s < 400 || s >= 500);
        t.same(
          bad,
          [],
          `${name}: ${answer.statuses.length === 0 ? 'closed' : [...new Set(answer.statuses)].join(', ')}`,
        );
      }
      const huge = await raw(port, malformed['a 17 KiB header'] ?? '');
      t.same(huge.statuses, [431], 'headers over 16 KiB: 431');
      t.match(huge.text, /"error":"request headers too large"/, 'with a JSON error body');
      t.equal(reviews(), 1, 'still no review beyond the one well-formed token');
    });

    await t.test('slowloris: trickled headers do not starve other clients', async (t) => {
      const sockets: Socket[] = [];
      for (let i = 0; i < 100; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow-${i}: `);
        sockets.push(socket);
      }
      const latencies: number[] = [];
      const trickleUntil = Date.now() + 4000;
      while (Date.now() < trickleUntil) {
        for (const socket of sockets) if (!socket.destroyed) socket.write('a');
        const started = Date.now();
        const live = await raw(port, get('/livez'));
        const metrics = record(await raw(port, get('/metrics')));
        latencies.push(Date.now() - started);
        if (live.statuses[0] !== 200 || metrics.statuses[0] !== 401) {
          t.fail('a normal client was not served while slow clients trickled', {
            live: live.statuses,
            metrics: metrics.statuses,
          });
          break;
        }
        await sleep(200);
      }
      const worst = Math.max(...latencies);
      t.ok(worst < 1000, `other clients were served within ${worst} ms throughout`);
      for (const socket of sockets) socket.destroy();
    });

    t.notOk(agent.process.hasExited(), 'the agent is still running');
    t.same(
      all.filter((s) => s >= 500),
      [],
      `not one 5xx among ${all.length} answers`,
    );
    const log = await readFile(agent.process.logPath, 'utf8');
    t.notMatch(log, /"msg":"request failed"/, 'no request reached the 500 handler');
    t.notMatch(log, /"level":"fatal"/, 'nothing fatal was logged');
    t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
  },
);

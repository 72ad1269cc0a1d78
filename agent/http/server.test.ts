// The listening side: addresses, graceful stop, refusals Node makes itself, and TLS with
// certificate reload.
import { rename, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, RequestListener } from 'node:http';
import { Agent, request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { selfSignedCertificate, tlsSkipReason } from '../../test/helpers/tls.ts';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import type { HttpServerOptions, RunningHttpServer } from './server.ts';
import { parseListenAddress, startHttpServer } from './server.ts';
import { capturedLogger } from '../../test/kit/http/serve-app.ts';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function get(address: string, path: string, agent: Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { agent }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the error code of a refused TCP connection, or 'connected'. */
function tryConnect(address: string): Promise<string> {
  const { host, port } = hostPort(address);
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: Error & { code?: string }) => {
      resolve(e.code ?? e.message);
    });
  });
}

function hostPort(address: string): { host: string; port: number } {
  const parsed = parseListenAddress(address);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** An app whose /slow answers only when the test says so. */
function gatedApp(): { app: RequestListener; arrived: Promise<void>; release: () => void } {
  let release = (): void => undefined;
  let arrive = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const app: RequestListener = (req, res) => {
    if (req.url === '/slow') {
      arrive();
      void gate.then(() => res.end('done'));
    } else {
      res.end('fast');
    }
  };
  return { app, arrived, release };
}

async function start(
  t: Test,
  app: RequestListener,
  extra: Partial<HttpServerOptions> = {},
): Promise<RunningHttpServer> {
  const server = await startHttpServer({ app, listen: '127.0.0.1:0', ...extra });
  t.teardown(() => server.stop());
  return server;
}

t.test('listen addresses', async (t) => {
  const cases: [string, { host: string; port: number } | RegExp][] = [
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    [':9090', { host: '', port: 9090 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['[::]:8443', { host: '::', port: 8443 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['8080', /needs a port/],
    ['::1:8080', /IPv6 address in brackets/],
    ['127.0.0.1:65536', /port must be a number/],
    ['127.0.0.1:http', /port must be a number/],
    ['127.0.0.1:', /port must be a number/],
    ['127.0.0.1:-1', /port must be a number/],
  ];
  for (const [text, want] of cases) {
    const parsed = parseListenAddress(text);
    if (want instanceof RegExp) t.match(parsed, { ok: false, error: want }, text);
    else t.same(parsed, { ok: true, value: want }, text);
  }
});

t.test('port 0 picks a free port, reported in the address', async (t) => {
  const server = await start(t, (_req, res) => res.end('hi'));
  t.match(server.address, /^127\.0\.0\.1:[1-9]\d*$/);
  t.equal(server.protocol, 'http');
  t.equal((await get(server.address, '/')).body, 'hi');
});

t.test('an address already in use fails the start', async (t) => {
  const first = await start(t, (_req, res) => res.end());
  await t.rejects(startHttpServer({ app: (_req, res) => res.end(), listen: first.address }), {
    code: 'EADDRINUSE',
  });
});

t.test('a malformed listen address fails the start', async (t) => {
  await t.rejects(startHttpServer({ app: (_req, res) => res.end(), listen: 'nowhere' }), {
    message: /needs a port/,
  });
});

t.test('stop: an in-flight slow request completes while new connections are refused', async (t) => {
  const { app, arrived, release } = gatedApp();
  const server = await startHttpServer({ app, listen: '127.0.0.1:0' });
  const slow = get(server.address, '/slow');
  await arrived;
  let stoppedYet = false;
  const stopped = server.stop().then(() => (stoppedYet = true));
  t.equal(await tryConnect(server.address), 'ECONNREFUSED', 'the port no longer accepts');
  t.equal(stoppedYet, false, 'stop() waits for the request in flight');
  release();
  const reply = await slow;
  t.equal(reply.status, 200);
  t.equal(reply.body, 'done');
  t.equal(reply.headers.connection, 'close', 'the client is told the connection ends');
  await stopped;
  t.equal(stoppedYet, true);
  await server.stop();
  t.pass('stop() is idempotent');
});

t.test('stop does not wait for idle keep-alive connections', async (t) => {
  const server = await startHttpServer({
    app: (_req, res) => {
      res.end('x');
    },
    listen: '127.0.0.1:0',
  });
  const agent = new Agent({ keepAlive: true });
  t.teardown(() => {
    agent.destroy();
  });
  await get(server.address, '/', agent);
  const started = Date.now();
  await server.stop();
  t.ok(Date.now() - started < 1_000, 'closed at once, not after the keep-alive timeout');
});

t.test('stop cuts requests still running after the drain timeout', async (t) => {
  const log = capturedLogger();
  const server = await startHttpServer({
    app: () => undefined, // never answers
    listen: '127.0.0.1:0',
    drainTimeoutMs: 100,
    logger: log.logger,
  });
  const hanging = get(server.address, '/');
  await new Promise((resolve) => setTimeout(resolve, 50));
  await server.stop();
  await t.rejects(hanging, { code: 'ECONNRESET' });
  t.ok(log.lines.some((l) => l.includes('requests still running at shutdown')));
});

t.test('headers too large get a JSON 431 from the server itself', async (t) => {
  const server = await start(t, (_req, res) => res.end());
  const response = await fetch(`http://${server.address}/`, {
    headers: { 'X-Big': 'a'.repeat(20_000) },
  });
  t.equal(response.status, 431);
  t.same(await response.json(), { error: 'request headers too large' });
});

/** The CN of the certificate the server presents now. */
function servedName(address: string): Promise<string> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host, port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn.join(',') : String(cn));
    });
    socket.once('error', reject);
  });
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

const skipTls = await tlsSkipReason();

t.test('TLS: the certificate is reloaded when its files change', { skip: skipTls }, async (t) => {
  const dir = await makeTempDir(t, 'http-tls');
  const first = await selfSignedCertificate(dir, 'first');
  const second = await selfSignedCertificate(dir, 'second');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await rename(first.cert, certFile);
  await rename(first.key, keyFile);
  const log = capturedLogger();
  const server = await start(t, (_req, res) => res.end('secure'), {
    tls: { certFile, keyFile, reloadIntervalMs: 50 },
    logger: log.logger,
  });
  t.equal(server.protocol, 'https');
  t.equal(await servedName(server.address), 'first');

  // A renewal that writes the certificate before the key: in between, the pair disagrees.
  await rename(second.cert, certFile);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await servedName(server.address), 'first', 'a mismatched pair is not loaded');
  t.ok(log.lines.some((l) => l.includes('TLS certificate not reloaded')));
  await rename(second.key, keyFile);
  t.ok(
    await eventually(async () => (await servedName(server.address)) === 'second'),
    'the new certificate is served once both files are in place',
  );
  t.ok(log.lines.some((l) => l.includes('TLS certificate reloaded') && l.includes('CN=second')));
});

t.test('TLS: files that cannot be read fail the start', { skip: skipTls }, async (t) => {
  const dir = await makeTempDir(t, 'http-tls-missing');
  await writeFile(join(dir, 'tls.crt'), 'not a certificate');
  await t.rejects(
    startHttpServer({
      app: (_req, res) => res.end(),
      listen: '127.0.0.1:0',
      tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'missing.key') },
    }),
    { code: 'ENOENT' },
  );
});

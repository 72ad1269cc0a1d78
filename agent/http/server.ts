// Serves the app on one address, over plain HTTP or TLS. The certificate is reloaded when its
// files change (a cert-manager renewal rewrites the mounted Secret), and stop() drains: the
// listening socket closes at once, requests in flight finish, then the connections close.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import type { RequestListener, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { http } from '../node-http.ts';
import type { Logger } from 'pino';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are checked for changes (default 5000 ms). */
  readonly reloadIntervalMs?: number;
}

/** A certificate held in memory (made or read by the program itself): replaced by the program. */
export interface TlsPems {
  readonly cert: string;
  readonly key: string;
}

export interface HttpServerOptions {
  /** An express app or any Node request listener. */
  readonly app: RequestListener;
  /** `host:port`, `[ipv6]:port`, or `:port` for every interface; port 0 picks a free one. */
  readonly listen: string;
  readonly tls?: TlsFiles | TlsPems;
  readonly logger?: Logger;
  /** How long stop() lets requests in flight finish before cutting them (default 10 s). */
  readonly drainTimeoutMs?: number;
  /** Told each time a new certificate is served, or refused (the old one kept), for a metric. */
  readonly onCertificateReload?: (result: CertificateReload) => void;
}

export type CertificateReload = 'reloaded' | 'rejected';

export interface RunningHttpServer {
  /** The address listened on, with the real port: `127.0.0.1:43817`, `[::1]:8443`. */
  readonly address: string;
  readonly protocol: 'http' | 'https';
  /**
   * Serves `pair` to new connections from now on, if it is a valid pair; otherwise keeps the
   * certificate served now and says why.
   */
  replaceCertificate(pair: TlsPems): Promise<Result<void, string>>;
  /** Stops accepting, lets requests in flight finish, then closes. Idempotent. */
  stop(): Promise<void>;
}

export interface ListenAddress {
  /** '' for every interface. */
  readonly host: string;
  readonly port: number;
}

export function parseListenAddress(text: string): Result<ListenAddress, string> {
  const colon = text.lastIndexOf(':');
  if (colon === -1) return err(`listen address "${text}" needs a port (host:port or :port)`);
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else if (host.includes(':')) {
    return err(`listen address "${text}": write an IPv6 address in brackets, e.g. [::1]:9090`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    return err(`listen address "${text}": port must be a number from 0 to 65535`);
  }
  return ok({ host, port: Number(portText) });
}

function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}

interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads both files and checks that the key belongs to the certificate. */
async function readKeyPair(tls: TlsFiles | TlsPems): Promise<KeyPair> {
  const [cert, key] =
    'cert' in tls
      ? [Buffer.from(tls.cert), Buffer.from(tls.key)]
      : await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)]);
  createSecureContext({ cert, key }); // throws on a mismatched or unparsable pair
  return { cert, key };
}

function describeCertificate(cert: Buffer): { subject: string; validTo: string } {
  try {
    const x509 = new X509Certificate(cert);
    return { subject: x509.subject.replaceAll('\n', ', '), validTo: x509.validTo };
  } catch {
    return { subject: 'unparsable', validTo: 'unknown' };
  }
}

/**
 * Requests Node refuses before the app sees them (headers over 16 KiB, malformed HTTP) get a
 * JSON error like every other refusal instead of Node's bare status line.
 */
function answerClientError(e: Error & { code?: string }, socket: Socket): void {
  if (e.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({
    error: status === 431 ? 'request headers too large' : 'malformed HTTP request',
  });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function listenOn(server: Server, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      reject(e);
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      const bound = server.address();
      if (bound === null || typeof bound === 'string') {
        reject(new Error('the HTTP server has no TCP address'));
        return;
      }
      resolve(bound);
    };
    if (address.host === '') server.listen({ port: address.port }, done);
    else server.listen({ host: address.host, port: address.port }, done);
  });
}

type SecureServer = Server & { setSecureContext(options: KeyPair): void };

/**
 * Swaps the served pair, one swap at a time, never to a pair that does not hold together: a
 * renewal caught halfway (the certificate written, not yet the key) keeps the old pair.
 */
function certificateSwapper(
  server: SecureServer,
  logger: Logger | undefined,
  onReload: ((result: CertificateReload) => void) | undefined,
): (source: TlsFiles | TlsPems) => Promise<Result<void, string>> {
  let queue: Promise<unknown> = Promise.resolve();
  return (source) => {
    const swapped = queue.then(async (): Promise<Result<void, string>> => {
      try {
        const pair = await readKeyPair(source);
        server.setSecureContext(pair);
        logger?.info(describeCertificate(pair.cert), 'TLS certificate reloaded');
        onReload?.('reloaded');
        return ok(undefined);
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        logger?.warn(
          { error, ...('certFile' in source ? { certFile: source.certFile } : {}) },
          'TLS certificate not reloaded; keeping the previous one',
        );
        onReload?.('rejected');
        return err(error);
      }
    });
    queue = swapped;
    return swapped;
  };
}

/** Watches the certificate files and swaps the server's context when they change. */
function watchCertificate(tls: TlsFiles, swap: (source: TlsFiles) => Promise<unknown>): () => void {
  const interval = tls.reloadIntervalMs ?? 5_000;
  // A renewal touching both files reloads twice, which is harmless; mid-renewal the pair
  // disagrees and the old one stays until the second file's change.
  const reload = (): void => {
    void swap(tls);
  };
  // Polling stat() follows the symlinks a mounted Secret is made of (..data swaps), which
  // fs.watch on the file does not.
  const options = { interval, persistent: false };
  const onChange = (current: { mtimeMs: number; ino: number }, previous: typeof current): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino) reload();
  };
  watchFile(tls.certFile, options, onChange);
  watchFile(tls.keyFile, options, onChange);
  return () => {
    unwatchFile(tls.certFile, onChange);
    unwatchFile(tls.keyFile, onChange);
  };
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const address = parseListenAddress(options.listen);
  if (!address.ok) throw new Error(address.error);
  const { logger, tls } = options;
  const drainTimeout = options.drainTimeoutMs ?? 10_000;

  let server: Server;
  let unwatch = (): void => undefined;
  let swap: ((source: TlsPems) => Promise<Result<void, string>>) | undefined;
  if (tls === undefined) {
    server = http.createServer(options.app);
  } else {
    const pair = await readKeyPair(tls);
    const httpsServer = createHttpsServer(pair, options.app);
    server = httpsServer;
    logger?.info(describeCertificate(pair.cert), 'TLS certificate loaded');
    const swapper = certificateSwapper(httpsServer, logger, options.onCertificateReload);
    swap = swapper;
    if ('certFile' in tls) unwatch = watchCertificate(tls, swapper);
  }

  server.on('clientError', answerClientError);

  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    // After stop(), a keep-alive connection still carries requests: tell each client to go.
    if (stopping) res.setHeader('Connection', 'close');
    res.on('close', () => {
      inFlight.delete(res);
      if (stopping) server.closeIdleConnections();
    });
  });

  let bound: AddressInfo;
  try {
    bound = await listenOn(server, address.value);
  } catch (e) {
    unwatch();
    throw e;
  }
  const protocol = tls === undefined ? 'http' : 'https';
  logger?.info({ address: formatAddress(bound), protocol }, 'HTTP server listening');

  let stopped: Promise<void> | undefined;
  return {
    address: formatAddress(bound),
    protocol,
    replaceCertificate: (pair) =>
      swap === undefined ? Promise.resolve(err('the server does not serve TLS')) : swap(pair),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        stopping = true;
        unwatch();
        for (const res of inFlight) {
          if (!res.headersSent) res.setHeader('Connection', 'close');
        }
        const deadline = setTimeout(() => {
          logger?.warn({ requests: inFlight.size }, 'requests still running at shutdown; cut');
          server.closeAllConnections();
        }, drainTimeout);
        deadline.unref();
        server.close(() => {
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      return stopped;
    },
  };
}

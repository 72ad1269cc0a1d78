// A plain HTTP reverse proxy in front of a real registry that counts what passes: the
// controller's registry probes go through it, so every request the registry receives is
// counted by method, by whether it carried a credential, and by the status it got.
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  /** `127.0.0.1:PORT`: the registry part of image references. */
  readonly host: string;
  /** Requests since the last reset, by `METHOD anonymous|credential -> STATUS`. */
  counts(): ReadonlyMap<string, number>;
  total(): number;
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const credential = req.headers.authorization === undefined ? 'anonymous' : 'credential';
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        const key = `${req.method ?? '?'} ${credential} -> ${answer.statusCode ?? 0}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => {
      const key = `${req.method ?? '?'} ${credential} -> proxy error`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    counts: () => counts,
    total: () => [...counts.values()].reduce((s, n) => s + n, 0),
    reset: () => {
      counts = new Map();
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

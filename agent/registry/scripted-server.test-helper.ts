// A scripted HTTP server on loopback for the registry tests: each test writes the answers a
// registry or token server would give and reads back what the client sent.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { listenOnLoopback } from '../../test/helpers/loopback-server.ts';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly accept: string | undefined;
  readonly userAgent: string | undefined;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves `handler` on 127.0.0.1 until the test ends, recording every request. */
export async function serve(
  t: Test,
  handler: Handler,
): Promise<{ readonly host: string; readonly requests: RecordedRequest[] }> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      accept: req.headers.accept,
      userAgent: req.headers['user-agent'],
    });
    handler(req, res);
  });
  const port = await listenOnLoopback(t, server);
  return { host: `127.0.0.1:${port}`, requests };
}

/**
 * A registry whose 401 asks for a token from `realm(host)`, serving manifests to
 * `Bearer good-token`; every other path is handed to `token`.
 */
export function bearerRegistry(realm: (host: string) => string, token: Handler): Handler {
  return (req, res) => {
    if (req.url?.startsWith('/v2/') === true) {
      if (req.headers.authorization === 'Bearer good-token') {
        res.writeHead(200).end();
        return;
      }
      const host = req.headers.host ?? '';
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${realm(host)}",service="test-registry"`,
        })
        .end();
      return;
    }
    token(req, res);
  };
}

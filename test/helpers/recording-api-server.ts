// A loopback "API server" for the writers' adapter tests: it answers every request with what
// the test says, records what it received (method, URL, content type, body) and counts the
// connections it accepted, behind a kubeconfig with a bearer token.
import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { listenOnLoopback } from './loopback-server.ts';
import type { TeardownHost } from './tmp.ts';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

export interface RecordingApiServer {
  readonly kubeConfig: KubeConfig;
  readonly received: Received[];
  readonly connectionsOpened: () => number;
}

export async function startRecordingApiServer(
  t: TeardownHost,
  answer: (r: Received) => { status: number; body: unknown },
): Promise<RecordingApiServer> {
  const received: Received[] = [];
  let opened = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
      };
      received.push(r);
      const { status, body: out } = answer(r);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  server.on('connection', () => (opened += 1));
  const port = await listenOnLoopback(t, server);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kubeConfig, received, connectionsOpened: () => opened };
}

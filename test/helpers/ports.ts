// A free TCP port on the loopback address.

import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1 (listen on port 0, read it,
 * close). Another process may take it before the caller binds it: callers that
 * start a server should retry with a new port when the bind fails.
 */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listening socket has no TCP address'));
        return;
      }
      const { port } = address;
      server.close((err) => {
        if (err) reject(err);
        else resolve(port);
      });
    });
  });
}

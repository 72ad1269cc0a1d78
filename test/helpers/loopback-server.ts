// Test servers listen on loopback only, on a free port, and close with the test, open
// keep-alive connections included (or tap would wait for them).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Teardown {
  teardown(fn: () => Promise<void>): void;
}

/** Listens on 127.0.0.1 and a free port, closed (connections too) when the test ends. */
export async function listenOnLoopback(t: Teardown, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}

// The benchmarks' stand-in for the API server calling a webhook: HTTP/1.1 POSTs over
// keep-alive TLS connections, one connection per request in flight (as the API server opens
// them to webhooks), each request written whole in one write and each answer read by its
// Content-Length.
//
// Why not node:https or undici: on two cores shared with the server under test, the client's
// own CPU is counted in every latency it measures. Against a webhook that only echoes the uid,
// 50 reviews at once measured p99 7.6–14 ms through node:https and through an undici Pool,
// and 2.8–3.7 ms through this client (BENCHMARKS.md says how the webhook was measured).
// The API server's Go client is closer to this one's cost than to Node's.
import { connect, type TLSSocket } from 'node:tls';

export interface LeanAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export interface LeanHttpsClient {
  /** POSTs `body` (JSON) to `path`; resolves once the whole answer has been read. */
  post(path: string, body: string): Promise<LeanAnswer>;
  close(): void;
}

interface Pending {
  resolve(answer: LeanAnswer): void;
  reject(error: Error): void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection; one request at a time. */
class Connection {
  readonly #socket: TLSSocket;
  #buffered: Buffer = Buffer.alloc(0);
  #pending: Pending | undefined;
  closed = false;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
      this.#read();
    });
    const fail = (error: Error): void => {
      this.closed = true;
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => {
      fail(new Error('the server closed the connection'));
    });
  }

  send(request: Buffer): Promise<LeanAnswer> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(request);
    });
  }

  close(): void {
    this.closed = true;
    this.#socket.destroy();
  }

  #read(): void {
    const headerEnd = this.#buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.#buffered.subarray(0, headerEnd).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    const pending = this.#pending;
    if (length === undefined || !Number.isInteger(status)) {
      this.#pending = undefined;
      pending?.reject(new Error(`an answer without a status or Content-Length: ${head}`));
      this.close();
      return;
    }
    const bodyStart = headerEnd + HEADER_END.length;
    const bodyEnd = bodyStart + Number(length);
    if (this.#buffered.length < bodyEnd) return;
    const body = this.#buffered.subarray(bodyStart, bodyEnd);
    this.#buffered = this.#buffered.subarray(bodyEnd);
    this.#pending = undefined;
    pending?.resolve({ status, body });
  }
}

/** Opens `connections` TLS connections to `url` (https://host:port), trusting `ca`. */
export async function openLeanHttpsClient(
  url: string,
  ca: Buffer,
  connections: number,
): Promise<LeanHttpsClient> {
  const { hostname, port } = new URL(url);
  const open = (): Promise<Connection> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port), ca }, () => {
        socket.off('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', reject);
    });
  const idle: Connection[] = await Promise.all(Array.from({ length: connections }, open));
  const waiting: ((connection: Connection) => void)[] = [];
  const all = new Set(idle);

  const take = async (): Promise<Connection> => {
    const free = idle.pop();
    if (free === undefined) return new Promise((resolve) => waiting.push(resolve));
    if (!free.closed) return free;
    all.delete(free);
    const fresh = await open();
    all.add(fresh);
    return fresh;
  };
  const give = (connection: Connection): void => {
    const next = waiting.shift();
    if (next !== undefined) next(connection);
    else idle.push(connection);
  };

  return {
    async post(path, body) {
      const request = Buffer.from(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      const connection = await take();
      try {
        return await connection.send(request);
      } finally {
        give(connection);
      }
    },
    close() {
      for (const connection of all) connection.close();
    },
  };
}

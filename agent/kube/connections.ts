// One keep-alive connection pool per API server for every request the agent makes to it.
// Without one, each secret GET and event query opened its own connection (and TLS handshake)
// and left the idle socket open until the server closed it: 10,000 pod events held 3,370
// sockets and +87 MiB of heap for half a minute (BENCHMARKS.md, sections 3 and 5).
//
// The pool holds no credentials: TLS material and the bearer token are applied to each request
// by the kubeconfig (kube-http.ts). Node's agent keys its sockets by those TLS options, so a
// rotated client certificate gets new connections and the old ones idle out.
import type { Agent, AgentOptions } from 'node:http';
import https from 'node:https';
import { http } from '../node-http.ts';

export interface ApiServerConnectionsOptions {
  /** Sockets open at once per API server, watches included; more requests wait (default 16). */
  readonly maxSockets?: number;
  /** An idle socket is closed after this long (default 15 s, below common server timeouts). */
  readonly idleTimeoutMs?: number;
}

export class ApiServerConnections {
  readonly #maxSockets: number;
  readonly #idleTimeoutMs: number;
  readonly #agents = new Map<string, Agent>();
  #closed = false;

  constructor(options: ApiServerConnectionsOptions = {}) {
    this.#maxSockets = options.maxSockets ?? 16;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 15_000;
    if (!Number.isInteger(this.#maxSockets) || this.#maxSockets < 1) {
      throw new RangeError(`maxSockets must be a positive integer, got ${this.#maxSockets}`);
    }
  }

  /** After close(): no agent is handed out any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The agent for the server `url` belongs to (scheme, host and port); none once closed. */
  agentFor(url: URL): Agent | undefined {
    if (this.#closed) return undefined;
    const origin = url.origin;
    let agent = this.#agents.get(origin);
    if (agent === undefined) {
      const options: AgentOptions = {
        keepAlive: true,
        maxSockets: this.#maxSockets,
        maxTotalSockets: this.#maxSockets,
        maxFreeSockets: this.#maxSockets,
        // The most recently used socket first: a quiet agent keeps few sockets warm and lets
        // the rest reach the idle timeout.
        scheduling: 'lifo',
        // Node closes a free socket after this; on a busy one it only emits 'timeout', which
        // our requests do not act on (they have their own deadlines).
        timeout: this.#idleTimeoutMs,
      };
      agent = url.protocol === 'http:' ? new http.Agent(options) : new https.Agent(options);
      this.#agents.set(origin, agent);
    }
    return agent;
  }

  /** Sockets open now (busy and idle), over all servers. */
  openSockets(): number {
    let count = 0;
    for (const agent of this.#agents.values()) {
      for (const list of [agent.sockets, agent.freeSockets]) {
        for (const sockets of Object.values(list)) count += sockets?.length ?? 0;
      }
    }
    return count;
  }

  /** Closes every socket; for after the last request has ended. */
  close(): void {
    this.#closed = true;
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

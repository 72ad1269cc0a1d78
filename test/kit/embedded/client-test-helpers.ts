// What the embedded API server's tests share: a server per test, client-node pointed at it,
// and the Status body of a refused call.

import { ApiException, KubeConfig } from '@kubernetes/client-node';
import type { EmbeddedApiServer, EmbeddedApiServerOptions } from './kube-apiserver.ts';
import { startEmbeddedApiServer } from './kube-apiserver.ts';

/** What a helper needs of a tap test. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function serve(
  t: Teardown,
  options: EmbeddedApiServerOptions = {},
): Promise<EmbeddedApiServer> {
  const server = await startEmbeddedApiServer(options);
  t.teardown(() => server.stop());
  return server;
}

export function kubeConfigOf(server: EmbeddedApiServer, token?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(server.kubeconfig(token === undefined ? {} : { token }));
  return kc;
}

export interface StatusBody {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

/** Parses the Status body client-node hands back in an ApiException. */
export function statusOf(e: unknown): StatusBody {
  if (!(e instanceof ApiException)) throw e;
  const body: unknown = (e as ApiException<unknown>).body;
  return (typeof body === 'string' ? JSON.parse(body) : body) as StatusBody;
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

/** The Status of a call that must fail. */
export async function refusal(promise: Promise<unknown>): Promise<StatusBody> {
  return statusOf(await rejection(promise));
}

export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

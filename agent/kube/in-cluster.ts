// The API server as a pod sees it, the way client-go's rest.InClusterConfig does: the address
// from KUBERNETES_SERVICE_HOST/PORT (always HTTPS), the service account's token and the cluster
// CA from the files the kubelet mounts. The kubelet rotates a projected token well before it
// expires, so the token is read again once it is a minute old (client-go's cachedFileTokenSource
// and client-node's FileAuth do the same); the CA is read with it, so a rotated root CA is
// picked up too. A failed re-read keeps the last good pair rather than sending no credential.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { err, ok, type Result } from '../result.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { isHeaderList } from './kube-http.ts';

/** Where the kubelet mounts a pod's service account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** client-go's period for re-reading a token file. */
export const TOKEN_REREAD_MS = 60_000;

interface Credentials {
  readonly token: string;
  readonly ca: Buffer;
  readonly readAt: number;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function serverOf(host: string, port: string): string {
  return `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

export interface InClusterOptions {
  /** Milliseconds since the epoch; tests move it to see the token re-read. */
  readonly now?: () => number;
}

export function inClusterAccess(
  env: NodeJS.ProcessEnv,
  dir: string,
  options: InClusterOptions = {},
): Result<ClusterAccess, string> {
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '';
  if (host === '' || port === '') {
    return err(
      'in-cluster access needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set in every pod); outside a pod, give --kubeconfig',
    );
  }
  const now = options.now ?? Date.now;
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  let current: Credentials;
  try {
    current = {
      token: readFileSync(tokenFile, 'utf8').trim(),
      ca: readFileSync(caFile),
      readAt: now(),
    };
  } catch (e) {
    return err(
      `reading the service account's credentials in ${dir} (token, ca.crt) failed: ${messageOf(e)}`,
    );
  }
  let rereading: Promise<void> | undefined;
  const reread = async (): Promise<void> => {
    try {
      const [token, ca] = await Promise.all([readFile(tokenFile, 'utf8'), readFile(caFile)]);
      current = { token: token.trim(), ca, readAt: now() };
    } catch {
      // Keep the last good pair and try again on the next request after the period.
      current = { ...current, readAt: now() };
    }
  };
  const server = serverOf(host, port);
  return ok({
    getCurrentCluster: () => ({ server }),
    async applyToHTTPSOptions(request: https.RequestOptions): Promise<void> {
      if (now() - current.readAt >= TOKEN_REREAD_MS) {
        rereading ??= reread().finally(() => {
          rereading = undefined;
        });
        await rereading;
      }
      request.ca = current.ca;
      const authorization = `Bearer ${current.token}`;
      const headers = request.headers;
      // Node takes headers as an object or as a flat [name, value, ...] list.
      request.headers =
        headers !== undefined && isHeaderList(headers)
          ? [...headers, 'Authorization', authorization]
          : { ...headers, Authorization: authorization };
    },
  });
}

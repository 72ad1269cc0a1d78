// The cluster-wide fingerprint key: one Secret in pullwatch's namespace, created by whichever
// controller replica starts first. Two replicas racing both try to create it; the API server
// lets one win (409 AlreadyExists for the other), and both then use the winner's key, so every
// fingerprint in the cluster is made with the same key and comparable across nodes.
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { createFingerprintKey, type FingerprintKey } from '../credentials/credential-identity.ts';
import { getJson, postReview } from '../kube/kube-http.ts';
import { err, type Result } from '../result.ts';

export const FINGERPRINT_KEY_FIELD = 'key';

export interface FingerprintKeySecret {
  readonly namespace: string;
  readonly name: string;
}

function keyFrom(secret: unknown, where: string): Result<FingerprintKey, string> {
  const data = (secret as { data?: Record<string, unknown> } | null)?.data;
  const encoded = data?.[FINGERPRINT_KEY_FIELD];
  if (typeof encoded !== 'string')
    return err(`secret ${where} has no data.${FINGERPRINT_KEY_FIELD}`);
  return createFingerprintKey(Buffer.from(encoded, 'base64'));
}

/** The key in the Secret, created (32 random bytes) when it does not exist yet. */
export async function loadOrCreateClusterKey(
  kubeConfig: KubeConfig,
  secret: FingerprintKeySecret,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<Result<FingerprintKey, string>> {
  const where = `${secret.namespace}/${secret.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(secret.namespace)}/secrets`;
  const request = {
    timeoutMs: options.timeoutMs ?? 10_000,
    signal: options.signal ?? new AbortController().signal,
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const existing = await getJson(
      kubeConfig,
      `${path}/${encodeURIComponent(secret.name)}`,
      {},
      request,
    );
    if (existing.ok) return keyFrom(existing.value, where);
    if (existing.error.kind !== 'http' || existing.error.status !== 404)
      return err(`reading the fingerprint key secret ${where} failed: ${existing.error.message}`);
    const created = await postReview(
      kubeConfig,
      path,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: secret.name,
          namespace: secret.namespace,
          labels: {
            'app.kubernetes.io/name': 'pullwatch-controller',
            'app.kubernetes.io/component': 'controller',
          },
        },
        type: 'Opaque',
        data: { [FINGERPRINT_KEY_FIELD]: randomBytes(32).toString('base64') },
      },
      { timeoutMs: request.timeoutMs },
    );
    if (created.ok) return keyFrom(created.value, where);
    // Another replica created it first: read theirs.
    if (created.error.kind === 'http' && created.error.status === 409) continue;
    return err(`creating the fingerprint key secret ${where} failed: ${created.error.message}`);
  }
  return err(`the fingerprint key secret ${where} could not be read or created`);
}

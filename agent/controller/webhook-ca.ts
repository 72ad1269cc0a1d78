// Keeps the caBundle of pullwatch's MutatingWebhookConfiguration equal to the CA of the
// serving certificate the controller made itself, as it keeps the agents' CA ConfigMap
// (serving-certificate.ts publishCaBundle): without it the API server cannot verify the
// webhook, and with failurePolicy Ignore would admit every pod unchanged, silently. Only the
// webhooks that call this controller's Service are changed. With cert-manager, cainjector
// writes the same CA; with certificate files, the operator sets caBundle.
import type { KubeConfig } from '@kubernetes/client-node';
import { getJson, putJson } from '../kube/kube-http.ts';
import { err, ok, type Result } from '../result.ts';

const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

interface Webhook {
  clientConfig?: {
    caBundle?: string;
    service?: { namespace?: string; name?: string };
  };
}

/** `changed`: written now; `current`: already right; `absent`: not installed (404). */
export type CaBundleOutcome = 'changed' | 'current' | 'absent';

export async function keepWebhookCaBundle(
  kubeConfig: KubeConfig,
  ref: { readonly name: string; readonly service: { namespace: string; name: string } },
  caPem: string,
  timeoutMs = 10_000,
): Promise<Result<CaBundleOutcome, string>> {
  const path = `${PATH}/${encodeURIComponent(ref.name)}`;
  const signal = new AbortController().signal;
  const existing = await getJson(kubeConfig, path, {}, { timeoutMs, signal });
  if (!existing.ok) {
    if (existing.error.kind === 'http' && existing.error.status === 404) return ok('absent');
    return err(
      `reading MutatingWebhookConfiguration ${ref.name} failed: ${existing.error.message}`,
    );
  }
  const current = existing.value as { webhooks?: Webhook[] };
  const caBundle = Buffer.from(caPem).toString('base64');
  let changed = false;
  const webhooks = (current.webhooks ?? []).map((w) => {
    const service = w.clientConfig?.service;
    if (service?.namespace !== ref.service.namespace || service.name !== ref.service.name) return w;
    if (w.clientConfig?.caBundle === caBundle) return w;
    changed = true;
    return { ...w, clientConfig: { ...w.clientConfig, caBundle } };
  });
  if (!changed) return ok('current');
  const updated = await putJson(kubeConfig, path, { ...current, webhooks }, { timeoutMs });
  // 409: another replica wrote it since we read it; it writes the same CA.
  return updated.ok || (updated.error.kind === 'http' && updated.error.status === 409)
    ? ok('changed')
    : err(`updating MutatingWebhookConfiguration ${ref.name} failed: ${updated.error.message}`);
}

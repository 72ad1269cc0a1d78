// The webhook's caBundle kept equal to the CA the controller publishes, against the in-process
// API server holding the MutatingWebhookConfiguration the manifests install.
import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { parse } from 'yaml';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { keepWebhookCaBundle } from './webhook-ca.ts';

const KIND = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
const NAME = 'pullwatch-controller';
const SERVICE = { namespace: 'pullwatch', name: 'pullwatch-controller' };
const PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${NAME}`;
const CA_1 = '-----BEGIN CERTIFICATE-----\nfirst\n-----END CERTIFICATE-----\n';
const CA_2 = '-----BEGIN CERTIFICATE-----\nsecond\n-----END CERTIFICATE-----\n';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

const manifest = parse(
  await readFile(new URL('../../manifests/base/controller-webhook.yaml', import.meta.url), 'utf8'),
) as { metadata: { name: string }; webhooks: Record<string, unknown>[] };

/** The manifest's webhook and one calling another Service, which must be left alone. */
const installed = {
  ...manifest,
  webhooks: [
    ...manifest.webhooks,
    {
      ...manifest.webhooks[0],
      name: 'someone-else.example.com',
      clientConfig: {
        service: { namespace: 'other', name: 'other-webhook' },
        caBundle: b64('theirs'),
      },
    },
  ],
};

t.test("the webhook's caBundle follows the published CA", async (t) => {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  const keep = (ca: string) => keepWebhookCaBundle(kc, { name: NAME, service: SERVICE }, ca);
  const bundles = (): unknown[] => {
    const stored = api.store.get(KIND, { name: NAME });
    if (!stored.ok) throw new Error(stored.error.message);
    return (stored.value['webhooks'] as { clientConfig: { caBundle?: string } }[]).map(
      (w) => w.clientConfig.caBundle,
    );
  };
  const writes = (): number =>
    api.requestLog.filter((r) => r.method === 'PUT' && r.path === PATH).length;

  const steps: readonly {
    name: string;
    before?: () => void;
    ca: string;
    outcome: RegExp | string;
    bundles?: unknown[];
    writes?: number;
  }[] = [
    { name: 'not installed: absent, nothing written', ca: CA_1, outcome: 'absent', writes: 0 },
    {
      name: "installed without a caBundle: set to the CA, the other Service's kept",
      before: () => {
        const created = api.store.create(KIND, installed);
        if (!created.ok) throw new Error(created.error.message);
      },
      ca: CA_1,
      outcome: 'changed',
      bundles: [b64(CA_1), b64('theirs')],
      writes: 1,
    },
    {
      name: 'asked again with the same CA: current, nothing written',
      ca: CA_1,
      outcome: 'current',
      writes: 1,
    },
    {
      name: 'a rotated CA: written',
      ca: CA_2,
      outcome: 'changed',
      bundles: [b64(CA_2), b64('theirs')],
      writes: 2,
    },
    {
      name: 'reset by an apply: written back',
      before: () => {
        api.store.modify(KIND, { name: NAME }, () => installed);
      },
      ca: CA_2,
      outcome: 'changed',
      bundles: [b64(CA_2), b64('theirs')],
      writes: 3,
    },
    {
      name: 'another replica wrote it first (409): changed',
      before: () => {
        api.store.modify(KIND, { name: NAME }, () => installed);
        api.faults.failNext(PATH, 409, { method: 'PUT' });
      },
      ca: CA_2,
      outcome: 'changed',
      writes: 4,
    },
    {
      name: 'the read fails: an error naming the configuration',
      before: () => {
        api.faults.failNext(PATH, 500, { method: 'GET' });
      },
      ca: CA_2,
      outcome: /reading MutatingWebhookConfiguration pullwatch-controller failed/,
    },
    {
      name: 'the write is forbidden: an error naming the configuration',
      before: () => {
        api.faults.failNext(PATH, 403, { method: 'PUT' });
      },
      ca: CA_1,
      outcome: /updating MutatingWebhookConfiguration pullwatch-controller failed/,
    },
  ];
  for (const step of steps) {
    step.before?.();
    const kept = await keep(step.ca);
    const outcome = kept.ok ? kept.value : kept.error;
    if (typeof step.outcome === 'string') t.equal(outcome, step.outcome, step.name);
    else t.match(outcome, step.outcome, step.name);
    if (step.bundles) t.same(bundles(), step.bundles, `${step.name}: the stored caBundles`);
    if (step.writes !== undefined) t.equal(writes(), step.writes, `${step.name}: writes`);
  }
});

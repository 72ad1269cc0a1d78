// The admission webhook as `kubectl apply -k manifests/` installs it: rendered with the real
// kubectl, checked against the Kubernetes schema (kubernetes-models), and its matchConditions
// CEL evaluated on pods with @marcbachmann/cel-js (standard CEL, which this expression keeps
// to): the API server calls the webhook only for pods with a container that may start from
// the node's cache.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { evaluate } from '@marcbachmann/cel-js';
import t from 'tap';
import YAML from 'yaml';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import type { IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { ADMISSION_PATH } from '../../agent/controller/admission-webhook.ts';
import { findTool, requireTools } from '../helpers/real-parts.ts';

const exec = promisify(execFile);

async function render(dir: string): Promise<Record<string, unknown>[]> {
  const kubectl = findTool('kubectl') ?? 'kubectl';
  const { stdout } = await exec(kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
  return YAML.parseAllDocuments(stdout).map((d) => d.toJSON() as Record<string, unknown>);
}

function webhookOf(objects: Record<string, unknown>[]): IMutatingWebhookConfiguration {
  const found = objects.find((o) => o['kind'] === 'MutatingWebhookConfiguration');
  if (found === undefined) throw new Error('no MutatingWebhookConfiguration rendered');
  return found as unknown as IMutatingWebhookConfiguration;
}

t.test('the webhook configuration the base installs', async (t) => {
  if (!requireTools(t, ['kubectl'], { root: false })) return;
  const objects = await render('manifests');
  const configuration = webhookOf(objects);
  t.doesNotThrow(() => {
    new MutatingWebhookConfiguration(configuration).validate();
  }, 'valid against the schema');
  const [webhook, ...others] = configuration.webhooks ?? [];
  t.equal(others.length, 0, 'one webhook');
  if (webhook === undefined) throw new Error('no webhook');
  t.equal(webhook.failurePolicy, 'Ignore');
  t.ok((webhook.timeoutSeconds ?? 10) <= 5, 'timeoutSeconds at most 5');
  t.equal(webhook.sideEffects, 'None');
  t.equal(webhook.reinvocationPolicy, 'IfNeeded');
  t.same(webhook.admissionReviewVersions, ['v1']);
  t.same(webhook.clientConfig.service, {
    name: 'pullwatch-controller',
    namespace: 'pullwatch',
    path: ADMISSION_PATH,
    port: 9747,
  });
  t.same(
    webhook.rules?.map((r) => [r.operations, r.resources]),
    [
      [['CREATE'], ['pods']],
      [['UPDATE'], ['pods/ephemeralcontainers']],
    ],
    'pods CREATE and pods/ephemeralcontainers UPDATE',
  );
  const excluded = webhook.namespaceSelector?.matchExpressions?.find(
    (e) => e.key === 'kubernetes.io/metadata.name',
  );
  t.same(excluded, {
    key: 'kubernetes.io/metadata.name',
    operator: 'NotIn',
    values: ['pullwatch', 'kube-system'],
  });

  const service = objects.find(
    (o) =>
      o['kind'] === 'Service' &&
      (o['metadata'] as { name: string }).name === 'pullwatch-controller',
  );
  t.ok(service, 'the Service the webhook names exists');

  const role = objects.find(
    (o) =>
      o['kind'] === 'ClusterRole' &&
      (o['metadata'] as { name: string }).name === 'pullwatch-controller',
  ) as { rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[] } | undefined;
  t.same(
    role?.rules.find((r) => r.resources.includes('mutatingwebhookconfigurations')),
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations'],
      resourceNames: ['pullwatch-controller'],
      verbs: ['get', 'update'],
    },
    'the controller may keep the caBundle of this one configuration only',
  );

  const expression = webhook.matchConditions?.[0]?.expression ?? '';
  const container = (name: string, imagePullPolicy?: string) => ({
    name,
    image: 'registry.example.com/a:v1',
    ...(imagePullPolicy === undefined ? {} : { imagePullPolicy }),
  });
  const cases: readonly [string, Record<string, unknown>, boolean][] = [
    ['every container Always: not called', { containers: [container('a', 'Always')] }, false],
    [
      'one IfNotPresent: called',
      { containers: [container('a', 'Always'), container('b', 'IfNotPresent')] },
      true,
    ],
    ['Never: called', { containers: [container('a', 'Never')] }, true],
    [
      'an init container IfNotPresent: called',
      { containers: [container('a', 'Always')], initContainers: [container('i', 'IfNotPresent')] },
      true,
    ],
    [
      'an ephemeral container IfNotPresent: called',
      {
        containers: [container('a', 'Always')],
        ephemeralContainers: [container('e', 'IfNotPresent')],
      },
      true,
    ],
    [
      'all Always, init and ephemeral too: not called',
      {
        containers: [container('a', 'Always')],
        initContainers: [container('i', 'Always')],
        ephemeralContainers: [container('e', 'Always')],
      },
      false,
    ],
    ['no policy (not defaulted): called', { containers: [container('a')] }, true],
  ];
  for (const [name, spec, expected] of cases)
    t.equal(evaluate(expression, { object: { spec } }), expected, name);
});

t.test('with cert-manager, cainjector fills the caBundle', async (t) => {
  if (!requireTools(t, ['kubectl'], { root: false })) return;
  const configuration = webhookOf(await render('manifests/overlays/cert-manager'));
  t.equal(
    configuration.metadata?.annotations?.['cert-manager.io/inject-ca-from'],
    'pullwatch/pullwatch-controller-tls',
  );
});

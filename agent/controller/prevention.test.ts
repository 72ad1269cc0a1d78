// The webhook as `pullwatch controller` wires it from its flags: the cluster's mode, the
// namespace label read from the API server, the allowlist, exemptions and --on-registry-error
// reach the decision; the caBundle is kept from the published CA only when the controller made
// its own certificate.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import type { RepositoryVisibility } from '../model/snapshot.ts';
import { ApiServerConnections } from '../kube/connections.ts';
import { ADMISSION_PATH, withAdmissionWebhook } from './admission-webhook.ts';
import { loadControllerConfig, type ControllerConfig } from './config.ts';
import { startPrevention } from './prevention.ts';

const KIND = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
const CA = '-----BEGIN CERTIFICATE-----\nmade-by-the-controller\n-----END CERTIFICATE-----\n';
const PRIVATE = 'registry.example.com/team-a/app:v1';
const FLAKY = 'flaky.example.com/team-a/app:v1';
const BASE = 'registry.example.com/base/os:1';

function config(argv: string[]): ControllerConfig {
  const loaded = loadControllerConfig(argv, {});
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.value;
}

async function world(t: { teardown(fn: () => unknown): void }, argv: string[]) {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  for (const [name, labels] of [
    ['pullwatch', {}],
    ['tenant-enforce', { 'pullwatch.dev/prevention': 'enforce' }],
    ['tenant-plain', {}],
    ['platform', { team: 'platform', 'pullwatch.dev/prevention': 'enforce' }],
  ] as const)
    api.store.create('namespaces', { metadata: { name, labels } });
  api.store.create(KIND, {
    metadata: { name: 'pullwatch-controller' },
    webhooks: [
      {
        name: 'pods.prevention.pullwatch.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        clientConfig: { service: { namespace: 'pullwatch', name: 'pullwatch-controller' } },
      },
    ],
  });
  api.store.create('configmaps', {
    metadata: { namespace: 'pullwatch', name: 'pullwatch-controller-ca' },
    data: { 'ca.crt': CA },
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(api.kubeconfig());
  const connections = new ApiServerConnections();
  const prevention = startPrevention(config(argv), {
    kubeConfig,
    connections,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    secrets: {
      view: (namespace, name) =>
        Promise.resolve({ state: 'missing', namespace, name, problem: 'not found' }),
      viewNow: () => undefined,
    },
    resolver: {
      repositoryVisibility: (name): Promise<RepositoryVisibility> =>
        name.startsWith('flaky.')
          ? Promise.resolve({ visibility: 'unknown', basis: 'timeout', nodeCredentials: false })
          : Promise.resolve({ visibility: 'private', basis: '401', nodeCredentials: false }),
      verifyCredential: () => Promise.resolve('cannot-read'),
    },
  });
  const server = createServer(withAdmissionWebhook(express(), prevention.webhook)).listen(
    0,
    '127.0.0.1',
  );
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    prevention.stop();
    connections.close();
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${ADMISSION_PATH}`;
  const admit = async (namespace: string, image: string, imagePullPolicy = 'IfNotPresent') => {
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'u1',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace,
          operation: 'CREATE',
          object: {
            metadata: { name: 'p' },
            spec: { containers: [{ name: 'app', image, imagePullPolicy }] },
          },
        },
      }),
    });
    const body = (await answer.json()) as {
      response: { allowed: boolean; patch?: string; warnings?: string[] };
    };
    const { response } = body;
    return !response.allowed
      ? 'denied'
      : response.patch !== undefined
        ? 'forced'
        : (response.warnings?.length ?? 0) > 0
          ? 'warned'
          : 'unchanged';
  };
  const caBundle = (): unknown => {
    const stored = api.store.get(KIND, { name: 'pullwatch-controller' });
    if (!stored.ok) throw new Error(stored.error.message);
    return (stored.value['webhooks'] as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig
      .caBundle;
  };
  return { admit, caBundle };
}

t.test('the flags reach the decision', async (t) => {
  const { admit } = await world(t, [
    '--prevention-allowlist',
    'registry.example.com/base/*',
    '--prevention-exempt-labels',
    'team=platform',
  ]);
  const cases: readonly [string, string, string, string, string][] = [
    ['the cluster mode (warn by default)', 'tenant-plain', PRIVATE, 'IfNotPresent', 'warned'],
    ['the namespace label enforce', 'tenant-enforce', PRIVATE, 'IfNotPresent', 'forced'],
    ['Never, enforced', 'tenant-enforce', PRIVATE, 'Never', 'denied'],
    ['an allow-listed image', 'tenant-enforce', BASE, 'IfNotPresent', 'unchanged'],
    ['an exempt namespace', 'platform', PRIVATE, 'IfNotPresent', 'unchanged'],
    ['a registry error, always by default', 'tenant-enforce', FLAKY, 'IfNotPresent', 'forced'],
  ];
  for (const [name, namespace, image, policy, expected] of cases)
    t.equal(await admit(namespace, image, policy), expected, name);
});

t.test('--prevention enforce and --on-registry-error allow', async (t) => {
  const { admit } = await world(t, ['--prevention', 'enforce', '--on-registry-error', 'allow']);
  t.equal(await admit('tenant-plain', PRIVATE), 'forced', 'the cluster mode');
  t.equal(await admit('tenant-plain', FLAKY), 'warned', 'admitted unchanged, with a warning');
});

t.test('--prevention off admits everything unchanged', async (t) => {
  const { admit } = await world(t, ['--prevention', 'off']);
  t.equal(await admit('tenant-plain', PRIVATE, 'Never'), 'unchanged');
});

t.test("the caBundle is kept from the controller's published CA", async (t) => {
  const { caBundle } = await world(t, []);
  const deadline = Date.now() + 5_000;
  while (caBundle() === undefined && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(caBundle(), Buffer.from(CA).toString('base64'));
});

t.test('with certificate files the operator owns the caBundle', async (t) => {
  const { caBundle, admit } = await world(t, [
    '--tls-cert-file',
    '/nonexistent/tls.crt',
    '--tls-key-file',
    '/nonexistent/tls.key',
  ]);
  await admit('tenant-plain', PRIVATE);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(caBundle(), undefined, 'never written');
});

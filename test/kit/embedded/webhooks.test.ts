// The admission flow of the embedded API server, driven by the real @kubernetes/client-node:
// MutatingWebhookConfigurations created through the API, webhooks served over loopback HTTPS,
// each case one behaviour of the real server's mutating webhook dispatcher.

/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
   client-node's models (V1Pod...) are data-only classes and its serializer takes plain
   objects, as client-node's own examples write them. */

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1MutatingWebhook, V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { selfSignedCertificate } from '../../helpers/tls.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { kubeConfigOf, refusal, serve, type Teardown } from './client-test-helpers.ts';
import type { EmbeddedApiServer } from './kube-apiserver.ts';
import {
  matchConditionsHold,
  readAnswer,
  ruleMatches,
  warningHeader,
  type AdmissionAttributes,
} from './webhooks.ts';
import { resourceType } from './resources.ts';
import type { MutatingWebhook } from './webhook-configurations.ts';

type Reply =
  | { readonly allowed: boolean; patch?: unknown[]; warnings?: string[]; status?: unknown }
  | 'hang'
  | 'wrong-uid'
  | 500;

interface Review {
  request: {
    uid: string;
    operation: string;
    subResource?: string;
    namespace?: string;
    object: V1Pod;
    oldObject: V1Pod | null;
    userInfo: { username: string };
  };
}

/** A webhook server: `/<name>` answers as `replies[name]` says and records what it was sent. */
async function startHooks(t: Teardown, cert: { cert: string; key: string }) {
  const replies = new Map<string, (review: Review) => Reply>();
  const calls = new Map<string, Review[]>();
  const server = createServer(
    { cert: await readFile(cert.cert), key: await readFile(cert.key) },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const name = (req.url ?? '/').slice(1);
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
        calls.set(name, [...(calls.get(name) ?? []), review]);
        const reply = replies.get(name)?.(review) ?? { allowed: true };
        if (reply === 'hang') return;
        if (reply === 500) {
          res.writeHead(500).end('broken');
          return;
        }
        const uid = reply === 'wrong-uid' ? 'another-uid' : review.request.uid;
        const response =
          reply === 'wrong-uid'
            ? { uid, allowed: true }
            : {
                uid,
                allowed: reply.allowed,
                ...(reply.patch
                  ? {
                      patchType: 'JSONPatch',
                      patch: Buffer.from(JSON.stringify(reply.patch)).toString('base64'),
                    }
                  : {}),
                ...(reply.warnings ? { warnings: reply.warnings } : {}),
                ...(reply.status ? { status: reply.status } : {}),
              };
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response,
          }),
        );
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return { port: (server.address() as AddressInfo).port, replies, calls };
}

const SERVICE = { namespace: 'hooks', name: 'hook-svc' };

function hook(name: string, over: Partial<V1MutatingWebhook> = {}, ca = ''): V1MutatingWebhook {
  return {
    name: `${name}.example.com`,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    timeoutSeconds: 1,
    clientConfig: { service: { ...SERVICE, path: `/${name}`, port: 443 }, caBundle: ca },
    rules: [
      { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
      {
        operations: ['UPDATE'],
        apiGroups: [''],
        apiVersions: ['v1'],
        resources: ['pods/ephemeralcontainers'],
      },
    ],
    ...over,
  };
}

function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/team/app:v1' }] },
  };
}

t.test('the admission flow, through client-node', async (t) => {
  const dir = await makeTempDir(t, 'embedded-webhooks');
  const cert = await selfSignedCertificate(dir, 'hook', ['hook-svc.hooks.svc']);
  const wrong = await selfSignedCertificate(dir, 'other', ['hook-svc.hooks.svc']);
  const ca = (await readFile(cert.cert)).toString('base64');
  const wrongCa = (await readFile(wrong.cert)).toString('base64');
  const hooks = await startHooks(t, cert);
  const api: EmbeddedApiServer = await serve(t, {
    webhookServices: { [`${SERVICE.namespace}/${SERVICE.name}`]: hooks.port },
  });
  for (const [name, labels] of [
    ['tenant', { team: 'a' }],
    ['skipped', { 'pullwatch.dev/prevention': 'off' }],
  ] as const)
    api.store.create('namespaces', { metadata: { name, labels } });
  api.store.create('serviceaccounts', {
    metadata: { namespace: 'tenant', name: 'default' },
    imagePullSecrets: [{ name: 'sa-secret' }],
  });
  const kc = kubeConfigOf(api);
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);

  const configure = async (webhooks: V1MutatingWebhook[], name = 'test') => {
    await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
    await admission.createMutatingWebhookConfiguration({
      body: { metadata: { name }, webhooks },
    });
  };
  const reset = async () => {
    hooks.replies.clear();
    hooks.calls.clear();
    for (const name of ['test', 'zz-later'])
      await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
    for (const p of (await core.listNamespacedPod({ namespace: 'tenant' })).items)
      await core.deleteNamespacedPod({ namespace: 'tenant', name: p.metadata?.name ?? '' });
  };

  t.test('a JSONPatch is applied and the warnings reach client-node', async (t) => {
    await reset();
    await configure([hook('patch', {}, ca)]);
    hooks.replies.set('patch', () => ({
      allowed: true,
      patch: [{ op: 'add', path: '/metadata/annotations', value: { patched: 'yes' } }],
      warnings: ['first "quoted" warning', 'second'],
    }));
    const info = await core.createNamespacedPodWithHttpInfo({
      namespace: 'tenant',
      body: pod('p1'),
    });
    t.equal(info.data.metadata?.annotations?.['patched'], 'yes', 'the answer shows the patch');
    const stored = await core.readNamespacedPod({ namespace: 'tenant', name: 'p1' });
    t.equal(stored.metadata?.annotations?.['patched'], 'yes', 'stored patched');
    t.equal(
      info.headers['warning'],
      '299 - "first \\"quoted\\" warning", 299 - "second"',
      'Warning headers, as the real server writes them',
    );
    const [review] = hooks.calls.get('patch') ?? [];
    t.equal(review?.request.operation, 'CREATE');
    t.equal(review?.request.userInfo.username, 'system:admin', 'the requester');
    const sent = review?.request.object.spec;
    t.equal(sent?.containers[0]?.imagePullPolicy, 'IfNotPresent', 'defaulted before the webhook');
    t.same(sent?.imagePullSecrets, [{ name: 'sa-secret' }], "the service account's pull secrets");
  });

  const denials: readonly [string, unknown, number, string][] = [
    ['with its code and message', { code: 403, message: 'not today' }, 403, ': not today'],
    ['below 400: 400', { code: 200, message: 'odd' }, 400, ': odd'],
    ['without a message: its reason', { reason: 'NoReason' }, 400, ': NoReason'],
    ['without anything', undefined, 400, ' without explanation'],
  ];
  for (const [name, status, code, tail] of denials)
    t.test(`a denial ends the request ${name}`, async (t) => {
      await reset();
      await configure([hook('deny', {}, ca)]);
      hooks.replies.set('deny', () => ({ allowed: false, status, warnings: ['also a warning'] }));
      const refused = await refusal(
        core.createNamespacedPod({ namespace: 'tenant', body: pod('p2') }),
      );
      t.equal(refused.code, code);
      t.equal(refused.message, `admission webhook "deny.example.com" denied the request${tail}`);
      t.equal(
        (await core.listNamespacedPod({ namespace: 'tenant' })).items.length,
        0,
        'nothing stored',
      );
    });

  const notCalled: readonly [string, V1MutatingWebhook, V1Pod, string?][] = [
    [
      'a namespaceSelector that excludes the namespace',
      hook(
        'skip',
        {
          namespaceSelector: {
            matchExpressions: [
              { key: 'pullwatch.dev/prevention', operator: 'NotIn', values: ['off'] },
            ],
          },
        },
        ca,
      ),
      pod('p3'),
      'skipped',
    ],
    [
      'an objectSelector the pod does not match',
      hook('skip', { objectSelector: { matchLabels: { inject: 'yes' } } }, ca),
      pod('p4', { inject: 'no' }),
    ],
    [
      'a matchCondition that is false',
      hook(
        'skip',
        {
          matchConditions: [
            {
              name: 'never-always',
              expression: "object.spec.containers.exists(c, c.imagePullPolicy == 'Always')",
            },
          ],
        },
        ca,
      ),
      pod('p5'),
    ],
    [
      'rules for another resource',
      hook(
        'skip',
        {
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
            },
          ],
        },
        ca,
      ),
      pod('p6'),
    ],
  ];
  for (const [name, webhook, body, namespace = 'tenant'] of notCalled)
    t.test(`not called: ${name}`, async (t) => {
      await reset();
      await configure([webhook]);
      hooks.replies.set('skip', () => ({ allowed: false }));
      await core.createNamespacedPod({ namespace, body });
      t.equal(hooks.calls.get('skip')?.length ?? 0, 0, 'the webhook was not called');
      await core.deleteNamespacedPod({ namespace, name: body.metadata?.name ?? '' });
    });

  const failures: readonly [string, V1MutatingWebhook, Reply][] = [
    ['a webhook that times out', hook('fail', {}, ca), 'hang'],
    ['a caBundle that does not verify it', hook('fail', {}, wrongCa), { allowed: false }],
    ['an answer for another uid', hook('fail', {}, ca), 'wrong-uid'],
    ['an HTTP error', hook('fail', {}, ca), 500],
    [
      'a matchCondition that fails to evaluate',
      hook('fail', { matchConditions: [{ name: 'bad', expression: 'object.nothing.here' }] }, ca),
      { allowed: false },
    ],
  ];
  for (const [name, webhook, reply] of failures) {
    t.test(`failurePolicy Ignore admits past ${name}`, async (t) => {
      await reset();
      await configure([{ ...webhook, failurePolicy: 'Ignore' }]);
      hooks.replies.set('fail', () => reply);
      const created = await core.createNamespacedPod({ namespace: 'tenant', body: pod('p7') });
      t.equal(created.metadata?.name, 'p7');
    });
    t.test(`failurePolicy Fail refuses past ${name}`, async (t) => {
      await reset();
      await configure([webhook]);
      hooks.replies.set('fail', () => reply);
      const refused = await refusal(
        core.createNamespacedPod({ namespace: 'tenant', body: pod('p8') }),
      );
      t.equal(refused.code, 500);
      t.match(refused.message, /failed calling webhook "fail.example.com"/);
    });
  }

  t.test('a url clientConfig is called at its URL', async (t) => {
    await reset();
    await configure([
      hook('by-url', {
        clientConfig: { url: `https://127.0.0.1:${hooks.port}/by-url`, caBundle: ca },
      }),
    ]);
    await core.createNamespacedPod({ namespace: 'tenant', body: pod('p9') });
    t.equal(hooks.calls.get('by-url')?.length, 1);
  });

  t.test('kubectl debug: UPDATE of pods/ephemeralcontainers, patched', async (t) => {
    await reset();
    await core.createNamespacedPod({ namespace: 'tenant', body: pod('p10') });
    await configure([hook('debug', {}, ca)]);
    hooks.replies.set('debug', () => ({
      allowed: true,
      patch: [{ op: 'add', path: '/spec/ephemeralContainers/0/imagePullPolicy', value: 'Always' }],
    }));
    const current = await core.readNamespacedPod({ namespace: 'tenant', name: 'p10' });
    const updated = await core.replaceNamespacedPodEphemeralcontainers({
      namespace: 'tenant',
      name: 'p10',
      body: {
        ...current,
        spec: {
          containers: current.spec?.containers ?? [],
          ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }],
        },
      },
    });
    t.equal(updated.spec?.ephemeralContainers?.[0]?.imagePullPolicy, 'Always');
    const [review] = hooks.calls.get('debug') ?? [];
    t.equal(review?.request.operation, 'UPDATE');
    t.equal(review?.request.subResource, 'ephemeralcontainers');
    t.equal(review?.request.oldObject?.spec?.ephemeralContainers, undefined, 'the old pod');
  });

  t.test(
    'reinvocationPolicy IfNeeded: called again after a later webhook changed the pod',
    async (t) => {
      await reset();
      await configure([
        hook('first', { reinvocationPolicy: 'IfNeeded' }, ca),
        hook('never', { reinvocationPolicy: 'Never' }, ca),
      ]);
      await configure([hook('sidecar', {}, ca)], 'zz-later');
      hooks.replies.set('sidecar', () => ({
        allowed: true,
        patch: [
          { op: 'add', path: '/spec/containers/-', value: { name: 'sidecar', image: 'side:1' } },
        ],
      }));
      await core.createNamespacedPod({ namespace: 'tenant', body: pod('p11') });
      const first = hooks.calls.get('first') ?? [];
      t.equal(first.length, 2, 'the IfNeeded webhook is called twice');
      t.equal(
        first[1]?.request.object.spec?.containers.length,
        2,
        'the second time with the sidecar',
      );
      t.equal(hooks.calls.get('never')?.length, 1, 'a Never webhook once');
      t.equal(hooks.calls.get('sidecar')?.length, 1, 'the changer once');
    },
  );
});

t.test('the configuration is validated and defaulted as the real server does', async (t) => {
  const api = await serve(t);
  const admission = kubeConfigOf(api).makeApiClient(AdmissionregistrationV1Api);
  const created = await admission.createMutatingWebhookConfiguration({
    body: { metadata: { name: 'defaults' }, webhooks: [hook('d', {}, '')] },
  });
  const w = created.webhooks?.[0];
  t.match(w, {
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'Never',
    namespaceSelector: {},
    objectSelector: {},
  });
  t.equal(w?.rules?.[0]?.scope, '*');
  const invalid: readonly [string, Partial<V1MutatingWebhook>, RegExp][] = [
    ['no sideEffects', { sideEffects: 'Some' }, /sideEffects/],
    ['an http url', { clientConfig: { url: 'http://127.0.0.1/x' } }, /clientConfig.url/],
    ['a timeout over 30 s', { timeoutSeconds: 31 }, /timeoutSeconds/],
    [
      'CEL that does not parse',
      { matchConditions: [{ name: 'x', expression: 'a ==' }] },
      /matchConditions\[0\]/,
    ],
  ];
  for (const [name, over, field] of invalid) {
    const refused = await refusal(
      admission.createMutatingWebhookConfiguration({
        body: { metadata: { name: 'bad' }, webhooks: [hook('b', over)] },
      }),
    );
    t.equal(refused.code, 422, name);
    t.match(JSON.stringify(refused.details?.causes), field, `${name}: names the field`);
  }
});

const attributes = (over: Partial<AdmissionAttributes> = {}): AdmissionAttributes => ({
  operation: 'CREATE',
  rt: resourceType('pods'),
  namespace: 'n',
  name: 'p',
  object: { metadata: { name: 'p' } },
  user: { username: 'u' },
  ...over,
});

t.test('rules match as rules.Matcher matches them', async (t) => {
  const rule = (resources: string[], scope: '*' | 'Cluster' | 'Namespaced' = '*') => ({
    operations: ['*'],
    apiGroups: [''],
    apiVersions: ['v1'],
    resources,
    scope,
  });
  const cases: readonly [
    string,
    string[],
    string | undefined,
    boolean,
    ('Cluster' | 'Namespaced')?,
  ][] = [
    ['pods matches a pod', ['pods'], undefined, true],
    ['pods does not match a subresource', ['pods'], 'ephemeralcontainers', false],
    ['pods/* matches a subresource', ['pods/*'], 'ephemeralcontainers', true],
    ['* does not match a subresource', ['*'], 'status', false],
    ['*/* matches everything', ['*/*'], 'status', true],
    ['*/ephemeralcontainers', ['*/ephemeralcontainers'], 'ephemeralcontainers', true],
    ['Cluster scope does not match a pod', ['pods'], undefined, false, 'Cluster'],
    ['Namespaced scope matches a pod', ['pods'], undefined, true, 'Namespaced'],
  ];
  for (const [name, resources, subresource, expected, scope] of cases)
    t.equal(ruleMatches(rule(resources, scope), attributes({ subresource })), expected, name);
});

t.test('matchConditions see object, oldObject and request', async (t) => {
  const withConditions = (expression: string): MutatingWebhook =>
    ({ matchConditions: [{ name: 'c', expression }] }) as unknown as MutatingWebhook;
  const request = {
    object: { metadata: { name: 'p' } },
    oldObject: null,
    request: undefined,
    operation: 'CREATE',
  };
  t.same(matchConditionsHold(withConditions("object.metadata.name == 'p'"), request), {
    ok: true,
    value: true,
  });
  t.same(matchConditionsHold(withConditions('oldObject == null'), request), {
    ok: true,
    value: true,
  });
  t.same(matchConditionsHold(withConditions("request.operation == 'UPDATE'"), request), {
    ok: true,
    value: false,
  });
  t.match(matchConditionsHold(withConditions("'not a bool'"), request), { ok: false });
});

t.test('an answer is checked as VerifyAdmissionResponse checks it', async (t) => {
  const review = (response: unknown) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response,
  });
  const cases: readonly [string, unknown, RegExp | undefined][] = [
    ['a plain allow', review({ uid: 'u', allowed: true }), undefined],
    [
      'v1beta1',
      { ...review({ uid: 'u', allowed: true }), apiVersion: 'admission.k8s.io/v1beta1' },
      /not an admission.k8s.io\/v1/,
    ],
    ['no response', review(undefined), /absent/],
    ['another uid', review({ uid: 'x', allowed: true }), /expected response.uid="u"/],
    ['a patch without patchType', review({ uid: 'u', allowed: true, patch: 'W10=' }), /patchType/],
    [
      'a patch that is not JSON',
      review({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch: 'bm9wZQ==' }),
      /not a base64 JSON patch/,
    ],
  ];
  for (const [name, body, error] of cases) {
    const read = readAnswer(body, 'u');
    if (error === undefined) t.ok(read.ok, name);
    else t.match(read.ok ? '' : read.error, error, name);
  }
  t.equal(warningHeader('a "b" \\ c\nd'), '299 - "a \\"b\\" \\\\ c d"', 'a warning header escapes');
});

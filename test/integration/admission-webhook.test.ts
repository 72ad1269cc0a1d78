// The admission webhook over real HTTPS on loopback, with real AdmissionReviews, against real
// registries: a private one (docker-registry with htpasswd) where Admin1's secret reads the
// image, and an open one for a public image. The registry answers come through the
// controller's own VisibilityResolver, as in `pullwatch controller`.
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { parseImageAllowlist } from '../../agent/admission/allowlist.ts';
import { FORCED_ANNOTATION } from '../../agent/admission/decide.ts';
import {
  ADMISSION_PATH,
  createAdmissionWebhook,
  withAdmissionWebhook,
} from '../../agent/controller/admission-webhook.ts';
import { ImageProofs } from '../../agent/controller/image-proofs.ts';
import { createFingerprintKey } from '../../agent/credentials/pull-secret.ts';
import { startHttpServer } from '../../agent/http/server.ts';
import { secretViewFromObject } from '../../agent/kube/secret-view.ts';
import type { SecretView } from '../../agent/model/snapshot.ts';
import { VisibilityResolver } from '../../agent/registry/visibility.ts';
import { dockerConfigSecret } from '../kit/embedded/kubelet-pods.ts';
import { jsonPatch } from '../kit/embedded/patch.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const ADMIN1 = { username: 'admin1', password: 'pw-admin1-webhook-7a2f' };

interface Answer {
  readonly status: number;
  readonly body: {
    response?: {
      uid: string;
      allowed: boolean;
      patchType?: string;
      patch?: string;
      warnings?: string[];
      auditAnnotations?: Record<string, string>;
      status?: { message: string };
    };
    error?: string;
  };
}

function post(url: string, ca: Buffer, body: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${ADMISSION_PATH}`,
      {
        method: 'POST',
        agent: new Agent({ ca }),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'],
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
}

interface PodObject {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    imagePullSecrets: { name: string }[];
    ephemeralContainers?: Container[];
  };
}

function pod(namespace: string, containers: Container[], secrets: string[] = []): PodObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace },
    spec: { containers, imagePullSecrets: secrets.map((name) => ({ name })) },
  };
}

let uids = 0;
function review(object: unknown, over: Record<string, unknown> = {}): Record<string, unknown> {
  const o = object as { metadata: { namespace: string } };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${++uids}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: o.metadata.namespace,
      operation: 'CREATE',
      object,
      ...over,
    },
  };
}

t.test('the webhook over HTTPS, against real registries', async (t) => {
  if (!requireTools(t, ['docker-registry', 'skopeo', 'htpasswd', 'openssl'], { root: false }))
    return;
  const dir = await makeTempDir(t, 'admission-webhook');
  const [privateRegistry, openRegistry] = await Promise.all([
    startRegistry(t, { users: { [ADMIN1.username]: ADMIN1.password } }),
    startRegistry(t),
  ]);
  const layout = await buildImageLayout(join(dir, 'image'), { marker: 'webhook-image' });
  const PRIVATE = `${privateRegistry.host}/team-a/super-secret-image-1:v1`;
  const PUBLIC = `${openRegistry.host}/library/busybox:1.36`;
  await pushLayout(layout.layoutDir, PRIVATE, ADMIN1);
  await pushLayout(layout.layoutDir, PUBLIC);

  const key = createFingerprintKey(Buffer.alloc(32, 9));
  if (!key.ok) throw new Error(key.error);
  const secrets = new Map<string, SecretView>([
    [
      'tenant-a/image-pull-secret-1',
      secretViewFromObject(
        { namespace: 'tenant-a', name: 'image-pull-secret-1' },
        dockerConfigSecret('tenant-a', 'image-pull-secret-1', privateRegistry.host, ADMIN1),
        key.value,
      ),
    ],
    [
      'tenant-b/wrong-secret',
      secretViewFromObject(
        { namespace: 'tenant-b', name: 'wrong-secret' },
        dockerConfigSecret('tenant-b', 'wrong-secret', privateRegistry.host, {
          username: 'admin1',
          password: 'not-the-password',
        }),
        key.value,
      ),
    ],
  ]);
  const resolver = new VisibilityResolver({
    insecureRegistries: [privateRegistry.host, openRegistry.host],
  });
  const namespaceLabels: Record<string, Record<string, string>> = {
    'tenant-a': {},
    'tenant-b': { 'pullwatch.dev/prevention': 'enforce' },
    'tenant-warn': { 'pullwatch.dev/prevention': 'warn' },
    platform: { team: 'platform' },
  };
  const allowlist = parseImageAllowlist([`${privateRegistry.host}/base/*`]);
  if (!allowlist.ok) throw new Error(allowlist.error);
  const metrics = new Registry();
  const secretNow = (namespace: string, name: string) => secrets.get(`${namespace}/${name}`);
  const webhook = createAdmissionWebhook({
    proofs: new ImageProofs({
      ports: {
        secret: (namespace, name) =>
          Promise.resolve(
            secrets.get(`${namespace}/${name}`) ?? {
              state: 'missing',
              namespace,
              name,
              problem: 'not found',
            },
          ),
        visibility: (name, reference) => resolver.repositoryVisibility(name, reference),
        // Known at once, as the controller's secret cache knows a fresh read.
        secretNow,
        verify: (authorization, name, reference) =>
          resolver.verifyCredential(authorization, name, reference),
      },
    }),
    namespaceLabels: {
      labels: (namespace) => Promise.resolve(namespaceLabels[namespace]),
      labelsNow: (namespace) => namespaceLabels[namespace],
    },
    modes: { clusterMode: 'enforce', exemptions: [{ key: 'team', value: 'platform' }] },
    allowlist: allowlist.value,
    onRegistryError: 'always',
    registry: metrics,
    logger: pino({ level: 'silent' }),
  });
  const app = withAdmissionWebhook(express(), webhook);
  const tls = await selfSignedCertificate(dir, 'webhook');
  const server = await startHttpServer({
    app,
    listen: '127.0.0.1:0',
    tls: { certFile: tls.cert, keyFile: tls.key },
  });
  t.teardown(() => server.stop());
  const url = `https://${server.address}`;
  const ca = await readFile(tls.cert);
  const admit = async (body: unknown) => post(url, ca, JSON.stringify(body));

  const cases: readonly {
    name: string;
    object: ReturnType<typeof pod>;
    over?: Record<string, unknown>;
    allowed: boolean;
    policies?: (string | undefined)[];
    warning?: RegExp;
    message?: RegExp;
  }[] = [
    {
      name: "Admin1's pod, whose secret verifies against the registry, keeps IfNotPresent",
      object: pod(
        'tenant-a',
        [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
        ['image-pull-secret-1'],
      ),
      allowed: true,
      policies: ['IfNotPresent'],
    },
    {
      name: "Admin2's pod without a secret gets Always",
      object: pod('tenant-b', [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }]),
      allowed: true,
      policies: ['Always'],
      warning: /"app" now has imagePullPolicy Always/,
    },
    {
      name: 'a secret the registry refuses proves nothing: Always',
      object: pod(
        'tenant-b',
        [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
        ['wrong-secret'],
      ),
      allowed: true,
      policies: ['Always'],
    },
    {
      name: 'a public image is untouched',
      object: pod('tenant-b', [{ name: 'app', image: PUBLIC, imagePullPolicy: 'IfNotPresent' }]),
      allowed: true,
      policies: ['IfNotPresent'],
    },
    {
      name: 'Never with an unproven private image is denied',
      object: pod('tenant-b', [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Never' }]),
      allowed: false,
      message: /imagePullPolicy Never.*Add an imagePullSecret/,
    },
    {
      name: 'warn mode changes nothing and warns',
      object: pod('tenant-warn', [
        { name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
      ]),
      allowed: true,
      policies: ['IfNotPresent'],
      warning: /warn mode/,
    },
    {
      name: 'an exempt namespace is left alone',
      object: pod('platform', [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Never' }]),
      allowed: true,
      policies: ['Never'],
    },
    {
      name: 'an allow-listed image is left alone',
      object: pod('tenant-b', [
        {
          name: 'app',
          image: `${privateRegistry.host}/base/os:1`,
          imagePullPolicy: 'IfNotPresent',
        },
      ]),
      allowed: true,
      policies: ['IfNotPresent'],
    },
    {
      name: 'kubectl debug: a new ephemeral container gets Always',
      object: {
        ...pod('tenant-b', [{ name: 'app', image: PUBLIC, imagePullPolicy: 'IfNotPresent' }]),
        spec: {
          containers: [{ name: 'app', image: PUBLIC, imagePullPolicy: 'IfNotPresent' }],
          imagePullSecrets: [],
          ephemeralContainers: [
            { name: 'debugger', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
          ],
        },
      },
      over: {
        operation: 'UPDATE',
        subResource: 'ephemeralcontainers',
        oldObject: pod('tenant-b', [
          { name: 'app', image: PUBLIC, imagePullPolicy: 'IfNotPresent' },
        ]),
      },
      allowed: true,
      policies: ['IfNotPresent', 'Always'],
    },
  ];

  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const sent = review(c.object, c.over);
      const { status, body } = await admit(sent);
      t.equal(status, 200);
      const response = body.response;
      if (response === undefined) throw new Error('no response');
      t.equal(response.uid, (sent['request'] as { uid: string }).uid, 'the same uid');
      t.equal(response.allowed, c.allowed, 'allowed');
      if (c.message) t.match(response.status?.message, c.message, 'message');
      if (c.warning)
        t.ok(
          response.warnings?.some((w) => c.warning?.test(w)),
          'warning',
        );
      if (c.policies) {
        const patch =
          response.patch === undefined
            ? []
            : (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown);
        if (response.patch !== undefined) t.equal(response.patchType, 'JSONPatch');
        const patched = jsonPatch(c.object, patch);
        if (!patched.ok) throw new Error(patched.error);
        const spec = (patched.value as { spec: Record<string, Container[] | undefined> }).spec;
        const all = [...(spec['containers'] ?? []), ...(spec['ephemeralContainers'] ?? [])];
        t.same(
          all.map((x) => x.imagePullPolicy),
          c.policies,
          'pull policies after the patch',
        );
        if (c.policies.includes('Always') && c.over === undefined)
          t.equal(
            (patched.value as { metadata: { annotations?: Record<string, string> } }).metadata
              .annotations?.[FORCED_ANNOTATION],
            'app',
            'annotated',
          );
      }
    });
  }

  await t.test('hostile input gets a clear answer, never a crash', async (t) => {
    const notJson = await post(url, ca, '{"apiVersion": ');
    t.equal(notJson.status, 400, 'not JSON: 400');
    const noUid = await admit({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    t.equal(noUid.status, 400, 'no request: 400');
    t.match(noUid.body.error, /not an admission.k8s.io\/v1 AdmissionReview/);
    const badPod = await admit(review({ metadata: { namespace: 'tenant-b' }, spec: 'x' }));
    t.equal(badPod.status, 200, 'an unreadable pod: answered');
    t.equal(badPod.body.response?.allowed, true, 'and admitted unchanged, as Ignore would');
    t.match(badPod.body.response?.warnings, [/could not read the pod/]);

    const huge = Buffer.alloc(9 * 1024 * 1024, 'a');
    const tooLarge = await post(
      url,
      ca,
      Buffer.concat([Buffer.from('{"x":"'), huge, Buffer.from('"}')]),
    );
    t.equal(tooLarge.status, 413, 'over 8 MiB: 413');
    t.match(tooLarge.body.error, /larger than/);

    const big = pod('tenant-b', [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }]);
    const large = await admit(
      review({ ...big, metadata: { ...big.metadata, annotations: { blob: 'b'.repeat(3 << 20) } } }),
    );
    t.equal(large.status, 200, 'a 3 MiB pod is answered');
    t.equal(large.body.response?.allowed, true);

    const many = Array.from({ length: 1000 }, (_, i) => ({
      name: `c${i}`,
      image: `${privateRegistry.host}/team-a/image-${i % 250}:v${i}`,
      imagePullPolicy: 'IfNotPresent',
    }));
    const thousand = await admit(review(pod('tenant-b', many)));
    t.equal(thousand.status, 200, '1,000 containers are answered');
    const patch = JSON.parse(
      Buffer.from(thousand.body.response?.patch ?? '', 'base64').toString('utf8'),
    ) as unknown[];
    t.equal(patch.length, 1001, 'every container forced, and one annotation');
    t.ok((thousand.body.response?.warnings?.length ?? 0) <= 10, 'warnings are summed up');
  });

  const text = await metrics.metrics();
  t.match(
    text,
    /pullwatch_controller_admission_decisions_total\{mode="enforce",outcome="forced"\} \d+/,
  );
  t.match(text, /pullwatch_controller_admission_refused_requests_total\{reason="too-large"\} 1/);
});

// Selective prevention (issue 14) in the seed story, as deployed: `pullwatch controller
// --prevention enforce` as a process, its webhook registered in the in-process API server from
// manifests/base/controller-webhook.yaml, pods created through client-node, the registry a
// real docker-registry with htpasswd and the node a real containerd. The API server calls the
// webhook over HTTPS as `pullwatch-controller.pullwatch.svc`, checking the caBundle.
//
// Admin1's pod keeps IfNotPresent: its secret reads the image. Admin2's pod gets Always, and
// the pull the kubelet then makes with Admin2's (no) credentials is refused by the registry,
// so the cached copy never runs. A public image is untouched, Never with an unproven private
// image is denied, and a namespace in warn mode gets warnings only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { parse } from 'yaml';
import { FORCED_ANNOTATION } from '../../agent/admission/decide.ts';
import { issueBoundToken } from '../kit/bound-tokens.ts';
import { statusOf } from '../kit/embedded/client-test-helpers.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { pendingPod } from '../kit/embedded/kubelet-pods.ts';
import { ADMIN1_POD, ADMIN1_SECRET, ADMIN2_POD, Story, TENANT_B } from '../kit/story.ts';
import { startControllerProcess } from '../helpers/controller-process.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { freePort } from '../helpers/ports.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { REAL_WORLD_TOOLS, startRealWorld } from '../helpers/real-world.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const ADMIN1 = { username: 'admin1', password: 'pw-admin1-prevention-3c9d' };
const NODE = 'node-1';
const SERVICE = 'pullwatch-controller';
const TENANT_WARN = 'tenant-warn';

interface Created {
  readonly pod: V1Pod;
  readonly warnings: string;
}

t.test(
  'prevention in enforce: the seed story with the webhook, against the real registry and containerd',
  async (t) => {
    if (!requireTools(t, [...REAL_WORLD_TOOLS, 'openssl'])) return;
    const dir = await makeTempDir(t, 'e2e-prevention');
    const world = await startRealWorld(t, dir, { credentials: ADMIN1 });
    const openRegistry = await startRegistry(t);
    const PUBLIC = `${openRegistry.host}/library/busybox:1.36`;
    const publicLayout = await buildImageLayout(join(dir, 'public'), { marker: 'public-image' });
    await pushLayout(publicLayout.layoutDir, PUBLIC);

    const port = await freePort();
    const api = await startEmbeddedApiServer({
      webhookServices: { [`pullwatch/${SERVICE}`]: port },
    });
    t.teardown(() => api.stop());
    const story = new Story(api, world, NODE);
    story.setUp(['pullwatch', TENANT_WARN]);
    api.store.modify('namespaces', { name: TENANT_WARN }, (ns) => ({
      ...ns,
      metadata: { ...ns.metadata, labels: { 'pullwatch.dev/prevention': 'warn' } },
    }));

    // The controller serves a certificate for its Service's name; the webhook trusts its CA.
    const tls = await selfSignedCertificate(dir, 'controller', [`${SERVICE}.pullwatch.svc`]);
    const webhook = parse(
      await readFile(
        new URL('../../manifests/base/controller-webhook.yaml', import.meta.url),
        'utf8',
      ),
    ) as { webhooks: { clientConfig: Record<string, unknown> }[] };
    for (const w of webhook.webhooks)
      w.clientConfig['caBundle'] = (await readFile(tls.cert)).toString('base64');
    const installed = api.store.create(
      'mutatingwebhookconfigurations.admissionregistration.k8s.io',
      webhook,
    );
    if (!installed.ok) throw new Error(installed.error.message);

    await startControllerProcess(t, {
      dir,
      port,
      kubeconfigYaml: api.kubeconfigYaml({
        token: issueBoundToken(api, { namespace: 'pullwatch', serviceAccount: SERVICE }),
      }),
      certFile: tls.cert,
      keyFile: tls.key,
      extraArgs: ['--prevention', 'enforce'],
    });

    const kc = new KubeConfig();
    kc.loadFromOptions(api.kubeconfig());
    const core = kc.makeApiClient(CoreV1Api);
    const create = async (
      namespace: string,
      name: string,
      options: { image: string; pullSecrets?: string[]; pullPolicy: 'IfNotPresent' | 'Never' },
    ): Promise<Created> => {
      const info = await core.createNamespacedPodWithHttpInfo({
        namespace,
        body: pendingPod(namespace, name, { node: NODE, ...options }),
      });
      return { pod: info.data, warnings: info.headers['warning'] ?? '' };
    };
    const policyOf = (c: Created) => c.pod.spec?.containers[0]?.imagePullPolicy;
    const forcedOf = (c: Created) => c.pod.metadata?.annotations?.[FORCED_ANNOTATION];

    const admin1 = await create(ADMIN1_POD.namespace, ADMIN1_POD.name, {
      image: world.secretImage,
      pullSecrets: [ADMIN1_SECRET],
      pullPolicy: 'IfNotPresent',
    });
    t.equal(
      policyOf(admin1),
      'IfNotPresent',
      "Admin1's pod keeps IfNotPresent: its secret reads it",
    );
    t.equal(forcedOf(admin1), undefined, 'and carries no annotation');
    t.equal(admin1.warnings, '', 'and no warning');
    await story.kubeletPulls();

    const admin2 = await create(ADMIN2_POD.namespace, ADMIN2_POD.name, {
      image: world.secretImage,
      pullPolicy: 'IfNotPresent',
    });
    t.equal(policyOf(admin2), 'Always', "Admin2's pod is created with Always");
    t.equal(forcedOf(admin2), 'app', 'the annotation names the container');
    t.match(admin2.warnings, /container \\"app\\" now has imagePullPolicy Always/, 'warned');
    // With Always the kubelet pulls with the pod's own credentials: Admin2 has none.
    const pull = await pullImage(world.containerd.socket, world.secretImage).then(
      () => 'pulled',
      (e: unknown) => String((e as { details?: unknown }).details ?? e),
    );
    t.match(pull, /401 Unauthorized/, 'the registry refuses the pull: the image never runs');

    const open = await create(TENANT_B, 'public-pod', {
      image: PUBLIC,
      pullPolicy: 'IfNotPresent',
    });
    t.equal(policyOf(open), 'IfNotPresent', 'a public image is untouched');
    t.equal(forcedOf(open), undefined, 'and carries no annotation');

    const never = await create(TENANT_B, 'never-pod', {
      image: world.secretImage,
      pullPolicy: 'Never',
    }).catch((e: unknown) => statusOf(e));
    t.match(
      never,
      {
        code: 403,
        message:
          /^admission webhook "pods.prevention.pullwatch.dev" denied the request: pullwatch: container "app" has imagePullPolicy Never/,
      },
      'Never with an unproven private image is denied, saying why',
    );
    t.notOk(api.store.get('pods', { namespace: TENANT_B, name: 'never-pod' }).ok, 'not stored');

    const warned = await create(TENANT_WARN, 'warned-pod', {
      image: world.secretImage,
      pullPolicy: 'IfNotPresent',
    });
    t.equal(policyOf(warned), 'IfNotPresent', 'warn mode changes nothing');
    t.equal(forcedOf(warned), undefined, 'nor annotates');
    t.match(
      warned.warnings,
      /pullwatch \(warn mode\): container \\"app\\" would get imagePullPolicy Always/,
      'and warns, through client-node',
    );
    t.notOk(
      admin2.warnings.includes(ADMIN1.password) || warned.warnings.includes('tenant-a'),
      "no other tenant's names or secrets in a warning",
    );
  },
);

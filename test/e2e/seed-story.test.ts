// The seed story end to end, on real parts: a real private registry and a real containerd
// filled the way the kubelet fills it, our in-process API server, and the real agent as a
// separate process. Admin1 (tenant-a) pulls SuperSecretImage1 with ImagePullSecret1; Admin2
// (tenant-b), without the secret, starts the same image with IfNotPresent from the cache.
import { join } from 'node:path';
import t from 'tap';
import { startEmbeddedApiServer } from '../../agent/embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../../agent/embedded/kubelet-pods.ts';
import type { Finding } from '../../agent/detect/finding.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { startContainerd } from '../helpers/containerd.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];
const ADMIN1 = { username: 'admin1', password: 'pw-admin1-super-secret-9d2e' };
const NODE = 'node-1';

t.test(
  'Admin2 running Admin1 private image from the cache is flagged, and stays flagged',
  async (t) => {
    if (!requireTools(t, TOOLS)) return;
    const dir = await makeTempDir(t, 'e2e-seed');
    const registry = await startRegistry(t, { users: { [ADMIN1.username]: ADMIN1.password } });
    const layout = await buildImageLayout(join(dir, 'image'), { marker: 'super-secret-image-1' });
    const image = `${registry.host}/team-a/super-secret-image-1:v1`;
    const manifestDigest = await pushLayout(layout.layoutDir, image, ADMIN1);
    const containerd = await startContainerd(t, { registryMirrors: [registry.host] });

    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    for (const ns of ['tenant-a', 'tenant-b']) {
      api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
      });
    }
    api.store.create(
      'secrets',
      dockerConfigSecret('tenant-a', 'image-pull-secret-1', registry.host, ADMIN1),
    );

    const agentOptions = {
      dir,
      nodeName: NODE,
      criEndpoint: containerd.socket,
      kubeconfigYaml: api.kubeconfigYaml(),
      stateDir: join(dir, 'state'),
      extraArgs: ['--cri-poll-interval', '1s'],
    };
    let agent = await startAgentProcess(t, agentOptions);

    // Admin1's pod is scheduled; the kubelet pulls with ImagePullSecret1, then starts it.
    api.store.create(
      'pods',
      pendingPod('tenant-a', 'admin1-pod', {
        node: NODE,
        image,
        pullSecrets: ['image-pull-secret-1'],
        pullPolicy: 'IfNotPresent',
      }),
    );
    await new Promise((r) => setTimeout(r, 300)); // the agent sees the pod starting
    t.equal(await pullImage(containerd.socket, image, ADMIN1), layout.configDigest);
    const repoDigest = `${registry.host}/team-a/super-secret-image-1@${manifestDigest}`;
    api.store.modify(
      'pods',
      { namespace: 'tenant-a', name: 'admin1-pod' },
      markRunning(`docker-pullable://${repoDigest}`),
    );

    const owned = await waitFor(
      'the agent to attribute the pull to tenant-a',
      async () => {
        const { body } = await agent.getJson<{
          items: { imageId: string; owners: { tenant: string }[] }[];
        }>('/api/v1/images');
        const item = body.items.find((i) => i.imageId === layout.configDigest);
        return item?.owners.some((o) => o.tenant === 'tenant-a') ? item : undefined;
      },
      10_000,
    );
    t.same(owned.owners, [
      { tenant: 'tenant-a', namespace: 'tenant-a', secret: 'image-pull-secret-1' },
    ]);
    const before = await agent.getJson<{ items: Finding[] }>(
      '/api/v1/findings?rule=unauthorized-cached-image-use',
    );
    t.same(before.body.items, [], 'no finding while only tenant-a uses its image');

    // Admin2's pod, no secret, IfNotPresent: the kubelet starts it from the cache.
    const created = Date.now();
    api.store.create(
      'pods',
      pendingPod('tenant-b', 'admin2-pod', { node: NODE, image, pullPolicy: 'IfNotPresent' }),
    );
    api.store.modify(
      'pods',
      { namespace: 'tenant-b', name: 'admin2-pod' },
      markRunning(`docker-pullable://${repoDigest}`),
    );
    const finding = await waitFor(
      'the finding to be served',
      async () => {
        const { body } = await agent.getJson<{ items: Finding[] }>(
          '/api/v1/findings?rule=unauthorized-cached-image-use&namespace=tenant-b',
        );
        return body.items[0];
      },
      5_000,
    );
    const latencyMs = Date.now() - created;
    t.ok(latencyMs < 2000, `flagged within 2 s (took ${latencyMs} ms)`);
    t.match(finding, {
      rule: 'unauthorized-cached-image-use',
      severity: 'critical',
      confidence: 'confirmed',
      node: NODE,
      tenant: 'tenant-b',
      namespace: 'tenant-b',
      pod: 'admin2-pod',
      container: 'app',
      image,
      imageId: layout.configDigest,
      owners: [{ tenant: 'tenant-a', namespace: 'tenant-a', secret: 'image-pull-secret-1' }],
    });

    // Admin1's pod goes away; the agent restarts: B is still flagged, A still the owner.
    api.store.delete('pods', { namespace: 'tenant-a', name: 'admin1-pod' });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
    agent = await startAgentProcess(t, { ...agentOptions, name: 'pullwatch-restarted' });
    const after = await waitFor(
      'the finding after the restart',
      async () => {
        const { body } = await agent.getJson<{ items: Finding[] }>(
          '/api/v1/findings?rule=unauthorized-cached-image-use',
        );
        return body.items[0];
      },
      10_000,
    );
    t.equal(after.id, finding.id, 'same finding id across the restart');
    t.same(after.owners, [
      { tenant: 'tenant-a', namespace: 'tenant-a', secret: 'image-pull-secret-1' },
    ]);

    // Nothing the agent serves or logs holds Admin1's password.
    const everything = [
      (await agent.getText('/api/v1/findings')).body,
      (await agent.getText('/api/v1/images')).body,
      (await agent.getText('/metrics')).body,
      await agent.process.logTail(100_000),
    ].join('\n');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    for (const needle of [
      ADMIN1.password,
      b64(ADMIN1.password),
      b64(`${ADMIN1.username}:${ADMIN1.password}`),
    ]) {
      t.notOk(everything.includes(needle), 'no credential in API answers, metrics or logs');
    }
  },
);

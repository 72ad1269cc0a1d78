// The agent with the controller, as they are deployed: two processes, the agent on node-1 with
// --secrets-from controller, the controller the only one that reads Secrets. Real containerd
// and registry; our API server issues the bound tokens (with their node claim) and keeps a log
// of who asked for what.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { FindingJson } from '../../agent/http/findings-json.ts';
import { issueBoundToken } from '../kit/bound-tokens.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../kit/embedded/kubelet-pods.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { startContainerd } from '../helpers/containerd.ts';
import {
  controllerKubeconfigYaml,
  startControllerProcess,
  viaControllerArgs,
} from '../helpers/controller-process.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startRegistry } from '../helpers/registry.ts';
import { metricValue } from '../helpers/seed-scenario.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd', 'openssl'];
const ADMIN1 = { username: 'admin1', password: 'pw-admin1-broker-5e1c' };
const NODE = 'node-1';
const AUDIENCE = 'pullwatch-controller';
const AGENT_USER = 'system:serviceaccount:pullwatch:pullwatch-agent';
const CONTROLLER_USER = 'system:serviceaccount:pullwatch:pullwatch-controller';

t.test(
  'through the controller: the seed story is detected, the agent reads no Secret, and asks only about its node',
  async (t) => {
    if (!requireTools(t, TOOLS)) return;
    const dir = await makeTempDir(t, 'e2e-controller');
    const registry = await startRegistry(t, { users: { [ADMIN1.username]: ADMIN1.password } });
    const layout = await buildImageLayout(join(dir, 'image'), { marker: 'brokered-image' });
    const image = `${registry.host}/team-a/super-secret-image-1:v1`;
    const manifest = await pushLayout(layout.layoutDir, image, ADMIN1);
    const repoDigest = `${registry.host}/team-a/super-secret-image-1@${manifest}`;
    const containerd = await startContainerd(t, { registryMirrors: [registry.host] });

    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    for (const ns of ['pullwatch', 'tenant-a', 'tenant-b'])
      api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
      });
    api.store.create(
      'secrets',
      dockerConfigSecret('tenant-a', 'image-pull-secret-1', registry.host, ADMIN1),
    );
    api.store.create(
      'secrets',
      dockerConfigSecret('tenant-b', 'b-secret', registry.host, {
        username: 'b',
        password: 'pw-b',
      }),
    );

    // The identities: each process talks to the API server with its own service account; the
    // agent's projected token for the controller is bound to its pod on node-1.
    const agentPod = { namespace: 'pullwatch', serviceAccount: 'pullwatch-agent', pod: 'agent-x1' };
    const agentApiToken = issueBoundToken(api, { ...agentPod, node: NODE });
    const agentToken = issueBoundToken(api, { ...agentPod, node: NODE, audience: AUDIENCE });
    const tls = await selfSignedCertificate(dir, 'controller');
    const controllerOptions = {
      dir,
      kubeconfigYaml: controllerKubeconfigYaml(api),
      certFile: tls.cert,
      keyFile: tls.key,
    };
    let controller = await startControllerProcess(t, controllerOptions);
    const tokenFile = join(dir, 'agent-token');
    await writeFile(tokenFile, agentToken);
    const agent = await startAgentProcess(t, {
      dir,
      nodeName: NODE,
      criEndpoint: containerd.socket,
      kubeconfigYaml: api.kubeconfigYaml({ token: agentApiToken }),
      stateDir: join(dir, 'state'),
      extraArgs: [
        '--cri-poll-interval',
        '1s',
        ...viaControllerArgs({ url: controller.url, caFile: tls.cert, tokenFile }),
      ],
    });

    // The seed story: Admin1's pod pulls with ImagePullSecret1; Admin2's runs it from the cache.
    api.store.create(
      'pods',
      pendingPod('tenant-a', 'admin1-pod', {
        node: NODE,
        image,
        pullSecrets: ['image-pull-secret-1'],
        pullPolicy: 'IfNotPresent',
      }),
    );
    await sleep(300);
    t.equal(await pullImage(containerd.socket, image, ADMIN1), layout.configDigest);
    api.store.modify(
      'pods',
      { namespace: 'tenant-a', name: 'admin1-pod' },
      markRunning(`docker-pullable://${repoDigest}`),
    );
    const owner = { tenant: 'tenant-a', namespace: 'tenant-a', secret: 'image-pull-secret-1' };
    await waitFor(
      'tenant-a to own the pulled image',
      async () => {
        const { body } = await agent.getJson<{ items: { imageId: string; owners: unknown[] }[] }>(
          '/api/v1/images',
        );
        const item = body.items.find((i) => i.imageId === layout.configDigest);
        return JSON.stringify(item?.owners) === JSON.stringify([owner]) ? true : undefined;
      },
      15_000,
    );
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
      "the finding on Admin2's pod",
      async () => {
        const { body } = await agent.getJson<{ items: FindingJson[] }>(
          '/api/v1/findings?rule=unauthorized-cached-image-use',
        );
        return body.items.find((f) => f.pod === 'admin2-pod');
      },
      15_000,
    );
    t.match(finding, {
      severity: 'critical',
      confidence: 'confirmed',
      namespace: 'tenant-b',
      owners: [owner],
    });

    const secretReads = (user: string) =>
      api.requestLog.filter((r) => r.user === user && r.path.includes('/secrets'));
    t.same(secretReads(AGENT_USER), [], "the API server's log holds no Secret read by the agent");
    t.ok(
      secretReads(CONTROLLER_USER).some(
        (r) => r.path === '/api/v1/namespaces/tenant-a/secrets/image-pull-secret-1',
      ),
      'the controller read it, by name',
    );
    const metrics = (await agent.getText('/metrics')).body;
    t.equal(metricValue(metrics, 'pullwatch_up', { source: 'controller' }), 1);
    t.notOk(metrics.includes(ADMIN1.password), 'no credential in the metrics');

    // Node scoping, asked directly with the agent's own and other tokens.
    api.store.create(
      'pods',
      pendingPod('tenant-b', 'elsewhere', {
        node: 'node-2',
        image: `${registry.host}/team-b/other:v9`,
        pullSecrets: ['b-secret'],
      }),
    );
    const ask = (token: string, body: unknown) =>
      controller.post('/api/v1/pull-secrets', body, token);
    const ownPod = { namespace: 'tenant-a', name: 'image-pull-secret-1', pod: 'admin1-pod' };
    const otherNodePod = { namespace: 'tenant-b', name: 'b-secret', pod: 'elsewhere' };
    const cases: readonly {
      name: string;
      token: string;
      body: unknown;
      status: number;
      error?: RegExp;
    }[] = [
      {
        name: "the agent asking about its own node's pod",
        token: agentToken,
        body: ownPod,
        status: 200,
      },
      {
        name: 'the agent of node-1 asking about a pod on node-2',
        token: agentToken,
        body: otherNodePod,
        status: 403,
        error: /not named by pod tenant-b\/elsewhere on node node-1/,
      },
      {
        name: 'a token without the node claim',
        token: issueBoundToken(api, { ...agentPod, audience: AUDIENCE }),
        body: ownPod,
        status: 403,
        error: /no node claim/,
      },
      {
        name: "another service account's token bound to a pod on node-1",
        token: issueBoundToken(api, {
          namespace: 'tenant-b',
          serviceAccount: 'default',
          pod: 'admin2-pod',
          node: NODE,
          audience: AUDIENCE,
        }),
        body: ownPod,
        status: 403,
        error: /only the agent's service account/,
      },
      {
        name: "a token not issued for the controller's audience",
        token: agentApiToken,
        body: ownPod,
        status: 401,
      },
    ];
    for (const c of cases) {
      const answer = await ask(c.token, c.body);
      t.equal(answer.status, c.status, c.name);
      if (c.error !== undefined) t.match(answer.body, c.error, `${c.name}: says why`);
      t.notOk(answer.body.includes(ADMIN1.password), `${c.name}: no credential`);
      if (c.status !== 200)
        t.notMatch(answer.body, /node-2|team-b\/other|pw-b/, `${c.name}: nothing about that pod`);
    }

    // The controller away for 30 s: nothing is lost, and the agent recovers by itself.
    await controller.stop();
    api.store.create(
      'pods',
      pendingPod('tenant-b', 'newcomer', {
        node: NODE,
        image: `${registry.host}/team-b/other:v9`,
        pullSecrets: ['b-secret'],
      }),
    );
    await waitFor(
      'pullwatch_up{source="controller"} 0',
      async () =>
        metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', {
          source: 'controller',
        }) === 0
          ? true
          : undefined,
      10_000,
    );
    for (let waited = 0; waited < 30_000; waited += 5_000) {
      const { body } = await agent.getJson<{ items: FindingJson[] }>(
        '/api/v1/findings?rule=unauthorized-cached-image-use',
      );
      t.ok(
        body.items.some((f) => f.id === finding.id),
        `the finding is still served ${waited / 1000} s into the outage`,
      );
      await sleep(5_000);
    }
    controller = await startControllerProcess(t, {
      ...controllerOptions,
      port: controller.port,
      name: 'pullwatch-controller-restarted',
    });
    await waitFor(
      'the agent to reach the controller again',
      async () =>
        metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', {
          source: 'controller',
        }) === 1
          ? true
          : undefined,
      45_000,
      250,
    );
    t.same(secretReads(AGENT_USER), [], 'still no Secret read by the agent');
  },
);

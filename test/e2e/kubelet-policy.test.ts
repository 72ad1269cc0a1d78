// Issue 15 end to end: the real agent, as a process, reads the node's kubelet configuration file
// and reports the posture; a node whose kubelet verifies every image raises no node-level
// finding, and a node on the default policy with a private image the kubelet never pulled (in
// the cache, no KEP-2535 pulled record) raises preloaded-private-image-exposed. The embedded
// runtime and API server stand in for the node; the registry is a loopback server that refuses
// anonymous reads, so the image is private by the registry's own answer.
import { createServer } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { CriImage } from '../../agent/cri/types.ts';
import type { FindingJson as Finding } from '../../agent/http/findings-json.ts';
import type { StatusJson } from '../../agent/http/representation.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { listenOnLoopback } from '../helpers/loopback-server.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { markRunning, pendingPod } from '../kit/embedded/kubelet-pods.ts';

const NODE = 'node-1';
const HEADER = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';

/** A registry that answers every request 401 with a Basic challenge: everything is private. */
async function privateRegistry(t: TeardownHost): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' }).end();
  });
  const port = await listenOnLoopback(t, server);
  return `127.0.0.1:${port}`;
}

async function node(t: TeardownHost, kubeletConfig: string) {
  const dir = await makeTempDir(t, 'kubelet-policy');
  const registry = await privateRegistry(t);
  const preloaded: CriImage = {
    id: `sha256:${'7a'.repeat(32)}`,
    repoTags: [`${registry}/team-a/baked:v1`],
    repoDigests: [`${registry}/team-a/baked@sha256:${'7b'.repeat(32)}`],
    sizeBytes: 5_000_000n,
    pinned: false,
  };
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [preloaded] });
  t.teardown(() => runtime.stop());
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  api.store.create('namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'tenant-b' },
  });
  // tenant-b runs a pod not forced to pull, with no credential for the registry.
  api.store.create(
    'pods',
    pendingPod('tenant-b', 'web', { node: NODE, image: 'nginx:1.27', pullPolicy: 'IfNotPresent' }),
  );
  api.store.modify(
    'pods',
    { namespace: 'tenant-b', name: 'web' },
    markRunning(`docker-pullable://docker.io/library/nginx@sha256:${'1c'.repeat(32)}`),
  );
  // The kubelet writes records on this node (the gate is on), none for the preloaded image.
  await mkdir(join(dir, 'kubelet', 'image_manager', 'pulled'), { recursive: true });
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, HEADER + kubeletConfig);
  const agent = await startAgentProcess(t, {
    dir,
    nodeName: NODE,
    criEndpoint: runtime.target,
    kubeconfigYaml: api.kubeconfigYaml(),
    stateDir: join(dir, 'state'),
    extraArgs: ['--kubelet-config', configFile, '--public-registries', 'docker.io'],
  });
  const status = async () => (await agent.getJson<StatusJson>('/api/v1/status')).body;
  const findings = async () =>
    (await agent.getJson<{ items: Finding[] }>('/api/v1/findings')).body.items;
  return { agent, preloaded, status, findings, configFile };
}

t.test(
  'a node whose kubelet verifies every image: the posture, and no node-level finding',
  async (t) => {
    const n = await node(
      t,
      'featureGates:\n  KubeletEnsureSecretPulledImages: true\nimagePullCredentialsVerificationPolicy: AlwaysVerify\n',
    );
    const protection = await waitFor(
      'the kubelet policy in the status',
      async () => {
        const p = (await n.status()).protection;
        return p.kubeletPolicy === 'AlwaysVerify' ? p : undefined;
      },
      15_000,
    );
    t.match(protection, {
      protectedBy: 'kubelet-always-verify',
      alwaysPullImages: 'not-enforced',
      kubeletConfigFiles: [n.configFile],
      webhook: 'unknown',
    });
    const metrics = (await n.agent.getText('/metrics')).body;
    t.match(
      metrics,
      /pullwatch_node_protection_info\{protected_by="kubelet-always-verify",always_pull_images="not-enforced",kubelet_verification="on",kubelet_policy="AlwaysVerify",webhook="unknown"\} 1/,
    );
    // Give the registry's answer time to arrive: the image is private, yet the kubelet checks it.
    await waitFor(
      'the image to be known private',
      async () => {
        const images = (
          await n.agent.getJson<{ items: { imageId: string; visibility: string }[] }>(
            '/api/v1/images',
          )
        ).body.items;
        return images.find((i) => i.imageId === n.preloaded.id)?.visibility === 'private'
          ? true
          : undefined;
      },
      15_000,
    );
    t.same(
      (await n.findings()).map((f) => f.rule),
      [],
      'no always-pull-images-not-enforced, no exposure: the kubelet checks every pod',
    );
  },
);

t.test(
  'a node on the default policy with a preloaded private image raises the new finding',
  async (t) => {
    const n = await node(t, 'featureGates:\n  KubeletEnsureSecretPulledImages: true\n');
    const finding = await waitFor(
      'preloaded-private-image-exposed',
      async () => (await n.findings()).find((f) => f.rule === 'preloaded-private-image-exposed'),
      15_000,
    );
    t.match(finding, {
      severity: 'medium',
      confidence: 'confirmed',
      imageId: n.preloaded.id,
      exposedTenants: ['tenant-b'],
      kubeletPolicy: 'NeverVerifyPreloadedImages',
      allowlistEntry: null,
    });
    t.match((await n.status()).protection, {
      kubeletPolicy: 'NeverVerifyPreloadedImages',
      protectedBy: 'kubelet-partial',
    });
    t.ok(
      (await n.findings()).some((f) => f.rule === 'always-pull-images-not-enforced'),
      'and the node-level finding names what the policy leaves open',
    );
  },
);

// The Admin1/Admin2 story, played on an embedded container runtime and an embedded Kubernetes
// API server, with the real agent talking to both over gRPC and HTTP. What the kubelet would do
// (pull with the pod's secret, start from the cache) is played by this script.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../config.ts';
import type { CriImage } from '../cri/types.ts';
import type { Finding } from '../detect/finding.ts';
import { startEmbeddedCriRuntime } from '../embedded/cri-runtime.ts';
import { startEmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../embedded/kubelet-pods.ts';
import type { Logger } from '../log.ts';
import { runAgent } from '../main.ts';
import type { RunningAgent } from '../main.ts';

export const REGISTRY = 'registry.example.com';
export const SECRET_IMAGE = `${REGISTRY}/team-a/super-secret-image-1:v1`;
const MANIFEST = `sha256:${'5e'.repeat(32)}`;
const SECRET_IMAGE_ID = `sha256:${'a1'.repeat(32)}`;
const NODE = 'demo-node';

const publicImages: CriImage[] = [
  {
    id: `sha256:${'0f'.repeat(32)}`,
    repoTags: ['registry.k8s.io/pause:3.10'],
    repoDigests: [`registry.k8s.io/pause@sha256:${'1f'.repeat(32)}`],
    sizeBytes: 320_368n,
    pinned: true,
  },
  {
    id: `sha256:${'2e'.repeat(32)}`,
    repoTags: ['docker.io/library/nginx:1.27'],
    repoDigests: [`docker.io/library/nginx@sha256:${'3e'.repeat(32)}`],
    sizeBytes: 72_995_456n,
    pinned: false,
  },
];

const secretImage: CriImage = {
  id: SECRET_IMAGE_ID,
  repoTags: [SECRET_IMAGE],
  repoDigests: [`${REGISTRY}/team-a/super-secret-image-1@${MANIFEST}`],
  sizeBytes: 48_213_504n,
  pinned: false,
};

export interface DemoOptions {
  readonly listen: string;
  readonly say: (line: string) => void;
  readonly logger: Logger;
}

export interface Demo {
  readonly url: string;
  readonly findings: readonly Finding[];
  stop(): Promise<void>;
}

async function until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function playDemo(options: DemoOptions): Promise<Demo> {
  const { say } = options;
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-demo-'));
  const runtime = await startEmbeddedCriRuntime(join(dir, 'containerd.sock'), {
    images: publicImages,
  });
  const api = await startEmbeddedApiServer();
  for (const ns of ['tenant-a', 'tenant-b']) {
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
  api.store.create(
    'secrets',
    dockerConfigSecret('tenant-a', 'image-pull-secret-1', REGISTRY, {
      username: 'admin1',
      password: 'demo-password-never-shown',
    }),
  );

  const config = loadConfig(
    [
      '--node-name',
      NODE,
      '--cri-endpoint',
      runtime.target,
      '--listen',
      options.listen,
      '--state-dir',
      join(dir, 'state'),
      '--kubelet-root',
      join(dir, 'kubelet'),
      '--auth',
      'none',
      // The story's registry does not exist: visibility comes from who pulled with a secret.
      '--registry-probe',
      'off',
      '--cri-poll-interval',
      '1s',
    ],
    {},
  );
  if (!config.ok) throw new Error(config.error);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeconfigYaml());
  let agent: RunningAgent;
  try {
    agent = await runAgent(config.value, { logger: options.logger, kubeConfig });
  } catch (error) {
    await Promise.all([runtime.stop(), api.stop()]);
    throw error;
  }
  const view = agent.agent;
  await until(() => (view.readiness().ready ? true : undefined), 10_000, 'the agent to be ready');
  say(
    `pullwatch agent on ${NODE}: ${agent.url} (embedded containerd-like runtime over gRPC, embedded API server over HTTP)`,
  );
  say('');
  say(
    '1. Admin1 creates admin1-pod in namespace tenant-a, with imagePullSecrets: [image-pull-secret-1].',
  );
  api.store.create(
    'pods',
    pendingPod('tenant-a', 'admin1-pod', {
      node: NODE,
      image: SECRET_IMAGE,
      pullSecrets: ['image-pull-secret-1'],
      pullPolicy: 'IfNotPresent',
    }),
  );
  await new Promise((r) => setTimeout(r, 400));
  say(
    `   The kubelet pulls ${SECRET_IMAGE} with tenant-a's secret; the image is now in the node's cache.`,
  );
  runtime.setContents({ images: [...publicImages, secretImage] });
  api.store.modify(
    'pods',
    { namespace: 'tenant-a', name: 'admin1-pod' },
    markRunning(`${REGISTRY}/team-a/super-secret-image-1@${MANIFEST}`),
  );
  await until(
    () => view.images().find((i) => i.imageId === SECRET_IMAGE_ID && i.owners.length > 0),
    10_000,
    'the pull to be attributed to tenant-a',
  );
  say('   pullwatch records who brought it: tenant-a (secret image-pull-secret-1).');
  say('');
  say(
    '2. Admin2 creates admin2-pod in namespace tenant-b with the same image, imagePullPolicy: IfNotPresent,',
  );
  say('   and no pull secret. The kubelet finds the image present and starts it from the cache.');
  api.store.create(
    'pods',
    pendingPod('tenant-b', 'admin2-pod', {
      node: NODE,
      image: SECRET_IMAGE,
      pullPolicy: 'IfNotPresent',
    }),
  );
  api.store.modify(
    'pods',
    { namespace: 'tenant-b', name: 'admin2-pod' },
    markRunning(`${REGISTRY}/team-a/super-secret-image-1@${MANIFEST}`),
  );
  const finding = await until(
    () => view.findings().find((f) => f.rule === 'unauthorized-cached-image-use'),
    10_000,
    'the finding',
  );
  say('');
  say(`3. pullwatch flags it (${finding.severity}, ${finding.confidence}):`);
  for (const line of finding.evidence) say(`   - ${line}`);
  say(`   Remediation: ${finding.remediation}`);

  return {
    url: agent.url,
    findings: view.findings(),
    stop: async () => {
      await agent.stop();
      await Promise.all([runtime.stop(), api.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The Admin1/Admin2 story, played in a DemoWorld (a runtime and its registry) and an embedded
// Kubernetes API server, with the real agent talking to both over gRPC and HTTP. What the
// kubelet would do (pull with the pod's secret, start from the cache) is played by this script.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../config.ts';
import type { Finding } from '../detect/finding.ts';
import { startEmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../embedded/kubelet-pods.ts';
import type { Logger } from '../log.ts';
import { runAgent } from '../main.ts';
import type { RunningAgent } from '../main.ts';
import type { DemoWorld } from './world.ts';

const NODE = 'demo-node';

export interface DemoOptions {
  readonly listen: string;
  readonly say: (line: string) => void;
  readonly logger: Logger;
  readonly startWorld: (dir: string) => Promise<DemoWorld>;
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
  const world = await options.startWorld(dir);
  const api = await startEmbeddedApiServer();
  const cleanup = async () => {
    await Promise.all([world.stop(), api.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
  const image = world.secretImage;
  for (const ns of ['tenant-a', 'tenant-b']) {
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
  api.store.create(
    'secrets',
    dockerConfigSecret('tenant-a', 'image-pull-secret-1', world.registry, world.credentials),
  );

  const config = loadConfig(
    [
      '--node-name',
      NODE,
      '--cri-endpoint',
      world.criEndpoint,
      '--listen',
      options.listen,
      '--state-dir',
      join(dir, 'state'),
      '--kubelet-root',
      join(dir, 'kubelet'),
      '--auth',
      'none',
      '--cri-poll-interval',
      '1s',
      ...world.agentArgs,
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
    await cleanup();
    throw error;
  }
  const view = agent.agent.view;
  await until(() => (view.readiness().ready ? true : undefined), 10_000, 'the agent to be ready');
  say(`pullwatch agent on ${NODE}: ${agent.url} (${world.description})`);
  say('');
  say(
    '1. Admin1 creates admin1-pod in namespace tenant-a, with imagePullSecrets: [image-pull-secret-1].',
  );
  api.store.create(
    'pods',
    pendingPod('tenant-a', 'admin1-pod', {
      node: NODE,
      image,
      pullSecrets: ['image-pull-secret-1'],
      pullPolicy: 'IfNotPresent',
    }),
  );
  await new Promise((r) => setTimeout(r, 400));
  const statusImageId = await world.pullSecretImage();
  say(
    `   The kubelet pulls ${image} with tenant-a's secret; the image is now in the node's cache.`,
  );
  api.store.modify(
    'pods',
    { namespace: 'tenant-a', name: 'admin1-pod' },
    markRunning(statusImageId),
  );
  await until(
    () => view.images().find((i) => i.repoTags.includes(image) && i.owners.length > 0),
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
    pendingPod('tenant-b', 'admin2-pod', { node: NODE, image, pullPolicy: 'IfNotPresent' }),
  );
  api.store.modify(
    'pods',
    { namespace: 'tenant-b', name: 'admin2-pod' },
    markRunning(statusImageId),
  );
  const finding = await until(
    () => view.findings().find((f) => f.rule === 'unauthorized-cached-image-use'),
    10_000,
    'the finding',
  );
  // Let registry answers (visibility) land before the findings are printed.
  await until(() => (agent.agent.settled() ? true : undefined), 10_000, 'registry answers');
  agent.agent.reconcile();
  say('');
  say(`3. pullwatch flags it (${finding.severity}, ${finding.confidence}):`);
  for (const line of (view.finding(finding.id) ?? finding).evidence) say(`   - ${line}`);
  say(`   Remediation: ${finding.remediation}`);

  return {
    url: agent.url,
    findings: view.findings(),
    stop: async () => {
      await agent.stop();
      await cleanup();
    },
  };
}

// The demo: the Admin1/Admin2 story (test/kit/story.ts) narrated, in a DemoWorld (a runtime and
// its registry) and an embedded Kubernetes API server, with the real agent running in this
// process and talking to both over gRPC and HTTP.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../../agent/config.ts';
import type { Finding } from '../../../agent/detect/finding.ts';
import type { Logger } from '../../../agent/log.ts';
import { runAgent } from '../../../agent/main.ts';
import type { RunningAgent } from '../../../agent/main.ts';
import { startEmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { ADMIN1_SECRET, ADMIN1_POD, ADMIN2_POD, playStory, Story } from '../story.ts';
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
  const story = new Story(api, world, NODE);
  story.setUp();

  const config = loadConfig(
    [
      // The demo's agent reads the story's pull secret itself: no controller runs here.
      '--secrets-from',
      'direct',
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
  const finding = await playStory(story, {
    before: (step) => {
      switch (step) {
        case 'admin1-creates-pod':
          say(
            `1. Admin1 creates ${ADMIN1_POD.name} in namespace ${ADMIN1_POD.namespace}, with imagePullSecrets: [${ADMIN1_SECRET}].`,
          );
          break;
        case 'admin1-pod-runs':
          say(
            `   The kubelet pulls ${image} with tenant-a's secret; the image is now in the node's cache.`,
          );
          break;
        case 'admin2-runs-from-cache':
          say('');
          say(
            `2. Admin2 creates ${ADMIN2_POD.name} in namespace ${ADMIN2_POD.namespace} with the same image, imagePullPolicy: IfNotPresent,`,
          );
          say(
            '   and no pull secret. The kubelet finds the image present and starts it from the cache.',
          );
          break;
        case 'kubelet-pulls':
          break;
      }
    },
    beforePull: () => new Promise((r) => setTimeout(r, 400)),
    ownerRecorded: async () => {
      await until(
        () => view.images().find((i) => i.repoTags.includes(image) && i.owners.length > 0),
        10_000,
        'the pull to be attributed to tenant-a',
      );
      say(`   pullwatch records who brought it: tenant-a (secret ${ADMIN1_SECRET}).`);
    },
    flagged: () =>
      until(
        () => view.findings().find((f) => f.rule === 'unauthorized-cached-image-use'),
        10_000,
        'the finding',
      ),
  });
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

// The seed story's steps (test/e2e/seed-story.test.ts) for the monitoring tests: a real private
// registry, a real containerd filled the way the kubelet fills it, the in-process API server and
// the real agent as a process. Admin1 (tenant-a) pulls its private image with
// ImagePullSecret1; Admin2 (tenant-b), without the secret, starts it from the cache with
// IfNotPresent. The node ends with an unauthorized-use finding, an exposed private image and
// AlwaysPullImages not enforced.
import { join } from 'node:path';
import type { Finding } from '../../agent/detect/finding.ts';
import { startEmbeddedApiServer } from '../../agent/embedded/kube-apiserver.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { startContainerd } from '../helpers/containerd.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import type { TeardownHost } from '../helpers/tmp.ts';

export const SEED_STORY_TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];
export const NODE = 'node-1';
const ADMIN1 = { username: 'admin1', password: 'pw-admin1-super-secret-9d2e' };

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function dockerConfigSecret(namespace: string, name: string, registry: string) {
  const config = {
    auths: { [registry]: { username: ADMIN1.username, password: ADMIN1.password } },
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace, name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') },
  };
}

function podObject(namespace: string, name: string, image: string, pullSecrets: string[]) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: {
      nodeName: NODE,
      imagePullSecrets: pullSecrets.map((n) => ({ name: n })),
      containers: [{ name: 'app', image, imagePullPolicy: 'IfNotPresent' }],
    },
    status: {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'app',
          image,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
}

function markRunning(imageId: string) {
  return (pod: Record<string, unknown>) => {
    const status = pod.status as { phase: string; containerStatuses: Record<string, unknown>[] };
    status.phase = 'Running';
    for (const c of status.containerStatuses) {
      c.imageID = imageId;
      c.ready = true;
      c.state = { running: { startedAt: new Date().toISOString() } };
    }
    return pod as never;
  };
}

export interface SeedStory {
  readonly agent: AgentProcess;
  /** `host:port` of the agent's HTTP port, for a scrape target. */
  readonly agentAddress: string;
  readonly image: string;
  /** Admin1's pod pulls the image with ImagePullSecret1 and runs; the agent attributes it. */
  admin1PullsItsImage(): Promise<void>;
  /** Admin2's pod starts the same image from the cache; resolves with the agent's finding. */
  admin2RunsItFromTheCache(): Promise<Finding>;
}

/** Starts every part (stopped at teardown) with an empty node; the story is then told in steps. */
export async function startSeedStory(t: TeardownHost, dir: string): Promise<SeedStory> {
  const registry = await startRegistry(t, { users: { [ADMIN1.username]: ADMIN1.password } });
  const layout = await buildImageLayout(join(dir, 'image'), { marker: 'super-secret-image-1' });
  const image = `${registry.host}/team-a/super-secret-image-1:v1`;
  const manifestDigest = await pushLayout(layout.layoutDir, image, ADMIN1);
  const repoDigest = `${registry.host}/team-a/super-secret-image-1@${manifestDigest}`;
  const containerd = await startContainerd(t, { registryMirrors: [registry.host] });

  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  for (const ns of ['tenant-a', 'tenant-b']) {
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
  api.store.create('secrets', dockerConfigSecret('tenant-a', 'image-pull-secret-1', registry.host));

  const agent = await startAgentProcess(t, {
    dir,
    nodeName: NODE,
    criEndpoint: containerd.socket,
    kubeconfigYaml: api.kubeconfigYaml(),
    stateDir: join(dir, 'state'),
    extraArgs: ['--cri-poll-interval', '1s'],
  });

  return {
    agent,
    agentAddress: new URL(agent.url).host,
    image,
    admin1PullsItsImage: async () => {
      api.store.create('pods', podObject('tenant-a', 'admin1-pod', image, ['image-pull-secret-1']));
      await new Promise((r) => setTimeout(r, 300)); // the agent sees the pod starting
      await pullImage(containerd.socket, image, ADMIN1);
      api.store.modify(
        'pods',
        { namespace: 'tenant-a', name: 'admin1-pod' },
        markRunning(`docker-pullable://${repoDigest}`),
      );
      await waitFor(
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
    },
    admin2RunsItFromTheCache: async () => {
      api.store.create('pods', podObject('tenant-b', 'admin2-pod', image, []));
      api.store.modify(
        'pods',
        { namespace: 'tenant-b', name: 'admin2-pod' },
        markRunning(`docker-pullable://${repoDigest}`),
      );
      return waitFor(
        'the unauthorized-use finding',
        async () => {
          const { body } = await agent.getJson<{ items: Finding[] }>(
            '/api/v1/findings?rule=unauthorized-cached-image-use&namespace=tenant-b',
          );
          return body.items[0];
        },
        5_000,
      );
    },
  };
}

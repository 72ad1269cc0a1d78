// The seed story (test/kit/story.ts, played end to end in test/e2e/seed-story.test.ts) as a
// reusable starting point for fault and hostile-input tests: a real private registry, a real
// containerd filled the way the kubelet fills it, the embedded API server, and one or more
// agents as separate processes that end up with an active finding (tenant-b runs tenant-a's
// private image from the cache).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import type { EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../kit/embedded/kubelet-pods.ts';
import { ADMIN1_SECRET, ADMIN2_POD, playStory, Story, TENANT_A } from '../kit/story.ts';
import type { FindingJson as Finding } from '../../agent/http/findings-json.ts';
import type { AgentProcessOptions } from './agent-process.ts';
import type { Containerd } from './containerd.ts';
import { REAL_WORLD_TOOLS, startRealWorld } from './real-world.ts';
import type { Registry } from './registry.ts';
import type { TeardownHost } from './tmp.ts';
import { makeTempDir } from './tmp.ts';
import { sleep, waitFor } from './wait.ts';

export { sleep, waitFor };

export const TOOLS = REAL_WORLD_TOOLS;
export const NODE = 'node-1';
export const ADMIN1 = { username: 'admin1', password: 'pw-admin1-super-secret-9d2e' };
export { ADMIN1_SECRET };
export const UNAUTHORIZED_RULE = 'unauthorized-cached-image-use';

export type { Credentials } from '../kit/story.ts';

export { dockerConfigSecret, markRunning };

/** A pod of the story's node whose container is being created, with IfNotPresent. */
export function podObject(namespace: string, name: string, image: string, pullSecrets: string[]) {
  return pendingPod(namespace, name, {
    node: NODE,
    image,
    pullSecrets,
    pullPolicy: 'IfNotPresent',
  });
}

/** The value of one series in a Prometheus text exposition, or undefined when absent. */
export function metricValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1] !== name) continue;
    const seen = new Map<string, string>();
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      seen.set(pair[1] ?? '', pair[2] ?? '');
    }
    if (Object.entries(labels).every(([k, v]) => seen.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

/** The part of an agent process the story needs. */
export interface AgentClient {
  // The caller names the shape it expects; the body is parsed, not validated.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  getJson<T = unknown>(path: string): Promise<{ status: number; body: T }>;
  getText(path: string): Promise<{ status: number; body: string }>;
}

export interface SeedParts {
  readonly dir: string;
  /** The story's steps on this registry, containerd and API server. */
  readonly story: Story;
  readonly registry: Registry;
  readonly containerd: Containerd;
  readonly api: EmbeddedApiServer;
  /** `127.0.0.1:PORT/team-a/super-secret-image-1:v1` */
  readonly image: string;
  /** The image ID (config digest) containerd reports. */
  readonly imageId: string;
  readonly repoDigest: string;
  /** `.dockerconfigjson` of tenant-a's pull secret, as stored in the Secret (base64). */
  readonly admin1DockerConfigBase64: string;
  /** Options for startAgentProcess; `name` and `stateDir` may be overridden. */
  agentOptions(overrides?: Partial<AgentProcessOptions>): AgentProcessOptions;
}

export interface SeedOptions {
  /** Extra registry users besides admin1. */
  readonly users?: Readonly<Record<string, string>>;
}

/** Registry with admin1's private image, containerd, API server with tenants a, b and c. */
export async function prepareSeed(t: TeardownHost, options: SeedOptions = {}): Promise<SeedParts> {
  const dir = await makeTempDir(t, 'seed');
  const world = await startRealWorld(t, dir, {
    credentials: ADMIN1,
    ...(options.users === undefined ? {} : { users: options.users }),
  });
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  const story = new Story(api, world, NODE);
  const secret = story.setUp(['tenant-c']);
  return {
    dir,
    story,
    registry: world.registryServer,
    containerd: world.containerd,
    api,
    image: world.secretImage,
    imageId: world.imageId,
    repoDigest: world.repoDigest,
    admin1DockerConfigBase64: secret.data['.dockerconfigjson'],
    agentOptions: (overrides = {}) => ({
      dir,
      nodeName: NODE,
      criEndpoint: world.criEndpoint,
      kubeconfigYaml: api.kubeconfigYaml(),
      stateDir: join(dir, 'state'),
      extraArgs: ['--cri-poll-interval', '1s'],
      ...overrides,
    }),
  };
}

export async function findingsOf(
  agent: AgentClient,
  query = `rule=${UNAUTHORIZED_RULE}`,
): Promise<Finding[]> {
  const { status, body } = await agent.getJson<{ items: Finding[] }>(
    `/api/v1/findings${query === '' ? '' : `?${query}`}`,
  );
  if (status !== 200) throw new Error(`GET /api/v1/findings answered ${status}`);
  return body.items;
}

/** Waits until `agent` serves an unauthorized-use finding for the pod. */
export async function waitForFinding(
  agent: AgentClient,
  namespace: string,
  pod: string,
  timeoutMs = 10_000,
): Promise<Finding> {
  return waitFor(
    `a finding for ${namespace}/${pod}`,
    async () => (await findingsOf(agent)).find((f) => f.namespace === namespace && f.pod === pod),
    timeoutMs,
  );
}

/** Waits until `agent` serves tenant-a as an owner of the image `imageId`. */
export async function waitForTenantAOwner(agent: AgentClient, imageId: string): Promise<void> {
  await waitFor(
    'the agent to attribute the pull to tenant-a',
    async () => {
      const { body } = await agent.getJson<{
        items: { imageId: string; owners: { tenant: string }[] }[];
      }>('/api/v1/images');
      const item = body.items.find((i) => i.imageId === imageId);
      return item?.owners.some((o) => o.tenant === TENANT_A) ? item : undefined;
    },
    10_000,
  );
}

/**
 * Plays the story against running agents: admin1's pod pulls the image with its secret (the
 * agents observe the pull), then admin2's pod (tenant-b, no secret) runs it from the cache.
 * Resolves to the finding the first agent serves for admin2's pod.
 */
export async function playSeedStory(
  parts: SeedParts,
  agents: readonly AgentClient[],
): Promise<Finding> {
  const first = agents[0];
  if (first === undefined) throw new Error('playSeedStory needs at least one agent');
  return playStory(parts.story, {
    ownerRecorded: async () => {
      for (const agent of agents) await waitForTenantAOwner(agent, parts.imageId);
    },
    flagged: async () => {
      const flaggedBy = (agent: AgentClient) =>
        waitForFinding(agent, ADMIN2_POD.namespace, ADMIN2_POD.name);
      const [finding] = await Promise.all([flaggedBy(first), ...agents.slice(1).map(flaggedBy)]);
      return finding;
    },
  });
}

/** A pod of `namespace` that the kubelet starts from the cached image (IfNotPresent). */
export function startPodFromCache(
  parts: SeedParts,
  namespace: string,
  name: string,
  pullSecrets: string[],
): void {
  parts.story.runFromCache(namespace, name, pullSecrets);
}

/** Resident set size of a process in bytes (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

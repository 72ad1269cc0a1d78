// The seed story (test/e2e/seed-story.test.ts) as a reusable starting point for fault and
// hostile-input tests: a real private registry, a real containerd filled the way the kubelet
// fills it, the embedded API server, and one or more agents as separate processes that end up
// with an active finding (tenant-b runs tenant-a's private image from the cache).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmbeddedApiServer } from '../../agent/embedded/kube-apiserver.ts';
import type { EmbeddedApiServer } from '../../agent/embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../../agent/embedded/kubelet-pods.ts';
import type { Finding } from '../../agent/detect/finding.ts';
import type { AgentProcessOptions } from './agent-process.ts';
import type { Containerd } from './containerd.ts';
import { startContainerd } from './containerd.ts';
import { pullImage } from './cri-mutate.ts';
import { buildImageLayout } from './oci.ts';
import type { Registry } from './registry.ts';
import { startRegistry } from './registry.ts';
import { pushLayout } from './skopeo.ts';
import type { TeardownHost } from './tmp.ts';
import { makeTempDir } from './tmp.ts';
import { sleep, waitFor } from './wait.ts';

export { sleep, waitFor };

export const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];
export const NODE = 'node-1';
export const ADMIN1 = { username: 'admin1', password: 'pw-admin1-super-secret-9d2e' };
export const ADMIN1_SECRET = 'image-pull-secret-1';
export const UNAUTHORIZED_RULE = 'unauthorized-cached-image-use';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

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

/** Registry with admin1's private image, containerd, API server with tenants a and b. */
export async function prepareSeed(t: TeardownHost, options: SeedOptions = {}): Promise<SeedParts> {
  const dir = await makeTempDir(t, 'seed');
  const registry = await startRegistry(t, {
    users: { [ADMIN1.username]: ADMIN1.password, ...options.users },
  });
  const layout = await buildImageLayout(join(dir, 'image'), { marker: 'super-secret-image-1' });
  const image = `${registry.host}/team-a/super-secret-image-1:v1`;
  const manifestDigest = await pushLayout(layout.layoutDir, image, ADMIN1);
  const containerd = await startContainerd(t, { registryMirrors: [registry.host] });

  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  for (const ns of ['tenant-a', 'tenant-b', 'tenant-c']) {
    api.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
  const secret = dockerConfigSecret('tenant-a', ADMIN1_SECRET, registry.host, ADMIN1);
  api.store.create('secrets', secret);
  return {
    dir,
    registry,
    containerd,
    api,
    image,
    imageId: layout.configDigest,
    repoDigest: `${registry.host}/team-a/super-secret-image-1@${manifestDigest}`,
    admin1DockerConfigBase64: secret.data['.dockerconfigjson'],
    agentOptions: (overrides = {}) => ({
      dir,
      nodeName: NODE,
      criEndpoint: containerd.socket,
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

/**
 * Plays the story against running agents: admin1's pod pulls the image with its secret (the
 * agents observe the pull), then admin2's pod (tenant-b, no secret) runs it from the cache.
 * Resolves to the finding the first agent serves for admin2's pod.
 */
export async function playSeedStory(
  parts: SeedParts,
  agents: readonly AgentClient[],
): Promise<Finding> {
  const { api, image, imageId, repoDigest } = parts;
  api.store.create('pods', podObject('tenant-a', 'admin1-pod', image, [ADMIN1_SECRET]));
  await sleep(300); // the agents see the pod starting before the image arrives
  const pulled = await pullImage(parts.containerd.socket, image, ADMIN1);
  if (pulled !== imageId) throw new Error(`pulled ${pulled}, expected ${imageId}`);
  api.store.modify(
    'pods',
    { namespace: 'tenant-a', name: 'admin1-pod' },
    markRunning(`docker-pullable://${repoDigest}`),
  );
  for (const agent of agents) {
    await waitFor(
      'the agent to attribute the pull to tenant-a',
      async () => {
        const { body } = await agent.getJson<{
          items: { imageId: string; owners: { tenant: string }[] }[];
        }>('/api/v1/images');
        const item = body.items.find((i) => i.imageId === imageId);
        return item?.owners.some((o) => o.tenant === 'tenant-a') ? item : undefined;
      },
      10_000,
    );
  }
  startPodFromCache(parts, 'tenant-b', 'admin2-pod', []);
  const findings = await Promise.all(
    agents.map((agent) => waitForFinding(agent, 'tenant-b', 'admin2-pod')),
  );
  const first = findings[0];
  if (first === undefined) throw new Error('playSeedStory needs at least one agent');
  return first;
}

/** A pod of `namespace` that the kubelet starts from the cached image (IfNotPresent). */
export function startPodFromCache(
  parts: SeedParts,
  namespace: string,
  name: string,
  pullSecrets: string[],
): void {
  parts.api.store.create('pods', podObject(namespace, name, parts.image, pullSecrets));
  parts.api.store.modify(
    'pods',
    { namespace, name },
    markRunning(`docker-pullable://${parts.repoDigest}`),
  );
}

/** Resident set size of a process in bytes (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

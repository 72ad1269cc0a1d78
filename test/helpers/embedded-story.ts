// The seed story (test/kit/story.ts) on an embedded runtime and the in-process API server, with
// the real agent as a process: what the end-to-end tests of pullwatch's writers (Events,
// reports) share. The registry is fictional: the image is private because tenant-a's secret
// brought it, and the cache can be emptied and filled again.
import { join } from 'node:path';
import type { CriImage } from '../../agent/cri/types.ts';
import type { FindingJson as Finding } from '../../agent/http/findings-json.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import type {
  EmbeddedApiServer,
  EmbeddedApiServerOptions,
} from '../kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import type { StoryWorld } from '../kit/story.ts';
import { ADMIN2_POD, playStory, Story } from '../kit/story.ts';
import type { AgentProcess } from './agent-process.ts';
import { startAgentProcess } from './agent-process.ts';
import { waitForFinding, waitForTenantAOwner } from './seed-scenario.ts';
import type { TeardownHost } from './tmp.ts';
import { makeTempDir } from './tmp.ts';

export const NODE = 'node-1';
const REGISTRY = 'private.registry.test';
const IMAGE = `${REGISTRY}/shop/catalog:2.1`;
const REPO_DIGEST = `${REGISTRY}/shop/catalog@sha256:${'c4'.repeat(32)}`;
export const secretImage: CriImage = {
  id: `sha256:${'b7'.repeat(32)}`,
  repoTags: [IMAGE],
  repoDigests: [REPO_DIGEST],
  sizeBytes: 21_000_000n,
  pinned: false,
};

/** A world whose cache the test empties and fills: the image leaves the node and comes back. */
export interface CacheWorld extends StoryWorld {
  evictSecretImage(): void;
}

async function startWorld(t: TeardownHost, dir: string): Promise<CacheWorld> {
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [] });
  t.teardown(() => runtime.stop());
  return {
    criEndpoint: runtime.target,
    secretImage: IMAGE,
    registry: REGISTRY,
    credentials: { username: 'admin1', password: 'embedded-story-password' },
    statusImageId: REPO_DIGEST,
    pullSecretImage: () => {
      runtime.setContents({ images: [secretImage] });
      return Promise.resolve();
    },
    evictSecretImage: () => {
      runtime.setContents({ images: [] });
    },
  };
}

export interface AgentStart {
  /** The process's name (its log is `<dir>/<name>.log`). */
  readonly name: string;
  /** The state dir, under the seed's temp dir. */
  readonly stateDir: string;
  readonly extraArgs?: readonly string[];
  /** The agent's own token for the API server (default: the admin's). */
  readonly token?: string;
}

export interface Seed {
  readonly dir: string;
  readonly api: EmbeddedApiServer;
  readonly world: CacheWorld;
  readonly story: Story;
  start(o: AgentStart): Promise<AgentProcess>;
}

/** The API server, the runtime and the story's namespaces and secret; no agent yet. */
export async function seed(
  t: TeardownHost,
  prefix: string,
  apiOptions: EmbeddedApiServerOptions = {},
): Promise<Seed> {
  const dir = await makeTempDir(t, prefix);
  const world = await startWorld(t, dir);
  const api = await startEmbeddedApiServer(apiOptions);
  t.teardown(() => api.stop());
  const story = new Story(api, world, NODE);
  story.setUp();
  return {
    dir,
    api,
    world,
    story,
    start: (o) =>
      startAgentProcess(t, {
        dir,
        name: o.name,
        nodeName: NODE,
        criEndpoint: world.criEndpoint,
        kubeconfigYaml: api.kubeconfigYaml(o.token === undefined ? {} : { token: o.token }),
        stateDir: join(dir, o.stateDir),
        // The registry is fictional: privacy comes from who pulled with a secret.
        extraArgs: ['--cri-poll-interval', '1s', '--registry-probe', 'off', ...(o.extraArgs ?? [])],
      }),
  };
}

/** Plays the story until the agent flags admin2-pod. */
export async function flagAdmin2(s: Seed, agent: AgentProcess): Promise<Finding> {
  return playStory(s.story, {
    ownerRecorded: () => waitForTenantAOwner(agent, secretImage.id),
    flagged: () => waitForFinding(agent, ADMIN2_POD.namespace, ADMIN2_POD.name),
  });
}

export interface CoreEvent {
  metadata: { name: string; namespace: string; resourceVersion: string };
  involvedObject: Record<string, string>;
  type: string;
  reason: string;
  message: string;
  reportingComponent: string;
  reportingInstance: string;
  series?: { count: number };
}

/** pullwatch's Events on a pod, as `kubectl describe pod` asks for them (core/v1, involvedObject.*). */
export async function podEvents(
  api: EmbeddedApiServer,
  pod: { namespace: string; name: string },
): Promise<CoreEvent[]> {
  const selector = `involvedObject.kind=Pod,involvedObject.namespace=${pod.namespace},involvedObject.name=${pod.name}`;
  const res = await fetch(
    `${api.url}/api/v1/namespaces/${pod.namespace}/events?fieldSelector=${encodeURIComponent(selector)}`,
    { headers: { Authorization: `Bearer ${api.adminToken}` } },
  );
  if (res.status !== 200) throw new Error(`listing events answered ${res.status}`);
  const list = (await res.json()) as { items: CoreEvent[] };
  return list.items.filter((e) => e.reportingComponent === 'pullwatch.dev/agent');
}

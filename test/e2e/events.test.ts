// The Warning Event on the offending pod, end to end: the seed story (test/kit/story.ts) on an
// embedded runtime and the in-process API server, with the real agent as a process. The Event
// is read the way `kubectl describe pod` reads it, through core/v1 with an involvedObject
// field selector, and must name nothing of tenant-a.
import { join } from 'node:path';
import t from 'tap';
import type { CriImage } from '../../agent/cri/types.ts';
import type { FindingJson as Finding } from '../../agent/http/findings-json.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { findingsOf, waitForFinding, waitForTenantAOwner } from '../helpers/seed-scenario.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import type { EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import type { StoryWorld } from '../kit/story.ts';
import { ADMIN1_POD, ADMIN1_SECRET, ADMIN2_POD, playStory, Story, TENANT_A } from '../kit/story.ts';

const NODE = 'node-1';
const REGISTRY = 'private.registry.test';
const IMAGE = `${REGISTRY}/shop/catalog:2.1`;
const REPO_DIGEST = `${REGISTRY}/shop/catalog@sha256:${'c4'.repeat(32)}`;
const secretImage: CriImage = {
  id: `sha256:${'b7'.repeat(32)}`,
  repoTags: [IMAGE],
  repoDigests: [REPO_DIGEST],
  sizeBytes: 21_000_000n,
  pinned: false,
};

/** A world whose cache the test empties and fills: the image leaves the node and comes back. */
interface CacheWorld extends StoryWorld {
  evictSecretImage(): void;
}

async function startWorld(t: TeardownHost, dir: string): Promise<CacheWorld> {
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [] });
  t.teardown(() => runtime.stop());
  return {
    criEndpoint: runtime.target,
    secretImage: IMAGE,
    registry: REGISTRY,
    credentials: { username: 'admin1', password: 'events-test-password' },
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

interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: Record<string, string>;
  type: string;
  reason: string;
  message: string;
  reportingComponent: string;
  reportingInstance: string;
  series?: { count: number };
}

/** The pod's Events as `kubectl describe pod` asks for them (core/v1, involvedObject.*). */
async function podEvents(api: EmbeddedApiServer, pod: { namespace: string; name: string }) {
  const selector = `involvedObject.kind=Pod,involvedObject.namespace=${pod.namespace},involvedObject.name=${pod.name}`;
  const res = await fetch(
    `${api.url}/api/v1/namespaces/${pod.namespace}/events?fieldSelector=${encodeURIComponent(selector)}`,
    { headers: { Authorization: `Bearer ${api.adminToken}` } },
  );
  if (res.status !== 200) throw new Error(`listing events answered ${res.status}`);
  const list = (await res.json()) as { items: CoreEvent[] };
  return list.items.filter((e) => e.reportingComponent === 'pullwatch.dev/agent');
}

/** admin2-pod's Events once the series counts `count`. */
function seriesOf(api: EmbeddedApiServer, count: number): Promise<CoreEvent[]> {
  return waitFor(
    `the series to count ${count}`,
    async () => {
      const events = await podEvents(api, ADMIN2_POD);
      return events[0]?.series?.count === count ? events : undefined;
    },
    15_000,
  );
}

interface Seed {
  readonly dir: string;
  readonly api: EmbeddedApiServer;
  readonly world: CacheWorld;
  readonly story: Story;
  start(name: string, stateDir: string, extraArgs?: readonly string[]): Promise<AgentProcess>;
}

async function seed(t: TeardownHost): Promise<Seed> {
  const dir = await makeTempDir(t, 'e2e-events');
  const world = await startWorld(t, dir);
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  const story = new Story(api, world, NODE);
  story.setUp();
  return {
    dir,
    api,
    world,
    story,
    start: (name, stateDir, extraArgs = []) =>
      startAgentProcess(t, {
        dir,
        name,
        nodeName: NODE,
        criEndpoint: world.criEndpoint,
        kubeconfigYaml: api.kubeconfigYaml(),
        stateDir: join(dir, stateDir),
        // The registry is fictional: privacy comes from who pulled with a secret.
        extraArgs: ['--cri-poll-interval', '1s', '--registry-probe', 'off', ...extraArgs],
      }),
  };
}

/** Plays the story until the agent flags admin2-pod. */
async function flagAdmin2(s: Seed, agent: AgentProcess): Promise<Finding> {
  return playStory(s.story, {
    ownerRecorded: () => waitForTenantAOwner(agent, secretImage.id),
    flagged: () => waitForFinding(agent, ADMIN2_POD.namespace, ADMIN2_POD.name),
  });
}

t.test(
  'the Warning Event is on admin2-pod, names nothing of tenant-a, repeats as a series, and a restart raises nothing',
  async (t) => {
    const s = await seed(t);
    let agent = await s.start('pullwatch', 'state');
    const finding = await flagAdmin2(s, agent);

    const [event] = await waitFor(
      'the Warning Event on admin2-pod',
      async () => {
        const events = await podEvents(s.api, ADMIN2_POD);
        return events.length > 0 ? events : undefined;
      },
      10_000,
    );
    t.match(event, {
      type: 'Warning',
      reason: 'UnauthorizedCachedImage',
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: ADMIN2_POD.namespace,
        name: ADMIN2_POD.name,
        fieldPath: 'spec.containers{app}',
      },
      reportingComponent: 'pullwatch.dev/agent',
      reportingInstance: NODE,
      message: /credentials this namespace does not hold/,
    });
    t.ok(event?.message.includes(finding.id), 'the note names the finding');
    const text = JSON.stringify(event);
    for (const tenantA of [TENANT_A, ADMIN1_SECRET, ADMIN1_POD.name]) {
      t.notOk(text.includes(tenantA), `the Event does not contain "${tenantA}"`);
    }
    t.same(await podEvents(s.api, ADMIN1_POD), [], "tenant-a's own pod gets none");

    // The image leaves the cache (the finding retires) and is pulled again: the same Event
    // counts a series of two instead of a second Event.
    s.world.evictSecretImage();
    await waitFor(
      'the finding to retire',
      async () => ((await findingsOf(agent)).length === 0 ? true : undefined),
      10_000,
    );
    await s.world.pullSecretImage();
    await waitFor(
      'the finding again',
      async () => ((await findingsOf(agent)).length === 1 ? true : undefined),
      10_000,
    );
    const repeated = await seriesOf(s.api, 2);
    t.equal(repeated.length, 1, 'one Event, not two');
    t.equal(repeated[0]?.metadata.name, event?.metadata.name);

    // The agent restarts: its findings keep their times (findings.json in the state dir), so
    // nothing is raised anew: the series stays at two and no Event is written at all.
    const [before] = await findingsOf(agent);
    t.equal(await agent.stop(), 0);
    s.api.clearRequestLog();
    agent = await s.start('pullwatch-restarted', 'state');
    const restarted = await waitForFinding(agent, ADMIN2_POD.namespace, ADMIN2_POD.name);
    t.equal(restarted.firstSeen, before?.firstSeen, 'the same firstSeen after the restart');
    // Give a write that should not happen the time one would take.
    await sleep(1500);
    const afterRestart = await podEvents(s.api, ADMIN2_POD);
    t.equal(afterRestart.length, 1, 'a restart adds no Event');
    t.equal(afterRestart[0]?.series?.count, 2, 'and counts no observation more');
    t.same(
      s.api.requestLog.filter((r) => r.path.startsWith('/apis/events.k8s.io/')).map((r) => r.verb),
      [],
      'no request to events.k8s.io after the restart',
    );

    const metrics = (await agent.getText('/metrics')).body;
    t.match(metrics, /pullwatch_events_written_total\{operation="series"\} 0/);
    t.match(metrics, /pullwatch_events_written_total\{operation="create"\} 0/);
  },
);

t.test('--events off writes none', async (t) => {
  const s = await seed(t);
  const agent = await s.start('pullwatch-events-off', 'state', ['--events', 'off']);
  await flagAdmin2(s, agent);
  // Give a write that should not happen the time one would take.
  await sleep(1500);
  t.same(await podEvents(s.api, ADMIN2_POD), []);
  t.same(
    s.api.requestLog.filter((r) => r.path.startsWith('/apis/events.k8s.io/')),
    [],
    'no request to events.k8s.io at all',
  );
});

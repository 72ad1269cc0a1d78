// The Warning Event on the offending pod, end to end: the seed story (test/kit/story.ts) on an
// embedded runtime and the in-process API server, with the real agent as a process. The Event
// is read the way `kubectl describe pod` reads it, through core/v1 with an involvedObject
// field selector, and must name nothing of tenant-a.
import t from 'tap';
import type { CoreEvent, Seed } from '../helpers/embedded-story.ts';
import { flagAdmin2, NODE, podEvents, seed as seedStory } from '../helpers/embedded-story.ts';
import { findingsOf, waitForFinding } from '../helpers/seed-scenario.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import type { EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { ADMIN1_POD, ADMIN1_SECRET, ADMIN2_POD, TENANT_A } from '../kit/story.ts';

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

const seed = (t: TeardownHost): Promise<Seed> => seedStory(t, 'e2e-events');

t.test(
  'the Warning Event is on admin2-pod, names nothing of tenant-a, repeats as a series, and a restart raises nothing',
  async (t) => {
    const s = await seed(t);
    let agent = await s.start({ name: 'pullwatch', stateDir: 'state' });
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
    agent = await s.start({ name: 'pullwatch-restarted', stateDir: 'state' });
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
  const agent = await s.start({
    name: 'pullwatch-events-off',
    stateDir: 'state',
    extraArgs: ['--events', 'off'],
  });
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

// The API server misbehaves in turn under a running agent: it drops every watch, forgets its
// watch history (410 Gone), answers slowly (5 s per request), then goes away for a while. The
// agent never crashes, keeps exactly the findings it had (same ids, never retired and detected
// again), relists after the 410, and after the outage retires the finding of a pod that was
// deleted while it could not see. The outage lasts 30 s, as a control plane restart may; the
// watch backoff (200 ms doubling to 30 s) may then wait up to 30 s before the next attempt.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import type { Finding } from '../../agent/detect/finding.ts';
import type { RequestRecord } from '../kit/embedded/kube-apiserver.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import {
  TOOLS,
  findingsOf,
  metricValue,
  playSeedStory,
  prepareSeed,
  sleep,
  startPodFromCache,
  waitFor,
  waitForFinding,
} from '../helpers/seed-scenario.ts';

const OUTAGE_MS = 30_000;
// The longest backoff step, plus room for the relist and a reconcile.
const RECOVERY_MS = 45_000;
const SLOW_MS = 7_000;

const ids = (findings: readonly Finding[]): string[] => findings.map((f) => f.id).sort();

t.test('API server faults: no crash, no lost or duplicated finding, recovery', async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const parts = await prepareSeed(t);
  const { api } = parts;
  const agent = await startAgentProcess(t, parts.agentOptions());
  const kept = await playSeedStory(parts, [agent]);
  startPodFromCache(parts, 'tenant-b', 'doomed-pod', []);
  const doomed = await waitForFinding(agent, 'tenant-b', 'doomed-pod');
  // Every rule's findings (the image is also exposed, AlwaysPullImages is not enforced).
  const all = async () => findingsOf(agent, '');
  const before = ids(await all());
  t.ok(before.includes(kept.id) && before.includes(doomed.id), 'both pods are flagged');

  const since = (mark: number, match: (r: RequestRecord) => boolean) =>
    api.requestLog.slice(mark).filter(match);
  const isPods = (r: RequestRecord) => r.path === '/api/v1/pods';
  const expectSameFindings = async (phase: string) => {
    const now = await all();
    t.same(ids(now), before, `${phase}: the same findings, by id`);
    t.equal(new Set(ids(now)).size, now.length, `${phase}: no finding listed twice`);
  };
  // The agent watches again when the latest pods and namespaces requests are watches that
  // started after `from` and are streaming (a dropped watch leaves openWatchCount() late).
  const watchesOpen = (what: string, from: number) =>
    waitFor(
      what,
      async () => {
        const streaming = ['/api/v1/pods', '/api/v1/namespaces'].every((path) => {
          const latest = api.requestLog.findLast((r) => r.path === path);
          return latest?.watch === true && latest.status === 200 && latest.startedAt >= from;
        });
        return streaming && api.openWatchCount() >= 2 ? true : undefined;
      },
      15_000,
    );
  const logText = () => readFile(agent.process.logPath, 'utf8');

  // 1. Every watch is cut.
  let at = Date.now();
  t.equal(api.faults.dropWatches(), 2, 'the agent watched pods and namespaces');
  await watchesOpen('the watches to be opened again after the drop', at);
  t.pass('the pod and namespace watches were started again');
  await expectSameFindings('after the watches were dropped');

  // 2. History is forgotten: a re-watch from the agent's resourceVersion gets 410 Gone.
  let mark = api.requestLog.length;
  at = Date.now();
  api.faults.expireHistory();
  api.faults.dropWatches();
  const relist = await waitFor(
    'a relist of the pods after 410 Gone',
    async () => since(mark, (r) => isPods(r) && !r.watch && r.status === 200)[0],
    15_000,
  );
  t.match(
    await logText(),
    /"path":"\/api\/v1\/pods".*"msg":"watch resourceVersion expired: relisting"/,
    'the re-watch was answered 410 Gone and the agent relisted',
  );
  t.equal(
    relist.query.resourceVersion,
    undefined,
    'after 410 the relist is a consistent read (no resourceVersion=0 from the watch cache)',
  );
  await watchesOpen('the watches after the relist', at);
  await expectSameFindings('after 410 and the relist');

  // 3. The API server is slow: every request waits 5 s.
  at = Date.now();
  api.faults.setLatency(5000);
  api.faults.dropWatches();
  const slowUntil = Date.now() + SLOW_MS;
  const served: string[] = [];
  let slowestMs = 0;
  while (Date.now() < slowUntil) {
    const started = Date.now();
    served.push(ids(await all()).join());
    slowestMs = Math.max(slowestMs, Date.now() - started);
    await sleep(500);
  }
  t.same(
    [...new Set(served)],
    [before.join()],
    `while the API server is slow: the same findings, ${served.length} times`,
  );
  t.ok(slowestMs < 1000, `the agent's own API stayed fast (slowest answer ${slowestMs} ms)`);
  t.ok(
    api.requestLog.some((r) => r.path === '/api/v1/pods' && r.watch && r.startedAt >= at),
    'the agent asked the slow API server for a new watch',
  );
  api.faults.setLatency(0);
  await watchesOpen('the watches after the slow period', at);
  await expectSameFindings('after the slow period');

  // 4. The API server is down; meanwhile doomed-pod is deleted.
  const errorsBefore =
    metricValue((await agent.getText('/metrics')).body, 'pullwatch_errors_total', {
      source: 'kubernetes',
    }) ?? 0;
  await api.faults.setDown(true);
  api.store.delete('pods', { namespace: 'tenant-b', name: 'doomed-pod' });
  await waitFor(
    'pullwatch_up{source="kubernetes"} 0',
    async () =>
      metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', {
        source: 'kubernetes',
      }) === 0
        ? true
        : undefined,
    5_000,
  );
  const during = await agent.getJson<{ items: Finding[]; stale: boolean }>('/api/v1/findings');
  // Until the agent hears of the deletion, doomed-pod's finding stays.
  t.equal(during.body.stale, true, 'findings are served marked stale while the API server is down');
  t.same(ids(during.body.items), before, 'the last findings are kept during the outage');
  await sleep(OUTAGE_MS);
  mark = api.requestLog.length;
  await api.faults.setDown(false);
  const upAgain = Date.now();
  await waitFor(
    'the deleted pod finding to be retired',
    async () => {
      const now = ids(await all());
      return now.join() === before.filter((id) => id !== doomed.id).join() ? true : undefined;
    },
    RECOVERY_MS,
    200,
  );
  t.pass(
    `the finding of the pod deleted during the outage was retired ${Date.now() - upAgain} ms after the API server came back`,
  );
  await waitFor(
    'pullwatch_up{source="kubernetes"} 1',
    async () =>
      metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', {
        source: 'kubernetes',
      }) === 1
        ? true
        : undefined,
    // Each watch (pods, namespaces) backs off on its own: the one that was in its longest
    // step when the server came back may still be waiting after the pod watch recovered.
    RECOVERY_MS,
  );
  t.ok(since(mark, isPods).length >= 1, 'the agent read the pods again after the outage');
  const metrics = (await agent.getText('/metrics')).body;
  t.ok(
    (metricValue(metrics, 'pullwatch_errors_total', { source: 'kubernetes' }) ?? 0) > errorsBefore,
    'the outage is counted in pullwatch_errors_total{source="kubernetes"}',
  );
  const after = await agent.getJson<{ items: Finding[]; stale: boolean }>('/api/v1/findings');
  t.equal(after.body.stale, false, 'no longer stale');
  const survivor = after.body.items.find((f) => f.id === kept.id);
  t.equal(survivor?.firstSeen, kept.firstSeen, 'the kept finding is the same one (same firstSeen)');

  t.notOk(agent.process.hasExited(), 'the agent never crashed');
  const log = (await logText()).split('\n');
  const lines = (id: string, message: string) =>
    log.filter((l) => l.includes(`"finding":"${id}"`) && l.includes(`"msg":"${message}"`)).length;
  t.equal(lines(kept.id, 'finding detected'), 1, 'the kept finding was detected exactly once');
  t.equal(lines(kept.id, 'finding retired'), 0, 'the kept finding was never retired');
  t.equal(lines(doomed.id, 'finding retired'), 1, 'the deleted pod finding was retired once');
  t.equal(log.filter((l) => l.includes('"level":"fatal"')).length, 0, 'nothing fatal was logged');
  t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
});

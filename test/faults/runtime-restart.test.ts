// The container runtime crashes (SIGKILL) under a running agent and comes back: the agent stays
// up, keeps serving its last findings marked stale, reports pullwatch_up{source="cri"} 0 within
// 2.5 s of the crash, and is back to 1 within 3 s of the runtime answering again.
import t from 'tap';
import type { Finding } from '../../agent/detect/finding.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import {
  TOOLS,
  UNAUTHORIZED_RULE,
  metricValue,
  playSeedStory,
  prepareSeed,
  sleep,
  waitFor,
} from '../helpers/seed-scenario.ts';

interface StatusBody {
  stale: boolean;
  sources: { cri: { up: boolean; stale: boolean; error: string | null } };
}

t.test('a runtime crash leaves the findings served, marked stale, until it is back', async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const parts = await prepareSeed(t);
  const agent = await startAgentProcess(t, parts.agentOptions());
  const finding = await playSeedStory(parts, [agent]);
  const criUp = async () =>
    metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', { source: 'cri' });
  t.equal(await criUp(), 1, 'pullwatch_up{source="cri"} is 1 while the runtime answers');

  const crashed = Date.now();
  await parts.containerd.kill();
  await waitFor(
    'pullwatch_up{source="cri"} 0',
    async () => ((await criUp()) === 0 ? true : undefined),
    10_000,
  );
  const downMs = Date.now() - crashed;
  t.ok(downMs <= 2_500, `pullwatch_up{source="cri"} 0 ${downMs} ms after the runtime crashed`);

  // Down for a few seconds: long enough for the CRI client's reconnect backoff to reach its cap.
  const downUntil = Date.now() + 4_000;
  while (Date.now() < downUntil) {
    const { status, body } = await agent.getJson<{ items: Finding[]; stale: boolean }>(
      `/api/v1/findings?rule=${UNAUTHORIZED_RULE}`,
    );
    if (status !== 200 || !body.stale || body.items.map((f) => f.id).join() !== finding.id) {
      t.fail('while the runtime is down the last findings are served, marked stale', {
        status,
        body,
      });
      break;
    }
    await sleep(250);
  }
  const downStatus = (await agent.getJson<StatusBody>('/api/v1/status')).body;
  t.match(
    downStatus,
    { stale: true, sources: { cri: { up: false, stale: true, error: String } } },
    '/api/v1/status names the runtime as the stale source, with the error',
  );
  const single = await agent.getJson<{ item: Finding; stale: boolean }>(
    `/api/v1/findings/${finding.id}`,
  );
  t.match(single, { status: 200, body: { item: { id: finding.id }, stale: true } });
  const images = await agent.getJson<{ items: { imageId: string }[]; stale: boolean }>(
    '/api/v1/images',
  );
  t.equal(images.body.stale, true, '/api/v1/images is marked stale too');
  t.ok(
    images.body.items.some((i) => i.imageId === parts.imageId),
    'the last image listing is still served',
  );
  t.notOk(agent.process.hasExited(), 'the agent is still running');

  await parts.containerd.restart();
  const back = Date.now();
  await waitFor(
    'pullwatch_up{source="cri"} 1',
    async () => ((await criUp()) === 1 ? true : undefined),
    10_000,
  );
  const recoveryMs = Date.now() - back;
  t.ok(recoveryMs <= 3_000, `back to pullwatch_up 1 ${recoveryMs} ms after the runtime answered`);

  const after = await agent.getJson<{ items: Finding[]; stale: boolean }>(
    `/api/v1/findings?rule=${UNAUTHORIZED_RULE}`,
  );
  t.equal(after.body.stale, false, 'no longer stale');
  t.same(
    after.body.items.map((f) => f.id),
    [finding.id],
    'the same finding, neither lost nor duplicated',
  );
  const errors = metricValue((await agent.getText('/metrics')).body, 'pullwatch_errors_total', {
    source: 'cri',
  });
  t.ok(
    (errors ?? 0) >= 1,
    `the outage is counted in pullwatch_errors_total{source="cri"} (${errors})`,
  );
  t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
});

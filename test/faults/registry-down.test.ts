// The registry goes away while the agent has questions for it: a new tenant's credential must be
// verified, and a restarted agent probes the repository's visibility afresh. Probes fail, and
// what the agent knew stands: the image stays private, the finding stays (same id, same
// severity), and a pod whose credential cannot be checked is flagged as unverified rather than
// being let through.
import t from 'tap';
import type { Finding } from '../../agent/detect/finding.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import {
  TOOLS,
  dockerConfigSecret,
  findingsOf,
  metricValue,
  playSeedStory,
  prepareSeed,
  startPodFromCache,
  waitFor,
  waitForFinding,
} from '../helpers/seed-scenario.ts';

const CAROL = { username: 'carol', password: 'pw-carol-not-her-password-41c7' };

async function imageVisibility(agent: AgentProcess, imageId: string): Promise<string | undefined> {
  const { body } = await agent.getJson<{ items: { imageId: string; visibility: string }[] }>(
    '/api/v1/images',
  );
  return body.items.find((i) => i.imageId === imageId)?.visibility;
}

async function probeErrors(agent: AgentProcess): Promise<number> {
  const metrics = (await agent.getText('/metrics')).body;
  return metricValue(metrics, 'pullwatch_registry_probes_total', { result: 'error' }) ?? 0;
}

t.test('a registry outage keeps the last known visibility and the finding', async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const parts = await prepareSeed(t);
  const options = parts.agentOptions();
  let agent = await startAgentProcess(t, options);
  const finding = await playSeedStory(parts, [agent]);
  t.equal(await imageVisibility(agent, parts.imageId), 'private', 'the registry said: private');
  t.equal(await probeErrors(agent), 0, 'no probe failed while the registry was up');

  await parts.registry.stop();

  // tenant-c's own credential for the image must be checked: the registry cannot be asked.
  parts.api.store.create(
    'secrets',
    dockerConfigSecret('tenant-c', 'carol-pull', parts.registry.host, CAROL),
  );
  startPodFromCache(parts, 'tenant-c', 'carol-pod', ['carol-pull']);
  await waitFor(
    'a failed credential probe',
    async () => ((await probeErrors(agent)) >= 1 ? true : undefined),
    15_000,
  );
  const carol = await waitForFinding(agent, 'tenant-c', 'carol-pod');
  t.equal(carol.confidence, 'possible', 'a credential the registry cannot judge is not trusted');
  t.ok(
    carol.evidence.some((e) => e.includes('could not be verified')),
    'the evidence says the credential could not be verified',
  );
  t.equal(
    await imageVisibility(agent, parts.imageId),
    'private',
    'still private after the failed probe',
  );
  const during = (await findingsOf(agent)).find((f) => f.id === finding.id);
  t.match(
    during,
    { id: finding.id, severity: finding.severity, confidence: finding.confidence },
    'the finding stays, unchanged',
  );

  // A restarted agent has no registry answers in memory: its visibility probe fails too.
  t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
  agent = await startAgentProcess(t, { ...options, name: 'pullwatch-restarted' });
  await waitFor(
    'the restarted agent to fail a visibility probe',
    async () => ((await probeErrors(agent)) >= 1 ? true : undefined),
    15_000,
  );
  const after = await waitFor(
    'the finding after the restart',
    async () => (await findingsOf(agent)).find((f: Finding) => f.id === finding.id),
    10_000,
  );
  t.equal(after.severity, finding.severity, 'same severity after the restart');
  t.equal(
    await imageVisibility(agent, parts.imageId),
    'private',
    'private still: the pull with a secret is remembered in the state dir',
  );
  t.notOk(agent.process.hasExited(), 'the agent is running');
  t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
});

// The state dir cannot be written, in the two ways root meets: a path through a regular file
// (ENOTDIR: chmod does not stop root, so "read-only" is made this way) and a full disk (the agent
// runs under a 256-byte file size limit, so every write past it fails with EFBIG). Two agents
// watch the same node through the seed story: both keep detecting, log the save failure once
// however often it recurs, and count every failure in pullwatch_errors_total{source="state"}.
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ImageId } from '../../agent/image/digest.ts';
import { decodeProvenanceState } from '../../agent/provenance/state-format.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import type { LimitedAgent } from './limited-agent.ts';
import { startAgentWithFileSizeLimit } from './limited-agent.ts';
import type { AgentClient } from '../helpers/seed-scenario.ts';
import {
  NODE,
  TOOLS,
  metricValue,
  playSeedStory,
  prepareSeed,
  sleep,
  waitFor,
} from '../helpers/seed-scenario.ts';

const stateErrors = async (agent: AgentClient) =>
  metricValue((await agent.getText('/metrics')).body, 'pullwatch_errors_total', {
    source: 'state',
  }) ?? 0;

interface LogLine {
  level?: string;
  source?: string;
  msg?: string;
}

function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

t.test('an unwritable or full state dir: detection goes on, one log line, counted', async (t) => {
  if (!requireTools(t, [...TOOLS, 'setpriv', 'prlimit'])) return;
  const parts = await prepareSeed(t);
  const blocker = join(parts.dir, 'not-a-directory');
  await writeFile(blocker, 'a regular file where the state dir path needs a directory\n');
  const notDir = await startAgentProcess(
    t,
    parts.agentOptions({ name: 'pullwatch-enotdir', stateDir: join(blocker, 'state') }),
  );
  const full: LimitedAgent = await startAgentWithFileSizeLimit(t, {
    ...parts.agentOptions({ name: 'pullwatch-full', stateDir: join(parts.dir, 'state-full') }),
    fileSizeLimitBytes: 256,
  });
  const agents = [
    { name: 'ENOTDIR', client: notDir, log: () => notDir.process.logTail(1_000_000) },
    { name: 'full disk', client: full, log: () => full.log() },
  ];

  const finding = await playSeedStory(parts, [notDir, full]);
  t.equal(finding.pod, 'admin2-pod', 'detection works without a usable state dir');

  // A change the agents see (a namespace's labels: a pod's labels are not part of its view, so
  // relabelling a pod changes nothing for them), so that they reconcile.
  const poke = (value: string): void => {
    parts.api.store.modify('namespaces', { name: 'tenant-b' }, (ns) => {
      ns.metadata.labels = { ...ns.metadata.labels, poke: value };
      return ns;
    });
  };
  // Each reconcile retries the save: poke the agents until every one has failed several times.
  for (let i = 0; ; i++) {
    const counts = await Promise.all(agents.map(({ client }) => stateErrors(client)));
    if (counts.every((n) => n >= 3)) break;
    if (i > 100) throw new Error(`state errors stayed at ${counts.join(', ')}`);
    poke(String(i));
    await sleep(200);
  }

  for (const { name, client, log } of agents) {
    const errors = await stateErrors(client);
    t.ok(errors >= 3, `${name}: every failed save is counted (${errors})`);
    const lines = logLines(await log());
    const saveFailures = lines.filter(
      (l) => l.source === 'state' && l.level === 'error' && /could not save/.test(l.msg ?? ''),
    );
    t.equal(saveFailures.length, 1, `${name}: the save failure is logged once`);
    t.comment(`${name}: ${saveFailures[0]?.msg ?? '(none)'}`);
    const served = await waitFor(
      `${name}: the finding`,
      async () => {
        const { body } = await client.getJson<{ items: { id: string }[] }>('/api/v1/findings');
        return body.items.find((f) => f.id === finding.id);
      },
      5_000,
    );
    t.ok(served, `${name}: the finding is still served`);
  }
  const enotdirLines = logLines(await notDir.process.logTail(1_000_000));
  t.ok(
    enotdirLines.some((l) => /ENOTDIR|not a directory/i.test(l.msg ?? '')),
    'the ENOTDIR agent says why',
  );
  const fullLines = logLines(await full.log());
  t.ok(
    fullLines.some((l) => /EFBIG|too large/i.test(l.msg ?? '')),
    'the full-disk agent says why',
  );

  t.same(
    (await readdir(join(parts.dir, 'state-full'))).filter((f) => f.includes('.tmp-')),
    [],
    'failed writes leave no temp file behind',
  );

  // The path becomes a directory: the next save succeeds, is logged once, and is whole.
  await rm(blocker);
  await mkdir(join(blocker, 'state'), { recursive: true });
  const saved = join(blocker, 'state', 'provenance.json');
  for (
    let i = 0;
    !(await notDir.process.logTail(1_000_000)).includes('state dir writable again');
    i++
  ) {
    if (i > 50) throw new Error('the ENOTDIR agent never saved after the directory appeared');
    poke(`again-${i}`);
    await sleep(200);
  }
  const decoded = decodeProvenanceState(await readFile(saved, 'utf8'), NODE);
  t.ok(
    decoded.ok && decoded.value.images.has(parts.imageId as ImageId),
    'the saved state is whole',
  );

  t.notOk(notDir.process.hasExited() || full.hasExited(), 'neither agent crashed');
  t.equal(await notDir.stop(), 0, 'the ENOTDIR agent exits 0 on SIGTERM');
  t.equal(await full.stop(), 0, 'the full-disk agent exits 0 on SIGTERM');
});

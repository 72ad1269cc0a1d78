// SIGTERM at random moments while the agent is busy: the kubelet keeps updating its pulled record
// (so provenance changes and ~100 entries are saved again and again, several times a second) and
// pods churn (so scans keep running).
// After every stop the agent has exited 0 within a few seconds, and the state file is whole:
// the decoder of agent/provenance/state-format.ts accepts it, so it is the old version or the
// new one, never a torn mix. At the end a restarted agent still serves the seed finding.
import { cp, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import type { ImageId } from '../../agent/image/digest.ts';
import { recordPathForImageId } from '../../agent/provenance/kubelet-record-format.ts';
import { decodeProvenanceState } from '../../agent/provenance/state-format.ts';
import { STATE_FILE_NAME } from '../../agent/provenance/state-store.ts';
import { OWNER_LAST_SEEN_STEP_MS } from '../../agent/provenance/owner-merge.ts';
import { kubeletCredentialHash } from '../../agent/credentials/pull-secret.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { buildManyImagesArchive } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import {
  ADMIN1,
  ADMIN1_SECRET,
  NODE,
  TOOLS,
  playSeedStory,
  podObject,
  prepareSeed,
  sleep,
  waitFor,
  findingsOf,
} from '../helpers/seed-scenario.ts';

const ROUNDS = 5;
/** Images in the cache besides the seed image: ~100 state entries make each save a real write. */
const BULK_IMAGES = 100;
/** The agent stops within this long after SIGTERM ("a few seconds"). */
const STOP_BUDGET_MS = 5_000;

t.test('SIGTERM during activity: exit 0 quickly, the state file never torn', async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const parts = await prepareSeed(t);
  const stateDir = join(parts.dir, 'state');
  // Every resync is a scan that rereads the kubelet's records.
  const options = parts.agentOptions({
    extraArgs: ['--cri-poll-interval', '1s', '--resync-interval', '250ms'],
  });
  const first = await startAgentProcess(t, options);
  const finding = await playSeedStory(parts, [first]);
  const bulk = await buildManyImagesArchive(
    join(parts.dir, 'bulk.tar'),
    BULK_IMAGES,
    `${parts.registry.host}/bulk/image`,
  );
  await parts.containerd.ctr(['images', 'import', '--no-unpack', bulk.archivePath]);
  await waitFor(
    'the first agent to list the bulk images',
    async () => {
      const { body } = await first.getJson<{ items: unknown[] }>('/api/v1/images');
      return body.items.length > BULK_IMAGES ? true : undefined;
    },
    30_000,
    250,
  );
  t.equal(await first.stop(), 0, 'the first agent exits 0');

  // The kubelet (KEP-2535) keeps rewriting its pulled record of the seed image: each resync
  // then moves the owner's lastSeen, and the agent saves its state again. An owner's lastSeen
  // moves in steps of OWNER_LAST_SEEN_STEP_MS, so each rewrite says a step later than the last
  // (starting a day ago, so that the times stay in the past).
  const recordPath = recordPathForImageId(join(parts.dir, 'kubelet'), parts.imageId as ImageId);
  await mkdir(dirname(recordPath), { recursive: true });
  const imageName = parts.image.slice(0, parts.image.lastIndexOf(':'));
  let recordTime = Date.now() - 24 * 60 * 60_000;
  const writeRecord = async (): Promise<void> => {
    recordTime += OWNER_LAST_SEEN_STEP_MS;
    const record = {
      kind: 'ImagePulledRecord',
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      lastUpdatedTime: new Date(recordTime).toISOString(),
      imageRef: parts.imageId,
      credentialMapping: {
        [imageName]: {
          kubernetesSecrets: [
            {
              uid: 'uid-image-pull-secret-1',
              namespace: 'tenant-a',
              name: ADMIN1_SECRET,
              credentialHash: kubeletCredentialHash(ADMIN1.username, ADMIN1.password),
            },
          ],
        },
      },
    };
    // As the kubelet writes it: a temp file renamed into place.
    await writeFile(`${recordPath}.tmp`, JSON.stringify(record));
    await rename(`${recordPath}.tmp`, recordPath);
  };
  let busy = true;
  const recording = (async () => {
    while (busy) {
      await writeRecord();
      await sleep(100);
    }
  })();
  const churning = (async () => {
    for (let i = 0; busy; i++) {
      const name = `churn-${i % 3}`;
      if (parts.api.store.delete('pods', { namespace: 'tenant-b', name }).ok) continue;
      parts.api.store.create('pods', podObject('tenant-b', name, parts.image, []));
      await sleep(50);
    }
  })();

  // Two agents per round, each with its own copy of the state, stopped at independent moments:
  // twice the SIGTERMs for the wall time (starting an agent is what takes long).
  const stateDirs = [stateDir, join(parts.dir, 'state-twin')];
  await cp(stateDir, stateDirs[1] ?? '', { recursive: true });
  const stops: { round: number; delay: number; code: number | null; ms: number }[] = [];
  const versions = new Set<string>();
  const stopAtRandom = async (round: number, dir: string, name: string): Promise<void> => {
    const agent = await startAgentProcess(t, { ...options, stateDir: dir, name });
    const delay = Math.floor(Math.random() * 1000);
    await sleep(delay);
    const signalled = Date.now();
    const code = await agent.stop();
    stops.push({ round, delay, code, ms: Date.now() - signalled });
    const text = await readFile(join(dir, STATE_FILE_NAME), 'utf8');
    const decoded = decodeProvenanceState(text, NODE);
    if (decoded.ok) versions.add(`${dir}@${decoded.value.savedAt}`);
    else t.fail(`${name}: the state file does not decode`, { error: decoded.error, delay });
    const leftovers = (await readdir(dir)).filter((f) => f.includes('.tmp-'));
    if (leftovers.length > 0) t.fail(`${name}: temp files left behind`, { leftovers });
  };
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      stateDirs.map((dir, i) => stopAtRandom(round, dir, `pullwatch-round-${round}-${i}`)),
    );
  }
  busy = false;
  await Promise.all([recording, churning]);

  const failed = stops.filter((s) => s.code !== 0);
  t.same(failed, [], `${stops.length} SIGTERMs at random moments: every exit code is 0`);
  const slowest = Math.max(...stops.map((s) => s.ms));
  t.ok(slowest <= STOP_BUDGET_MS, `every agent stopped within ${slowest} ms of SIGTERM`);
  t.pass('after every stop the state file decoded whole, and no temp file was left');
  t.ok(
    versions.size >= stops.length / 2,
    `the state was rewritten during the activity (${versions.size} versions over ${stops.length} stops)`,
  );

  const last = await startAgentProcess(t, { ...options, name: 'pullwatch-after' });
  await waitFor(
    'the seed finding after all the restarts',
    async () => (await findingsOf(last)).find((f) => f.id === finding.id),
    10_000,
  );
  t.pass('a restarted agent still serves the seed finding');
  t.equal(await last.stop(), 0, 'the last agent exits 0');
});

// The runtime is not there yet when the agent starts (a node booting), then goes away under the
// running agent (stopped, then killed) and comes back each time. At the default poll interval
// (15 s) the agent still follows within seconds: ready within 3 s of the runtime answering,
// pullwatch_up{source="cri"} 0 within 2.5 s of the runtime going away, 1 again within 3 s of
// its return, the last listing served marked stale in between.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { startContainerd } from '../helpers/containerd.ts';
import { buildManyImagesArchive } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { metricValue } from '../helpers/seed-scenario.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * Enough images that containerd's CRI plugin, loading them at start, answers "server is not
 * initialized yet" for a moment (about 0.5 s here), as a node's runtime does at boot.
 */
const IMAGES = 500;

interface StatusBody {
  stale: boolean;
  sources: { cri: { up: boolean; stale: boolean; error: string | null; lastSync: string | null } };
}

const criUp = async (agent: AgentProcess): Promise<number | undefined> =>
  metricValue((await agent.getText('/metrics')).body, 'pullwatch_up', { source: 'cri' });

t.test(
  'the agent follows the runtime coming up, going away and coming back within seconds, not at its poll interval',
  async (t) => {
    if (!requireTools(t, ['containerd', 'ctr'])) return;
    const dir = await makeTempDir(t, 'runtime-availability');
    const containerd = await startContainerd(t);
    const bulk = await buildManyImagesArchive(
      join(dir, 'bulk.tar'),
      IMAGES,
      'docker.io/pullwatch/boot',
    );
    await containerd.ctr(['images', 'import', '--no-unpack', bulk.archivePath]);
    await containerd.stop();
    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());

    // 1. The agent starts before the runtime, fails its first listing and keeps trying.
    let readyAt: number | undefined;
    const starting = startAgentProcess(t, {
      dir,
      nodeName: 'node-1',
      criEndpoint: containerd.socket,
      kubeconfigYaml: api.kubeconfigYaml(),
      stateDir: join(dir, 'state'),
      extraArgs: ['--cri-poll-interval', '15s'],
      readyTimeoutMs: 120_000,
    }).then((agent) => {
      readyAt = Date.now();
      return agent;
    });
    // Awaited below; until then a failed start must not count as an unhandled rejection.
    starting.catch(() => undefined);
    const log = join(dir, 'pullwatch.log');
    await waitFor(
      "the agent's first failed listing",
      async () =>
        (await readFile(log, 'utf8')).includes('container runtime unavailable') ? true : undefined,
      60_000,
    );
    // Away a while longer, so that the retries have reached their longest delay.
    await sleep(3_000);
    t.equal(readyAt, undefined, 'not ready while the runtime is away');
    await containerd.restart();
    const answered = Date.now();
    const agent = await starting;
    const readyMs = (readyAt ?? Number.POSITIVE_INFINITY) - answered;
    t.ok(readyMs <= 3_000, `/readyz 200 ${readyMs} ms after the runtime answered (poll 15 s)`);
    t.equal(await criUp(agent), 1, 'pullwatch_up{source="cri"} 1');
    const listed = await agent.getJson<{ items: unknown[]; stale: boolean }>('/api/v1/images');
    t.match(listed.body, { stale: false }, 'the cache is listed, not stale');
    t.equal(listed.body.items.length, IMAGES, `all ${IMAGES} images listed`);

    // 2. and 4. The runtime goes away between two listings: stopped, later killed.
    const outage = async (how: 'stop' | 'kill'): Promise<void> => {
      const gone = Date.now();
      const going = how === 'stop' ? containerd.stop() : containerd.kill();
      await waitFor(
        'pullwatch_up{source="cri"} 0',
        async () => ((await criUp(agent)) === 0 ? true : undefined),
        20_000,
      );
      const downMs = Date.now() - gone;
      await going;
      t.ok(downMs <= 2_500, `${how}: pullwatch_up{source="cri"} 0 ${downMs} ms after the signal`);
      const status = (await agent.getJson<StatusBody>('/api/v1/status')).body;
      t.match(
        status,
        { stale: true, sources: { cri: { up: false, stale: true, error: String } } },
        `${how}: /api/v1/status says the runtime is down and its view stale`,
      );
      const images = await agent.getJson<{ items: unknown[]; stale: boolean }>('/api/v1/images');
      t.equal(images.body.stale, true, `${how}: /api/v1/images is marked stale`);
      t.equal(images.body.items.length, IMAGES, `${how}: the last listing is still served`);

      // 3. and 5. It comes back: up again, and listed, within seconds.
      const lastSync = status.sources.cri.lastSync;
      await containerd.restart();
      const back = Date.now();
      await waitFor(
        'pullwatch_up{source="cri"} 1',
        async () => ((await criUp(agent)) === 1 ? true : undefined),
        20_000,
      );
      const upMs = Date.now() - back;
      t.ok(
        upMs <= 3_000,
        `${how}: pullwatch_up{source="cri"} 1 ${upMs} ms after the runtime answered`,
      );
      const after = (await agent.getJson<StatusBody>('/api/v1/status')).body;
      t.match(after, { stale: false, sources: { cri: { up: true, stale: false, error: null } } });
      t.not(after.sources.cri.lastSync, lastSync, `${how}: a new listing was taken`);
    };
    await outage('stop');
    await outage('kill');

    t.notOk(agent.process.hasExited(), 'the agent ran throughout');
    t.equal(await agent.stop(), 0, 'the agent exits 0 on SIGTERM');
  },
);

// The agent as the image runs it (NODE_OPTIONS' --expose-gc, Dockerfile) gives back the heap
// slack of its first sync once it is ready (agent/heap-reducer.ts), and says so in its debug log.
// The embedded runtime and API server stand in for the node.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const NODE = 'node-heap';

interface ReductionLine {
  readonly source: string;
  readonly reason: string;
  readonly beforeMiB: number;
  readonly afterMiB: number;
  readonly pauseMs: number;
}

async function reductions(logPath: string): Promise<ReductionLine[]> {
  const text = await readFile(logPath, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.includes('"msg":"heap reduced"'))
    .map((line) => JSON.parse(line) as ReductionLine);
}

t.test('with --expose-gc, one memory-reducing collection once the agent is ready', async (t) => {
  const dir = await makeTempDir(t, 'heap-reduction');
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), { images: [] });
  t.teardown(() => runtime.stop());
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  const options = {
    dir,
    nodeName: NODE,
    criEndpoint: runtime.target,
    kubeconfigYaml: api.kubeconfigYaml(),
    extraArgs: ['--registry-probe', 'off'],
  };

  const withGc = await startAgentProcess(t, {
    ...options,
    name: 'with-gc',
    stateDir: join(dir, 'state-gc'),
    nodeArgs: ['--expose-gc'],
  });
  const [ready] = await waitFor(
    'the reduction after ready in the log',
    async () => {
      const found = await reductions(withGc.process.logPath);
      return found.length > 0 ? found : undefined;
    },
    15_000,
    100,
  );
  t.match(ready, { source: 'heap', reason: 'ready' });
  t.ok(
    ready !== undefined && ready.afterMiB <= ready.beforeMiB && ready.pauseMs >= 0,
    `committed heap ${String(ready?.beforeMiB)} -> ${String(ready?.afterMiB)} MiB`,
  );
  t.equal(await withGc.stop(), 0);
  t.equal((await reductions(withGc.process.logPath)).length, 1, 'an idle agent reduces once');

  // From the sources without the flag (as `npm run pullwatch` runs it): nothing to call.
  const without = await startAgentProcess(t, {
    ...options,
    name: 'without-gc',
    stateDir: join(dir, 'state-plain'),
  });
  await without.getJson('/api/v1/findings');
  t.equal(await without.stop(), 0);
  t.same(await reductions(without.process.logPath), [], 'no reduction without --expose-gc');
});

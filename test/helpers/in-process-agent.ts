// The agent's core (sources, provenance, detection; no HTTP server) in the test's own process,
// against a real runtime socket and an API server's kubeconfig. Faster to start than a process,
// so a test can start it many times (one per arrival order); it reads and writes its state dir
// exactly as `pullwatch run` does.
import { Writable } from 'node:stream';
import { loadConfig } from '../../agent/config.ts';
import { createLogger } from '../../agent/log.ts';
import { startAgentCore, type AgentCore } from '../../agent/main.ts';
import type { ImageView } from '../../agent/view.ts';
import type { TeardownHost } from './tmp.ts';
import { waitFor } from './wait.ts';

export interface InProcessAgentOptions {
  readonly nodeName: string;
  readonly criEndpoint: string;
  readonly kubeconfigPath: string;
  readonly stateDir: string;
  readonly kubeletRoot: string;
  readonly extraArgs?: readonly string[];
}

export interface InProcessAgent extends AgentCore {
  /** Every log line written so far, parsed. */
  logs(): readonly Record<string, unknown>[];
  /**
   * Waits until the agent is ready, no registry question or reconcile is outstanding, and no
   * image's owner is pending: the answer the evidence gives once all of it is in.
   */
  settled(timeoutMs?: number): Promise<void>;
  image(imageId: string): ImageView | undefined;
}

export async function startInProcessAgent(
  t: TeardownHost,
  options: InProcessAgentOptions,
): Promise<InProcessAgent> {
  const config = loadConfig(
    [
      '--node-name',
      options.nodeName,
      '--cri-endpoint',
      options.criEndpoint,
      '--kubeconfig',
      options.kubeconfigPath,
      '--state-dir',
      options.stateDir,
      '--kubelet-root',
      options.kubeletRoot,
      // No controller here: the agent reads pull secrets itself (--secrets-from direct).
      '--secrets-from',
      'direct',
      ...(options.extraArgs ?? []),
    ],
    {},
  );
  if (!config.ok) throw new Error(config.error);
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      partial += chunk.toString('utf8');
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete)
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('info', { node: options.nodeName }, sink);
  const core = await startAgentCore(config.value, { logger });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await core.stop();
  };
  t.teardown(stop);
  const agent = core.agent;
  return {
    ...core,
    stop,
    logs: () => lines,
    image: (imageId) => agent.view.images().find((i) => i.imageId === imageId),
    settled: async (timeoutMs = 20_000) => {
      await waitFor(
        'the agent to be ready, settled and with no owner pending',
        () =>
          agent.view.readiness().ready &&
          agent.settled() &&
          agent.view.images().every((i) => i.ownerPending === undefined)
            ? true
            : undefined,
        timeoutMs,
        20,
      );
    },
  };
}

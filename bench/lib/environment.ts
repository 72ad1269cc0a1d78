// A node for an agent process: the embedded CRI runtime holding the scenario's image cache,
// the embedded API server holding its namespaces, pull secrets and pods, and a state dir with
// the provenance an agent that watched the pulls would have saved. Then the agent itself, as a
// separate process: `node agent/cli.ts run` or the instrumented child (lib/instrumented-agent.ts).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmbeddedCriRuntime } from '../../test/kit/embedded/cri-runtime.ts';
import { startEmbeddedCriRuntime } from '../../test/kit/embedded/cri-runtime.ts';
import type { EmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { saveProvenance } from '../../agent/provenance/state-store.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { selfSignedCertificate } from '../../test/helpers/tls.ts';
import type { ManagedProcess } from '../../test/helpers/process.ts';
import { startProcess } from '../../test/helpers/process.ts';
import type { ChildMessage, FindingEventMessage, UsageMessage } from './instrumented-agent.ts';
import type { Scenario } from './scenario.ts';
import {
  criImages,
  IGNORED_NAMESPACES,
  namespaceObject,
  NODE,
  podObject,
  provenanceState,
  PUBLIC_REGISTRIES,
  secretObject,
  TENANT_LABEL,
} from './scenario.ts';
import type { Teardowns } from './teardown.ts';
import { sleep, waitFor } from './teardown.ts';

const CLI = fileURLToPath(new URL('../../agent/cli.ts', import.meta.url));
const INSTRUMENTED = fileURLToPath(new URL('./instrumented-agent.ts', import.meta.url));

export interface NodeEnvironment {
  readonly dir: string;
  readonly scenario: Scenario;
  readonly api: EmbeddedApiServer;
  readonly runtime: EmbeddedCriRuntime;
  /** `pullwatch run` flags for this node (without --listen). */
  readonly runFlags: readonly string[];
  /** Environment the agent process needs besides them (the pod's Service variables in-cluster). */
  readonly agentEnv: Readonly<Record<string, string>>;
}

export interface EnvironmentOptions {
  /** BOOKMARK interval of the API server's watches (default 60 s, as kube-apiserver's cacher). */
  readonly bookmarkIntervalMs?: number;
  /**
   * Reach the API server as an agent in a pod does (issue 16's "as deployed"): HTTPS with a
   * self-signed CA, the service account's token and ca.crt in a directory
   * (--service-account-dir) and KUBERNETES_SERVICE_HOST/PORT; default: a kubeconfig file over
   * plain HTTP.
   */
  readonly inCluster?: boolean;
}

/** The API server's serving pair, and where an in-cluster agent finds its token and CA. */
async function inClusterCredentials(
  dir: string,
): Promise<{ readonly tls: { cert: string; key: string }; readonly serviceAccountDir: string }> {
  const pair = await selfSignedCertificate(dir, 'apiserver');
  const [cert, key] = await Promise.all([readFile(pair.cert, 'utf8'), readFile(pair.key, 'utf8')]);
  const serviceAccountDir = join(dir, 'serviceaccount');
  await mkdir(serviceAccountDir);
  await writeFile(join(serviceAccountDir, 'ca.crt'), cert);
  return { tls: { cert, key }, serviceAccountDir };
}

/** The scenario's namespaces, pull secrets and pods (running for an hour) in the API server. */
export function populateApiServer(api: EmbeddedApiServer, scenario: Scenario): void {
  for (const [name, tenant] of scenario.namespaces) {
    if (name === 'kube-system') continue; // there from the start
    const created = api.store.create('namespaces', namespaceObject(name, tenant));
    if (!created.ok) throw new Error(`namespace ${name}: ${created.error.message}`);
  }
  for (const secret of scenario.secrets) {
    const created = api.store.create('secrets', secretObject(secret));
    if (!created.ok) throw new Error(`secret: ${created.error.message}`);
  }
  // The node's pods have been running for an hour when the agent starts.
  const since = new Date(Date.now() - 3_600_000);
  for (const pod of scenario.pods) {
    const created = api.store.create('pods', podObject(pod, since));
    if (!created.ok) throw new Error(`pod ${pod.name}: ${created.error.message}`);
  }
}

export async function startNodeEnvironment(
  teardowns: Teardowns,
  scenario: Scenario,
  options: EnvironmentOptions = {},
): Promise<NodeEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-'));
  teardowns.teardown(() => rm(dir, { recursive: true, force: true }));
  const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), {
    images: criImages(scenario),
  });
  teardowns.teardown(() => runtime.stop());
  const inCluster = options.inCluster === true ? await inClusterCredentials(dir) : undefined;
  const api = await startEmbeddedApiServer({
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    historySize: 20_000,
    ...(inCluster === undefined ? {} : { tls: inCluster.tls }),
  });
  teardowns.teardown(() => api.stop());
  populateApiServer(api, scenario);
  const stateDir = join(dir, 'state');
  const saved = await saveProvenance(stateDir, {
    node: NODE,
    savedAt: Date.now(),
    images: provenanceState(scenario, Date.now() - 24 * 3_600_000),
  });
  if (!saved.ok) throw new Error(saved.error);
  let access: readonly string[];
  if (inCluster === undefined) {
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    await writeFile(kubeconfig, api.kubeconfigYaml());
    access = ['--kubeconfig', kubeconfig];
  } else {
    await writeFile(join(inCluster.serviceAccountDir, 'token'), api.adminToken);
    access = ['--service-account-dir', inCluster.serviceAccountDir];
  }
  return {
    dir,
    scenario,
    api,
    runtime,
    agentEnv:
      inCluster === undefined
        ? {}
        : { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) },
    runFlags: [
      '--secrets-from',
      'direct',
      '--node-name',
      NODE,
      '--cri-endpoint',
      runtime.target,
      ...access,
      '--state-dir',
      stateDir,
      '--kubelet-root',
      join(dir, 'kubelet'),
      '--auth',
      'none',
      // The scenario's registries do not exist: no registry traffic (see README, --registry-probe).
      '--registry-probe',
      'off',
      '--public-registries',
      PUBLIC_REGISTRIES.join(','),
      '--tenant-label',
      TENANT_LABEL,
      '--ignore-namespaces',
      IGNORED_NAMESPACES.join(','),
      '--log-level',
      'info',
    ],
  };
}

export interface AgentProcess {
  readonly url: string;
  readonly pid: number;
  readonly logPath: string;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt: number;
  /** Milliseconds from spawn to /readyz answering 200. */
  readonly readyAfterMs: number;
  getJson<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface InstrumentedAgent extends AgentProcess {
  /** Resolves with the next finding event matching `match` (events are buffered until taken). */
  nextEvent(
    match: (e: FindingEventMessage) => boolean,
    timeoutMs: number,
  ): Promise<FindingEventMessage | undefined>;
  /** CPU, heap and RSS of the agent, after two forced GCs when `gc` is true. */
  usage(gc: boolean): Promise<UsageMessage>;
}

async function waitReady(
  url: string,
  exited: () => boolean,
  logTail: () => Promise<string>,
): Promise<void> {
  await waitFor(
    'the agent to answer /readyz',
    async () => {
      if (exited()) throw new Error(`the agent exited at start:\n${await logTail()}`);
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
        return res.status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    60_000,
    50,
  );
}

const getJson = async <T>(url: string): Promise<T> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
};

/**
 * `node agent/cli.ts run ...`: the `pullwatch` binary run from the sources; or, given the
 * `cli.js` of a build (lib/build.ts), the binary as the container image runs it.
 */
export async function startCliAgent(
  teardowns: Teardowns,
  env: NodeEnvironment,
  options: {
    readonly name?: string;
    readonly cli?: string;
    /** Added to the agent's environment, e.g. the container image's NODE_OPTIONS. */
    readonly env?: Readonly<Record<string, string>>;
  } = {},
): Promise<AgentProcess> {
  const name = options.name ?? 'pullwatch';
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(env.dir, `${name}.log`);
  const started = performance.now();
  const proc: ManagedProcess = startProcess(
    process.execPath,
    [options.cli ?? CLI, 'run', ...env.runFlags, '--listen', `127.0.0.1:${port}`],
    { name, logPath, env: { ...process.env, ...env.agentEnv, ...options.env, KUBECONFIG: '' } },
  );
  const stop = async (): Promise<void> => {
    await proc.stop(10_000);
  };
  teardowns.teardown(stop);
  await waitReady(
    url,
    () => proc.hasExited(),
    () => proc.logTail(),
  );
  return {
    url,
    pid: proc.pid,
    logPath,
    spawnedAt: started,
    readyAfterMs: performance.now() - started,
    getJson: (path) => getJson(`${url}${path}`),
    stop,
  };
}

export async function startInstrumentedAgent(
  teardowns: Teardowns,
  env: NodeEnvironment,
  options: {
    readonly exposeGc?: boolean;
    readonly name?: string;
    /** More Node flags for the agent process (e.g. `--max-semi-space-size=1`, `--cpu-prof`). */
    readonly nodeFlags?: readonly string[];
  } = {},
): Promise<InstrumentedAgent> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(env.dir, `${options.name ?? 'pullwatch-instrumented'}.log`);
  const fd = openSync(logPath, 'a');
  const started = performance.now();
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [
        ...(options.exposeGc === true ? ['--expose-gc'] : []),
        ...(options.nodeFlags ?? []),
        INSTRUMENTED,
        ...env.runFlags,
        '--listen',
        `127.0.0.1:${port}`,
      ],
      {
        stdio: ['ignore', fd, fd, 'ipc'],
        env: { ...process.env, ...env.agentEnv, KUBECONFIG: '' },
      },
    );
  } finally {
    closeSync(fd);
  }
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const events: FindingEventMessage[] = [];
  const eventWaiters = new Set<() => void>();
  const usageWaiters = new Map<number, (m: UsageMessage) => void>();
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'detected' || message.type === 'retired') {
      events.push(message);
      for (const wake of eventWaiters) wake();
    } else if (message.type === 'usage') {
      usageWaiters.get(message.id)?.(message);
      usageWaiters.delete(message.id);
    }
  });
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  };
  teardowns.teardown(stop);
  await waitReady(
    url,
    () => exited,
    async () => (await readFile(logPath, 'utf8')).split('\n').slice(-30).join('\n'),
  );
  let nextId = 0;
  return {
    url,
    pid: child.pid ?? -1,
    logPath,
    spawnedAt: started,
    readyAfterMs: performance.now() - started,
    getJson: (path) => getJson(`${url}${path}`),
    stop,
    nextEvent: async (match, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const index = events.findIndex(match);
        if (index >= 0) return events.splice(index, 1)[0];
        const left = deadline - performance.now();
        if (left <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            eventWaiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, left);
          eventWaiters.add(wake);
        });
      }
    },
    usage: (gc) =>
      new Promise<UsageMessage>((resolve, reject) => {
        const id = (nextId += 1);
        usageWaiters.set(id, resolve);
        child.send({ cmd: gc ? 'gc' : 'usage', id }, (error) => {
          if (error) reject(error);
        });
      }),
  } satisfies InstrumentedAgent;
}

/** Waits until the agent serves `count` active findings (its first reconciles are done). */
export async function waitForFindings(agent: AgentProcess, count: number): Promise<void> {
  let last = -1;
  try {
    await waitFor(
      `the agent to report ${count} findings`,
      async () => {
        const body = await agent.getJson<{ items: unknown[] }>('/api/v1/findings');
        last = body.items.length;
        return last === count ? true : undefined;
      },
      90_000,
      250,
    );
  } catch {
    throw new Error(`the agent reports ${last} findings, the scenario expects ${count}`);
  }
  await sleep(500);
}

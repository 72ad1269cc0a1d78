// The real agent (`pullwatch run`) as a separate process, as it runs on a node.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ManagedProcess } from './process.ts';
import { startProcess } from './process.ts';
import { freePort } from './ports.ts';
import type { TeardownHost } from './tmp.ts';
import { safeTeardown } from './tmp.ts';

const CLI = fileURLToPath(new URL('../../agent/cli.ts', import.meta.url));

export interface AgentProcess {
  readonly url: string;
  readonly process: ManagedProcess;
  // The caller names the shape it expects; the body is parsed, not validated.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  getJson<T = unknown>(path: string): Promise<{ status: number; body: T }>;
  getText(path: string): Promise<{ status: number; body: string }>;
  stop(): Promise<number | null>;
}

export interface AgentProcessOptions {
  readonly dir: string;
  readonly nodeName: string;
  readonly criEndpoint: string;
  readonly kubeconfigYaml: string;
  readonly stateDir: string;
  readonly extraArgs?: readonly string[];
  readonly name?: string;
  readonly readyTimeoutMs?: number;
  /** Node's own flags before the script, e.g. the image's --expose-gc. */
  readonly nodeArgs?: readonly string[];
}

export async function startAgentProcess(
  t: TeardownHost,
  o: AgentProcessOptions,
): Promise<AgentProcess> {
  // Another process can take the free port before the agent binds it: start again on another.
  for (let attempt = 1; ; attempt++) {
    const started = await startOnPort(t, o, await freePort(), attempt < 5);
    if (started !== 'port taken') return started;
  }
}

async function startOnPort(
  t: TeardownHost,
  o: AgentProcessOptions,
  port: number,
  mayRetry: boolean,
): Promise<AgentProcess | 'port taken'> {
  const kubeconfig = join(o.dir, 'kubeconfig.yaml');
  await writeFile(kubeconfig, o.kubeconfigYaml);
  const url = `http://127.0.0.1:${port}`;
  const args = [
    ...(o.nodeArgs ?? []),
    CLI,
    'run',
    '--node-name',
    o.nodeName,
    '--cri-endpoint',
    o.criEndpoint,
    '--kubeconfig',
    kubeconfig,
    '--listen',
    `127.0.0.1:${port}`,
    '--state-dir',
    o.stateDir,
    '--kubelet-root',
    join(o.dir, 'kubelet'),
    '--auth',
    'none',
    '--log-level',
    'debug',
    // No controller runs beside most tests: the agent reads pull secrets itself unless the
    // test passes --secrets-from controller (test/e2e/controller.test.ts).
    '--secrets-from',
    'direct',
    ...(o.extraArgs ?? []),
  ];
  const name = o.name ?? 'pullwatch';
  const proc = startProcess(process.execPath, args, {
    name,
    logPath: join(o.dir, `${name}.log`),
    env: { ...process.env, KUBECONFIG: '' },
  });
  const getText = async (path: string) => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  const getJson = async <T>(path: string) => {
    const { status, body } = await getText(path);
    return { status, body: JSON.parse(body) as T };
  };
  const agent: AgentProcess = {
    url,
    process: proc,
    getJson,
    getText,
    stop: async () => (await proc.stop(10_000)).code,
  };
  safeTeardown(t, name, async () => {
    await proc.stop(5_000);
  });
  const deadline = Date.now() + (o.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (proc.hasExited()) {
      const tail = await proc.logTail();
      if (mayRetry && tail.includes('EADDRINUSE')) return 'port taken';
      throw new Error(`${name} exited at start:\n${tail}`);
    }
    try {
      if ((await getText('/readyz')).status === 200) return agent;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${name} not ready in time:\n${await proc.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

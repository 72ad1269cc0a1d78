// The agent as a process under a file size limit (RLIMIT_FSIZE, what `ulimit -f` sets): a full
// disk that root cannot write past either. Its output goes through a pipe to the test, because
// the limit applies to every regular file the process writes, its own log file included.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentProcessOptions } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/ports.ts';
import { toolPath } from '../helpers/real-parts.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import type { AgentClient } from '../helpers/seed-scenario.ts';
import { sleep } from '../helpers/seed-scenario.ts';

const CLI = fileURLToPath(new URL('../../agent/cli.ts', import.meta.url));

export interface LimitedAgent extends AgentClient {
  readonly pid: number;
  readonly logPath: string;
  log(): Promise<string>;
  hasExited(): boolean;
  /** SIGTERM; resolves to the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

export async function startAgentWithFileSizeLimit(
  t: TeardownHost,
  o: AgentProcessOptions & { readonly fileSizeLimitBytes: number },
): Promise<LimitedAgent> {
  const kubeconfig = join(o.dir, 'kubeconfig.yaml');
  await writeFile(kubeconfig, o.kubeconfigYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const name = o.name ?? 'pullwatch-limited';
  const logPath = join(o.dir, `${name}.log`);
  const limit = `--fsize=${o.fileSizeLimitBytes}:${o.fileSizeLimitBytes}`;
  const agentArgs = [
    CLI,
    'run',
    ...['--node-name', o.nodeName, '--cri-endpoint', o.criEndpoint],
    ...['--secrets-from', 'direct'],
    ...['--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${port}`],
    ...['--state-dir', o.stateDir, '--kubelet-root', join(o.dir, 'kubelet')],
    ...['--auth', 'none', '--log-level', 'debug', ...(o.extraArgs ?? [])],
  ];
  // setpriv: the kernel kills the agent if this test process dies; prlimit execs node itself.
  // `env -u NODE_OPTIONS`: tap puts its process tracker into every child's NODE_OPTIONS (even
  // one the test clears); its signal-exit hook re-raises SIGXFSZ, which Node itself ignores,
  // and would kill the agent instead of letting the write fail with EFBIG.
  const child: ChildProcess = spawn(
    toolPath('setpriv'),
    [
      ...['--pdeathsig', 'SIGKILL', '--', toolPath('env'), '-u', 'NODE_OPTIONS'],
      ...[toolPath('prlimit'), limit, '--', process.execPath, ...agentArgs],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } },
  );
  const out = createWriteStream(logPath, { flags: 'a' });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code;
      void out.write(`[exited: code ${code}, signal ${signal}]\n`);
      resolve(code);
    });
  });
  const stop = async (): Promise<number | null> => {
    if (exitCode !== undefined) return exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  t.teardown(async () => {
    await stop();
    out.end();
  });
  const getText = async (path: string) => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };
  const agent: LimitedAgent = {
    pid: child.pid ?? -1,
    logPath,
    log: () => readFile(logPath, 'utf8'),
    hasExited: () => exitCode !== undefined,
    stop,
    getText,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
    getJson: async <T>(path: string) => {
      const { status, body } = await getText(path);
      return { status, body: JSON.parse(body) as T };
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (agent.hasExited()) throw new Error(`${name} exited at start:\n${await agent.log()}`);
    try {
      if ((await getText('/readyz')).status === 200) return agent;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready in time:\n${await agent.log()}`);
    await sleep(100);
  }
}

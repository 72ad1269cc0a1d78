// `pullwatch controller` as a separate process, as the Deployment runs it: HTTPS with a
// certificate the test made, against the API server a kubeconfig names. Returns once /readyz
// answers 200 (its first list of the cluster's pods is done).
import { Agent, request } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueBoundToken } from '../kit/bound-tokens.ts';
import type { EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { freePort } from './ports.ts';
import { startProcess, type ManagedProcess } from './process.ts';
import { safeTeardown, type TeardownHost } from './tmp.ts';

const CLI = fileURLToPath(new URL('../../agent/cli.ts', import.meta.url));

export interface ControllerProcessOptions {
  readonly dir: string;
  readonly kubeconfigYaml: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Reuse a port (a restart keeps the agents' URL). */
  readonly port?: number;
  readonly extraArgs?: readonly string[];
  readonly name?: string;
  /** Added to the process's environment (a benchmark gives it the image's NODE_OPTIONS). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ControllerAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string | null;
}

export interface ControllerProcess {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** POSTs JSON to the controller with a bearer token, trusting its certificate. */
  post(path: string, body: unknown, token?: string): Promise<ControllerAnswer>;
  /** GETs a path, with a bearer token when given (the findings API wants one). */
  getText(path: string, token?: string): Promise<ControllerAnswer>;
  stop(): Promise<number | null>;
}

/** A kubeconfig for the controller's own service account (pullwatch/pullwatch-controller). */
export function controllerKubeconfigYaml(api: EmbeddedApiServer): string {
  return api.kubeconfigYaml({
    token: issueBoundToken(api, { namespace: 'pullwatch', serviceAccount: 'pullwatch-controller' }),
  });
}

/** The agent's flags for learning its pull secrets from this controller (the default mode). */
export function viaControllerArgs(o: {
  readonly url: string;
  readonly caFile: string;
  readonly tokenFile: string;
}): string[] {
  return [
    '--secrets-from',
    'controller',
    '--controller-url',
    o.url,
    '--controller-ca-file',
    o.caFile,
    '--controller-token-file',
    o.tokenFile,
  ];
}

/** `pullwatch controller`'s arguments as the tests and the benchmark (bench/controller.ts) run it. */
export function controllerArgs(o: {
  readonly kubeconfig: string;
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly logLevel: string;
  readonly extraArgs?: readonly string[];
}): string[] {
  return [
    CLI,
    'controller',
    '--kubeconfig',
    o.kubeconfig,
    '--listen',
    `127.0.0.1:${o.port}`,
    '--tls-cert-file',
    o.certFile,
    '--tls-key-file',
    o.keyFile,
    '--namespace',
    'pullwatch',
    '--log-level',
    o.logLevel,
    ...(o.extraArgs ?? []),
  ];
}

export async function startControllerProcess(
  t: TeardownHost,
  o: ControllerProcessOptions,
): Promise<ControllerProcess> {
  // Another process can take the free port before the controller binds it: start again on
  // another (a port the caller gave is kept, so that a restart keeps the agents' URL).
  for (let attempt = 1; ; attempt++) {
    const mayRetry = o.port === undefined && attempt < 5;
    const started = await startOnPort(t, o, o.port ?? (await freePort()), mayRetry);
    if (started !== 'port taken') return started;
  }
}

async function startOnPort(
  t: TeardownHost,
  o: ControllerProcessOptions,
  port: number,
  mayRetry: boolean,
): Promise<ControllerProcess | 'port taken'> {
  const name = o.name ?? 'pullwatch-controller';
  const kubeconfig = join(o.dir, `${name}-kubeconfig.yaml`);
  await writeFile(kubeconfig, o.kubeconfigYaml);
  const url = `https://127.0.0.1:${port}`;
  const proc = startProcess(
    process.execPath,
    controllerArgs({
      kubeconfig,
      port,
      certFile: o.certFile,
      keyFile: o.keyFile,
      logLevel: 'debug',
      ...(o.extraArgs === undefined ? {} : { extraArgs: o.extraArgs }),
    }),
    {
      name,
      logPath: join(o.dir, `${name}.log`),
      env: { ...process.env, KUBECONFIG: '', ...o.env },
    },
  );
  const agent = new Agent({ ca: await readFile(o.certFile) });
  const call = (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<ControllerAnswer> =>
    new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        `${url}${path}`,
        {
          method,
          agent,
          timeout: 5000,
          headers: {
            ...(text === undefined ? {} : { 'content-type': 'application/json' }),
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (data += chunk));
          res.on('end', () => {
            const type = res.headers['content-type'];
            resolve({ status: res.statusCode ?? 0, body: data, contentType: type ?? null });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(text);
    });
  const controller: ControllerProcess = {
    url,
    port,
    process: proc,
    post: (path, body, token) => call('POST', path, body, token),
    getText: (path, token) => call('GET', path, undefined, token),
    stop: async () => {
      agent.destroy();
      return (await proc.stop(10_000)).code;
    },
  };
  safeTeardown(t, name, async () => {
    agent.destroy();
    await proc.stop(5_000);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.hasExited()) {
      const tail = await proc.logTail();
      if (mayRetry && tail.includes('EADDRINUSE')) return 'port taken';
      throw new Error(`${name} exited at start:\n${tail}`);
    }
    try {
      if ((await controller.getText('/readyz')).status === 200) return controller;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${name} not ready in time:\n${await proc.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

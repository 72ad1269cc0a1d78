// A real OCI registry (Debian's docker-registry, distribution 2.8) on a free
// loopback port, plain HTTP, filesystem storage in a temp dir, optionally with
// htpasswd (bcrypt) auth: with users, every repository needs credentials; or with
// token auth (Bearer, per-repository rights) against a token server such as
// test/helpers/token-server.ts, as Harbor, GHCR and Docker Hub work.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { startProcess, type ManagedProcess } from './process.ts';
import { toolPath } from './real-parts.ts';
import { createTempDir, removeDir, safeTeardown, type TeardownHost } from './tmp.ts';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.ts';

const execFileP = promisify(execFile);

/**
 * distribution's `auth.token` settings. A {@link TokenServer} has these fields, so
 * `startRegistry(t, { tokenAuth: tokenServer })` points the registry at it.
 */
export interface TokenAuthConfig {
  /** Where clients get tokens, e.g. `http://127.0.0.1:PORT/token`. */
  readonly realm: string;
  /** Named in the challenge; must be the tokens' `aud`. */
  readonly service: string;
  /** Must be the tokens' `iss`. */
  readonly issuer: string;
  /** PEM file of the certificate(s) whose keys sign the tokens. */
  readonly rootCertBundle: string;
}

export interface RegistryOptions {
  /** user name -> password; when given, every repository requires basic auth. */
  readonly users?: Readonly<Record<string, string>>;
  /** Token (Bearer) auth instead of htpasswd: every request needs a token from the realm. */
  readonly tokenAuth?: TokenAuthConfig;
  /** How long to wait for `GET /v2/` to answer. Default 15 s. */
  readonly readyTimeoutMs?: number;
}

export interface Registry {
  /** `127.0.0.1:PORT`: the registry part of image references. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly authRequired: boolean;
  /** How clients authenticate: nothing, Basic (htpasswd) or Bearer tokens. */
  readonly auth: 'none' | 'htpasswd' | 'token';
  /** Temp dir holding config.yml, htpasswd, storage/ and registry.log. */
  readonly dir: string;
  readonly logPath: string;
  readonly pid: number;
  /** Stops the registry (SIGTERM, then SIGKILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** YAML scalar: a JSON string is a valid double-quoted YAML scalar. */
const q = (s: string): string => JSON.stringify(s);

async function htpasswdFile(users: Readonly<Record<string, string>>): Promise<string> {
  const htpasswd = toolPath('htpasswd');
  let text = '';
  for (const [user, password] of Object.entries(users)) {
    if (user.includes(':')) throw new Error(`htpasswd user name must not contain ':': ${user}`);
    // -B bcrypt (the only hash distribution accepts), -b password from argv, -n print.
    const { stdout } = await execFileP(htpasswd, ['-Bbn', user, password]);
    text += `${stdout.trim()}\n`;
  }
  return text;
}

function configYaml(
  dir: string,
  port: number,
  htpasswdPath: string | undefined,
  tokenAuth: TokenAuthConfig | undefined,
): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(dir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (htpasswdPath !== undefined) {
    lines.push(
      'auth:',
      '  htpasswd:',
      `    realm: ${q('pullwatch-test')}`,
      `    path: ${q(htpasswdPath)}`,
    );
  }
  if (tokenAuth !== undefined) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${q(tokenAuth.realm)}`,
      `    service: ${q(tokenAuth.service)}`,
      `    issuer: ${q(tokenAuth.issuer)}`,
      `    rootcertbundle: ${q(tokenAuth.rootCertBundle)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Polls `GET /v2/` until it answers `expected`; 'exited' if the process died first. */
async function waitForV2(
  url: string,
  expected: number,
  proc: ManagedProcess,
  timeoutMs: number,
): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.hasExited()) return 'exited';
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === expected) return 'ready';
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw new Error(
    `registry at ${url} not ready after ${timeoutMs} ms (last: ${last}, want HTTP ${expected}):\n` +
      (await proc.logTail()),
  );
}

/**
 * Starts `/usr/bin/docker-registry serve config.yml` on 127.0.0.1:<free port>.
 * Teardown (registered at once, so also on failure) kills it, awaits its exit
 * and removes the temp dir. Several registries can run side by side.
 */
export async function startRegistry(
  t: TeardownHost,
  options: RegistryOptions = {},
): Promise<Registry> {
  const binary = toolPath('docker-registry');
  const users = options.users;
  const tokenAuth = options.tokenAuth;
  const htpasswdAuth = users !== undefined && Object.keys(users).length > 0;
  if (htpasswdAuth && tokenAuth !== undefined) {
    throw new Error('startRegistry: give users (htpasswd) or tokenAuth, not both');
  }
  const auth = htpasswdAuth ? 'htpasswd' : tokenAuth !== undefined ? 'token' : 'none';
  const authRequired = auth !== 'none';
  const dir = await createTempDir('registry');
  let proc: ManagedProcess | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (proc) await proc.stop(5000);
    await removeDir(dir);
  };
  safeTeardown(t, `stop registry ${dir}`, stop);

  const htpasswdPath = htpasswdAuth ? join(dir, 'htpasswd') : undefined;
  if (htpasswdPath !== undefined && users !== undefined) {
    await writeFile(htpasswdPath, await htpasswdFile(users), { mode: 0o600 });
  }
  const configPath = join(dir, 'config.yml');
  const logPath = join(dir, 'registry.log');
  const expected = authRequired ? 401 : 200;

  // The free port can be taken between our probe and the registry's bind: retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(configPath, configYaml(dir, port, htpasswdPath, tokenAuth));
    const url = `http://127.0.0.1:${port}`;
    proc = startProcess(binary, ['serve', configPath], {
      name: 'docker-registry',
      logPath,
    });
    const state = await waitForV2(url, expected, proc, options.readyTimeoutMs ?? 15_000);
    if (state === 'ready') {
      const pid = proc.pid;
      return {
        host: `127.0.0.1:${port}`,
        port,
        url,
        authRequired,
        auth,
        dir,
        logPath,
        pid,
        stop,
      };
    }
    const tail = await proc.logTail();
    if (attempt >= 5 || !tail.includes('address already in use')) {
      throw new Error(`docker-registry exited during start-up:\n${tail}`);
    }
  }
}

export interface TokenAuthRegistryOptions extends TokenServerOptions {
  /** How long to wait for the registry's `GET /v2/` to answer. Default 15 s. */
  readonly readyTimeoutMs?: number;
}

export interface TokenAuthRegistry {
  readonly registry: Registry;
  readonly tokenServer: TokenServer;
}

/**
 * A token server (test/helpers/token-server.ts: users with per-repository rights,
 * optional anonymous pull) and a docker-registry in token-auth mode trusting it, both
 * plain HTTP on 127.0.0.1. Teardown stops the registry, then the token server.
 *
 *     const { registry, tokenServer } = await startTokenAuthRegistry(t, {
 *       users: { alice: { password: 'pw', rights: [{ repository: 'team-a/*', actions: ['pull', 'push'] }] } },
 *       anonymousPull: ['public/*'],
 *     });
 */
export async function startTokenAuthRegistry(
  t: TeardownHost,
  options: TokenAuthRegistryOptions = {},
): Promise<TokenAuthRegistry> {
  const { readyTimeoutMs, ...tokenOptions } = options;
  const tokenServer = await startTokenServer(t, tokenOptions);
  const registry = await startRegistry(t, {
    tokenAuth: tokenServer,
    ...(readyTimeoutMs === undefined ? {} : { readyTimeoutMs }),
  });
  return { registry, tokenServer };
}

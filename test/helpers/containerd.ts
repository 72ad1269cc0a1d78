// A real containerd (Debian's 1.6) with the CRI plugin, private to one test:
// root, state, sockets and log all live in a temp dir, so it never touches the
// machine's /run/containerd or /var/lib/containerd.
//
// Registry access: containerd 1.6's CRI plugin resolves each loopback registry
// through `registry.mirrors."HOST".endpoint = ["http://HOST"]` (plain HTTP).
// The credentials of a CRI PullImage request (AuthConfig username/password) DO
// reach such a mirror endpoint in 1.6.20 (checked here): the plugin hands them
// to the docker authorizer for every endpoint host, which answers the
// registry's `401 WWW-Authenticate: Basic` challenge. So no
// `registry.configs."HOST".auth` (node-wide credentials: every pull would be
// authorized, hiding the leak) and no TLS settings are needed; `config_path`
// (hosts.toml) stays empty because 1.6 ignores `mirrors` when it is set.
// AuthConfig.server_address: leave it empty, or give a URL (`http://HOST:PORT`);
// for another host the credentials are silently dropped (-> 401), and a bare
// `HOST:PORT` makes 1.6.20 fail the pull ("first path segment in URL cannot
// contain colon").

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { criVersion, type CriVersion } from './cri-mutate.ts';
import { startProcess, type ManagedProcess } from './process.ts';
import { toolPath } from './real-parts.ts';
import { createTempDir, removeDir, safeTeardown, type TeardownHost } from './tmp.ts';

const execFileP = promisify(execFile);

/** The kubelet's namespace in containerd. */
export const K8S_NAMESPACE = 'k8s.io';

/**
 * Plugins that cannot work in a test sandbox or only slow start-up: other
 * snapshotters (the CRI plugin uses "native": plain copies, no mounts, works
 * on any filesystem) and `opt`, which would create /opt/containerd.
 */
export const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.overlayfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.internal.v1.opt',
] as const;

export interface ContainerdOptions {
  /** Registry hosts (`127.0.0.1:PORT`) to reach over plain HTTP. */
  readonly registryMirrors?: readonly string[];
  /** How long to wait for CRI Version to answer. Default 30 s. */
  readonly readyTimeoutMs?: number;
  /** containerd log level. Default `info`. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface Containerd {
  /** gRPC target for CRI clients: `unix:///tmp/.../containerd.sock`. */
  readonly socket: string;
  /** The socket's path (what `ctr --address` takes). */
  readonly address: string;
  /** Temp dir holding config.toml, root/, state/, sockets and containerd.log. */
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  /** PID of the current containerd process (changes on restart). */
  readonly pid: number;
  /** Runs `ctr --address ADDRESS -n k8s.io ...args`; resolves to stdout, rejects with stderr. */
  ctr(args: readonly string[]): Promise<string>;
  /** Image names in namespace k8s.io (`ctr images ls -q`). */
  imageNames(): Promise<string[]>;
  /** CRI Version (v1). */
  version(): Promise<CriVersion>;
  /** SIGTERM and wait for exit (state is kept: `restart()` brings it back). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit, like a crash. */
  kill(): Promise<void>;
  /** Stops it if running, starts it again with the same config and state, waits until CRI answers. */
  restart(): Promise<void>;
  /** Stops it and removes the temp dir (the registered teardown does this too). */
  dispose(): Promise<void>;
}

/** TOML basic string (JSON escapes are valid TOML escapes for what we write). */
const q = (s: string): string => JSON.stringify(s);

export function containerdConfig(dir: string, options: ContainerdOptions = {}): string {
  const lines = [
    'version = 2',
    `root = ${q(join(dir, 'root'))}`,
    `state = ${q(join(dir, 'state'))}`,
    `temp = ${q(join(dir, 'tmp'))}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(q).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${q(join(dir, 'containerd.sock'))}`,
    '',
    '[ttrpc]',
    `  address = ${q(join(dir, 'containerd.sock.ttrpc'))}`,
    '',
    '[debug]',
    `  address = ${q(join(dir, 'debug.sock'))}`,
    `  level = ${q(options.logLevel ?? 'info')}`,
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    // No TCP streaming server beyond loopback; the CNI config is absent, which
    // only marks the network "not ready" (we never run pods).
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "native"',
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = ${q(join(dir, 'cni', 'bin'))}`,
    `    conf_dir = ${q(join(dir, 'cni', 'net.d'))}`,
    '  [plugins."io.containerd.grpc.v1.cri".registry]',
    '    config_path = ""',
  ];
  for (const host of options.registryMirrors ?? []) {
    if (!/^[\w.-]+(:\d+)?$/.test(host)) throw new Error(`not a registry host: ${host}`);
    lines.push(
      `  [plugins."io.containerd.grpc.v1.cri".registry.mirrors.${q(host)}]`,
      `    endpoint = [${q(`http://${host}`)}]`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * Starts `/usr/bin/containerd --config DIR/config.toml` (needs root) and waits
 * until CRI `Version` answers on its socket. Teardown (registered before the
 * process starts, so it also runs when start-up fails) stops it, waits for its
 * exit and removes the temp dir.
 */
export async function startContainerd(
  t: TeardownHost,
  options: ContainerdOptions = {},
): Promise<Containerd> {
  const binary = toolPath('containerd');
  const ctrBinary = toolPath('ctr');
  const dir = await createTempDir('containerd');
  const address = join(dir, 'containerd.sock');
  // sun_path holds 108 bytes; the ttrpc socket name is the longest one.
  if (Buffer.byteLength(`${address}.ttrpc`) > 107) {
    await removeDir(dir);
    throw new Error(`socket path too long for a unix socket (set TMPDIR shorter): ${address}`);
  }
  const socket = `unix://${address}`;
  const configPath = join(dir, 'config.toml');
  const logPath = join(dir, 'containerd.log');
  await writeFile(configPath, containerdConfig(dir, options));

  let proc: ManagedProcess | undefined;
  let disposed = false;

  const stop = async (): Promise<void> => {
    if (proc) await proc.stop(15_000);
  };
  const kill = async (): Promise<void> => {
    if (proc) await proc.kill();
  };
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await stop();
    await removeDir(dir);
  };
  safeTeardown(t, `stop containerd ${dir}`, dispose);

  const waitReady = async (p: ManagedProcess): Promise<void> => {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (p.hasExited()) {
        const info = await p.exited;
        throw new Error(
          `containerd exited during start-up (code ${info.code}, signal ${info.signal}):\n` +
            (await p.logTail()),
        );
      }
      try {
        await criVersion(socket, 1000);
        return;
      } catch (err) {
        last = err;
      }
      await sleep(100);
    }
    const lastMessage = last instanceof Error ? last.message : String(last);
    throw new Error(
      `containerd CRI not ready after ${timeoutMs} ms (last: ${lastMessage}):\n` +
        (await p.logTail()),
    );
  };

  const start = async (): Promise<void> => {
    if (disposed) throw new Error('containerd harness already disposed');
    const p = startProcess(binary, ['--config', configPath], { name: 'containerd', logPath });
    proc = p;
    await waitReady(p);
  };

  const restart = async (): Promise<void> => {
    await stop();
    await start();
  };

  const ctr = async (args: readonly string[]): Promise<string> => {
    try {
      const { stdout } = await execFileP(
        ctrBinary,
        ['--address', address, '--namespace', K8S_NAMESPACE, ...args],
        {
          // ctr picks its own snapshotter for import/unpack; overlayfs is disabled.
          env: { ...process.env, CONTAINERD_SNAPSHOTTER: 'native' },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 300_000,
        },
      );
      return stdout;
    } catch (err) {
      const stderr =
        err !== null && typeof err === 'object' && 'stderr' in err ? String(err.stderr) : '';
      throw new Error(`ctr ${args.join(' ')} failed: ${stderr.trim() || String(err)}`, {
        cause: err,
      });
    }
  };

  const imageNames = async (): Promise<string[]> =>
    (await ctr(['images', 'ls', '-q']))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');

  await start();

  return {
    socket,
    address,
    dir,
    configPath,
    logPath,
    get pid(): number {
      return proc?.pid ?? -1;
    },
    ctr,
    imageNames,
    version: () => criVersion(socket),
    stop,
    kill,
    restart,
    dispose,
  };
}

// A real containerd (the integration tests' Debian package and config) whose image store
// holds `count` small images from one OCI archive. Importing 5,000 images takes minutes, so
// the root dir is kept between runs under /var/tmp (PULLWATCH_BENCH_CACHE overrides;
// --fresh-containerd rebuilds it): later runs only start containerd and wait for its CRI
// plugin to index what it already holds.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectCri } from '../../agent/cri/client.ts';
import type { CriReader } from '../../agent/cri/client.ts';
import { containerdConfig, K8S_NAMESPACE } from '../../test/helpers/containerd.ts';
import { criVersion } from '../../test/helpers/cri-mutate.ts';
import { buildManyImagesArchive } from '../../test/helpers/oci.ts';
import { startProcess } from '../../test/helpers/process.ts';
import { findTool } from '../../test/helpers/real-parts.ts';
import type { Teardowns } from './teardown.ts';
import { sleep } from './teardown.ts';

const execFileP = promisify(execFile);

export interface ContainerdWithImages {
  readonly target: string;
  readonly version: string;
  /** Seconds the import took in this run; undefined when the cached store was reused. */
  readonly importSeconds: number | undefined;
  readonly reader: CriReader;
  stop(): Promise<void>;
}

/** Why the real containerd cannot be used here, or undefined when it can. */
export function realContainerdUnavailable(): string | undefined {
  const missing = ['containerd', 'ctr'].filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) return `${missing.join(' and ')} not installed (Debian: containerd)`;
  if (process.getuid?.() !== 0) return 'not running as root (containerd needs root)';
  return undefined;
}

async function imageCount(reader: CriReader): Promise<number> {
  const listing = await reader.listImages();
  return listing.ok ? listing.value.items.length : -1;
}

export async function startContainerdWithImages(
  teardowns: Teardowns,
  count: number,
  options: { readonly fresh: boolean; readonly log: (line: string) => void },
): Promise<ContainerdWithImages> {
  const base = process.env.PULLWATCH_BENCH_CACHE ?? '/var/tmp/pullwatch-bench';
  const dir = join(base, `containerd-${count}`);
  if (options.fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, containerdConfig(dir, { logLevel: 'warn' }));
  const address = join(dir, 'containerd.sock');
  const target = `unix://${address}`;
  const proc = startProcess(findTool('containerd') ?? 'containerd', ['--config', configPath], {
    name: 'containerd',
    logPath: join(dir, 'containerd.log'),
  });
  const stop = async (): Promise<void> => {
    await proc.stop(15_000);
  };
  teardowns.teardown(stop);

  const deadline = Date.now() + 60_000;
  let version = '';
  for (;;) {
    if (proc.hasExited()) throw new Error(`containerd exited at start:\n${await proc.logTail()}`);
    try {
      const v = await criVersion(target, 1000);
      version = `${v.runtimeName} ${v.runtimeVersion}`;
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
  const endpoint = { socketPath: address, target };
  const reader = connectCri(endpoint, { listTimeoutMs: 120_000 });
  teardowns.teardown(() => {
    reader.close();
  });

  // The CRI plugin indexes the stored images in the background after a start.
  let listed = await imageCount(reader);
  const settle = Date.now() + 30_000;
  while (listed > 0 && listed < count && Date.now() < settle) {
    await sleep(500);
    listed = await imageCount(reader);
  }
  let importSeconds: number | undefined;
  if (listed < count) {
    options.log(
      `importing ${count} images into containerd at ${dir} (first run only; a few minutes)`,
    );
    const started = performance.now();
    const archive = await buildManyImagesArchive(
      join(dir, 'bulk.tar'),
      count,
      'docker.io/pullwatch/bench',
    );
    await execFileP(
      findTool('ctr') ?? 'ctr',
      [
        '--address',
        address,
        '--namespace',
        K8S_NAMESPACE,
        'images',
        'import',
        '--no-unpack',
        archive.archivePath,
      ],
      {
        env: { ...process.env, CONTAINERD_SNAPSHOTTER: 'native' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 900_000,
      },
    );
    await rm(archive.archivePath, { force: true });
    const until = Date.now() + 120_000;
    while ((listed = await imageCount(reader)) < count && Date.now() < until) await sleep(500);
    if (listed < count) throw new Error(`containerd lists ${listed} of ${count} imported images`);
    importSeconds = (performance.now() - started) / 1000;
  }
  return { target, version, importSeconds, reader, stop };
}

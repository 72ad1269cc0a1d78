// Reads the node's kubelet configuration files, read-only, in the kubelet's order: the main
// file (the kubelet's --config), then every `*.conf` file of the drop-in directory (its
// --config-dir), walked as Go's filepath.WalkDir walks it (lexical order, subdirectories at
// their place), as cmd/kubelet/app/server.go mergeKubeletConfigurations does. Never throws:
// whatever cannot be read becomes an 'unknown' reading that names the file and the problem.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import { describeError, errorCode, readBoundedText } from '../provenance/bounded-read.ts';
import { kubeletSettingsOf, type ConfigFileText } from './format.ts';

/** A kubelet configuration file is a few kilobytes; anything near this is not one. */
const MAX_FILE_BYTES = 1024 * 1024;
/** More drop-ins than this is no kubelet's configuration. */
const MAX_DROP_INS = 256;

/** Where the kubelet's configuration lives on one kind of node. */
export interface KubeletConfigLayout {
  readonly name: string;
  readonly file: string | undefined;
  readonly dir: string | undefined;
}

/**
 * The usual places, tried in this order when --kubelet-config is `auto`:
 * - kubeadm and most distributions: /var/lib/kubelet/config.yaml (kubeadm's `--config`); the
 *   drop-in directory /etc/kubernetes/kubelet.conf.d is the one the kubelet's documentation
 *   (kubelet-config-file, "kubelet-conf-d") uses, read when present;
 * - k3s: no main file; its kubelet runs with --config-dir=/var/lib/rancher/k3s/agent/etc/kubelet.conf.d
 *   (k3s writes 00-k3s-defaults.conf there);
 * - RKE2: the same under /var/lib/rancher/rke2/agent/etc/kubelet.conf.d.
 * MicroK8s configures its kubelet with flags (/var/snap/microk8s/current/args/kubelet) and no
 * configuration file; a --config added there is named with --kubelet-config.
 */
export const KUBELET_CONFIG_LAYOUTS: readonly KubeletConfigLayout[] = [
  {
    name: 'kubeadm',
    file: '/var/lib/kubelet/config.yaml',
    dir: '/etc/kubernetes/kubelet.conf.d',
  },
  { name: 'k3s', file: undefined, dir: '/var/lib/rancher/k3s/agent/etc/kubelet.conf.d' },
  { name: 'RKE2', file: undefined, dir: '/var/lib/rancher/rke2/agent/etc/kubelet.conf.d' },
];

/** --kubelet-config and --kubelet-config-dir, as settings. */
export type KubeletConfigSource =
  | { readonly kind: 'off' }
  | { readonly kind: 'auto'; readonly layouts?: readonly KubeletConfigLayout[] }
  | { readonly kind: 'paths'; readonly file: string | undefined; readonly dir: string | undefined };

/**
 * --kubelet-config and --kubelet-config-dir as given: `off`; `auto` alone for the usual places;
 * otherwise exactly the paths given (`auto` with a directory: no main file, as on k3s).
 */
export function kubeletConfigSource(file: string, dir: string | undefined): KubeletConfigSource {
  if (file === 'off') return { kind: 'off' };
  if (file === 'auto' && dir === undefined) return { kind: 'auto' };
  return { kind: 'paths', file: file === 'auto' ? undefined : file, dir };
}

type PathKind = 'file' | 'empty-file' | 'dir' | 'missing' | 'other';

async function kindOf(path: string): Promise<PathKind> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) return 'dir';
    if (info.isFile()) return info.size === 0 ? 'empty-file' : 'file';
    return 'other';
  } catch {
    return 'missing';
  }
}

/**
 * The first usual layout present on this node. An empty main file counts as absent: the
 * DaemonSet's hostPath (FileOrCreate) leaves one where a node has no such file.
 */
async function detectLayout(
  layouts: readonly KubeletConfigLayout[],
): Promise<{ file: string | undefined; dir: string | undefined } | undefined> {
  for (const layout of layouts) {
    const dir =
      layout.dir !== undefined && (await kindOf(layout.dir)) === 'dir' ? layout.dir : undefined;
    if (layout.file !== undefined) {
      if ((await kindOf(layout.file)) === 'file') return { file: layout.file, dir };
      continue;
    }
    if (dir === undefined) continue;
    const dropIns = await dropInPaths(dir);
    if (!dropIns.ok || dropIns.paths.length > 0) return { file: undefined, dir };
  }
  return undefined;
}

/** The drop-in files in the kubelet's order (WalkDir: lexical, depth-first), or why not. */
async function dropInPaths(
  dir: string,
): Promise<{ ok: true; paths: string[] } | { ok: false; reason: string }> {
  const paths: string[] = [];
  const walk = async (at: string): Promise<string | undefined> => {
    let entries;
    try {
      entries = await readdir(at, { withFileTypes: true });
    } catch (error) {
      return errorCode(error) === 'ENOENT'
        ? `the drop-in directory ${at} does not exist`
        : `the drop-in directory ${at} cannot be read (${describeError(error)})`;
    }
    // Go sorts directory entries by name bytes; for the ASCII names used here, as JS does.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        const problem = await walk(path);
        if (problem !== undefined) return problem;
      } else if (extensionOf(entry.name) === '.conf') {
        paths.push(path);
        if (paths.length > MAX_DROP_INS)
          return `the drop-in directory ${dir} holds more than ${MAX_DROP_INS} .conf files`;
      }
    }
    return undefined;
  };
  const problem = await walk(dir);
  return problem === undefined ? { ok: true, paths } : { ok: false, reason: problem };
}

/** Go's filepath.Ext: from the last dot of the name, or '' without one. */
function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot);
}

async function fileText(path: string): Promise<{ text: string } | { problem: string }> {
  const read = await readBoundedText(path, MAX_FILE_BYTES);
  switch (read.kind) {
    case 'text':
      return { text: read.text };
    case 'missing':
      return { problem: `${path} does not exist` };
    case 'too-large':
      return { problem: `${path} is larger than ${MAX_FILE_BYTES} bytes` };
    case 'not-utf8':
      return { problem: `${path} is not UTF-8 text` };
    case 'error':
      return { problem: `${path} cannot be read (${read.reason})` };
  }
}

/** What the node's kubelet configuration says now. */
export async function readKubeletConfig(
  source: KubeletConfigSource,
): Promise<KubeletConfigReading> {
  if (source.kind === 'off') return { kind: 'off' };
  let location: { file: string | undefined; dir: string | undefined } | undefined;
  if (source.kind === 'paths') location = source;
  else {
    const layouts = source.layouts ?? KUBELET_CONFIG_LAYOUTS;
    location = await detectLayout(layouts);
    if (location === undefined) {
      const tried = layouts.flatMap((l) => [l.file, l.dir].filter((p) => p !== undefined));
      return {
        kind: 'unknown',
        files: [],
        reason: `no kubelet configuration found at ${tried.join(', ')} (MicroK8s configures its kubelet with flags and no file; name the file with --kubelet-config if your kubelet has one)`,
      };
    }
  }
  const paths: string[] = [];
  if (location.file !== undefined) paths.push(location.file);
  if (location.dir !== undefined) {
    const dropIns = await dropInPaths(location.dir);
    if (!dropIns.ok) return { kind: 'unknown', files: paths, reason: dropIns.reason };
    paths.push(...dropIns.paths);
  }
  const files: ConfigFileText[] = [];
  for (const path of paths) {
    const read = await fileText(path);
    if ('problem' in read) return { kind: 'unknown', files: paths, reason: read.problem };
    files.push({ path, text: read.text });
  }
  return kubeletSettingsOf(files);
}

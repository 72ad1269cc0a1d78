// Pushes a local OCI image layout to a (plain-HTTP, loopback) registry with skopeo.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toolPath } from './real-parts.ts';

const execFileP = promisify(execFile);

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * `skopeo --insecure-policy copy --dest-tls-verify=false [--dest-creds u:p]
 * oci:DIR docker://DEST`: `destRef` is `HOST:PORT/REPO:TAG` (a `docker://`
 * prefix is accepted). `--dest-tls-verify=false` lets skopeo fall back to plain
 * HTTP; `--insecure-policy` skips /etc/containers/policy.json. The layout must
 * hold one image (or pass `oci:DIR:REF` semantics via `layoutRef`).
 * Returns the pushed manifest digest (from `--digestfile`).
 */
export async function pushLayout(
  layoutDir: string,
  destRef: string,
  creds?: Credentials,
  layoutRef?: string,
): Promise<string> {
  const skopeo = toolPath('skopeo');
  const work = await mkdtemp(join(tmpdir(), 'pullwatch-skopeo-'));
  try {
    const digestFile = join(work, 'digest');
    const dest = destRef.startsWith('docker://') ? destRef : `docker://${destRef}`;
    const src = layoutRef === undefined ? `oci:${layoutDir}` : `oci:${layoutDir}:${layoutRef}`;
    const args = [
      '--insecure-policy',
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      ...(creds ? ['--dest-creds', `${creds.username}:${creds.password}`] : []),
      src,
      dest,
    ];
    try {
      await execFileP(skopeo, args, {
        // Keep skopeo away from the user's auth files and temp space.
        env: { ...process.env, TMPDIR: work, REGISTRY_AUTH_FILE: join(work, 'auth.json') },
        timeout: 120_000,
      });
    } catch (err) {
      const stderr =
        err !== null && typeof err === 'object' && 'stderr' in err ? String(err.stderr) : '';
      throw new Error(`skopeo copy ${src} ${dest} failed: ${stderr.trim() || String(err)}`, {
        cause: err,
      });
    }
    return (await readFile(digestFile, 'utf8')).trim();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

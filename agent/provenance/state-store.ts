// Keeps provenance and the fingerprint key in --state-dir, so that what the agent learned about
// the image cache survives restarts. Writes are atomic (temp file, fsync, rename, fsync of the
// directory): a crash leaves the old file or the new one, never a mix. Every failure is a value.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  link,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageId } from '../image/digest.ts';
import type { ImageProvenance } from '../model/snapshot.ts';
import {
  createFingerprintKey,
  MIN_FINGERPRINT_KEY_BYTES,
  type FingerprintKey,
} from '../credentials/credential-identity.ts';
import { err, ok, type Result } from '../result.ts';
import { describeError, errorCode, readBoundedBytes, readBoundedText } from './bounded-read.ts';
import {
  MAX_STATE_BYTES,
  decodeProvenanceState,
  encodeProvenanceState,
  type ProvenanceState,
} from './state-format.ts';

export const STATE_FILE_NAME = 'provenance.json';
export const FINGERPRINT_KEY_FILE_NAME = 'fingerprint.key';
export const FINGERPRINT_KEY_BYTES = 32;
/** A key file longer than this is not one we wrote. */
export const MAX_FINGERPRINT_KEY_BYTES = 4096;
/** Files set aside as corrupt that are kept for a post-mortem; older ones are removed. */
export const KEPT_SET_ASIDE_FILES = 5;
/** Temp files this old are leftovers of a writer that died mid-write. */
const STALE_TEMP_MS = 10 * 60_000;

export type LoadOutcome =
  /** The file was read and every entry was valid. */
  | 'loaded'
  /** No file: a first start. */
  | 'missing'
  /** The file could not be used and was moved aside (or could not even be moved). */
  | 'set-aside'
  /** The file could not be read (I/O error); it was left where it is. */
  | 'unreadable';

export interface LoadedProvenance {
  readonly outcome: LoadOutcome;
  readonly images: ReadonlyMap<ImageId, ImageProvenance>;
  /** When the loaded file was saved (ms since epoch). */
  readonly savedAt: number | undefined;
  /** Lines for the log; they never contain credentials. */
  readonly problems: readonly string[];
}

export interface LoadOptions {
  /** The node this agent runs on: a file written for another node is not used. */
  readonly node: string;
  /** ms since epoch; names set-aside files and ages temp files. */
  readonly now?: number;
}

export function stateFilePath(stateDir: string): string {
  return join(stateDir, STATE_FILE_NAME);
}

/**
 * The provenance saved in `stateDir`. Never throws: a missing file gives empty provenance; a
 * file that cannot be used (not JSON, wrong or newer schemaVersion, an invalid entry, another
 * node's) is moved aside to `provenance.json.corrupt-<time>` and empty provenance is returned
 * with a problem saying so.
 */
export async function loadProvenance(
  stateDir: string,
  options: LoadOptions,
): Promise<LoadedProvenance> {
  const now = options.now ?? Date.now();
  const path = stateFilePath(stateDir);
  await removeStaleTempFiles(stateDir, now);
  const empty = new Map<ImageId, ImageProvenance>();
  const text = await readBoundedText(path, MAX_STATE_BYTES);
  if (text.kind === 'missing') {
    return { outcome: 'missing', images: empty, savedAt: undefined, problems: [] };
  }
  if (text.kind === 'error') {
    return {
      outcome: 'unreadable',
      images: empty,
      savedAt: undefined,
      problems: [
        `state file ${path} could not be read (${text.reason}); provenance will be rebuilt`,
      ],
    };
  }
  const decoded =
    text.kind === 'too-large'
      ? err({ kind: 'corrupt' as const, reason: `larger than ${MAX_STATE_BYTES} bytes` })
      : text.kind === 'not-utf8'
        ? err({ kind: 'corrupt' as const, reason: 'not UTF-8 text' })
        : decodeProvenanceState(text.text, options.node);
  if (decoded.ok) {
    return {
      outcome: 'loaded',
      images: decoded.value.images,
      savedAt: decoded.value.savedAt,
      problems: [],
    };
  }
  const failure = decoded.error;
  const what =
    failure.kind === 'newer-schema'
      ? `was written by a newer pullwatch (${failure.reason})`
      : failure.kind === 'other-node'
        ? `belongs to another node (${failure.reason})`
        : `was corrupt (${failure.reason})`;
  const moved = await setAside(stateDir, path, now);
  const where = moved.ok
    ? `moved to ${moved.value}`
    : `could not be moved aside (${moved.error}) and will be overwritten at the next save`;
  return {
    outcome: 'set-aside',
    images: empty,
    savedAt: undefined,
    problems: [`state file ${path} ${what}; ${where}; provenance will be rebuilt`],
  };
}

/**
 * Writes provenance atomically. On any failure (read-only directory, ENOSPC, EFBIG...) the error
 * is returned, the temp file is removed, and the previous provenance.json is left untouched.
 */
export async function saveProvenance(
  stateDir: string,
  state: ProvenanceState,
): Promise<Result<{ readonly path: string; readonly bytes: number }, string>> {
  const path = stateFilePath(stateDir);
  let data: Buffer;
  try {
    data = Buffer.from(encodeProvenanceState(state), 'utf8');
  } catch (error) {
    return err(`could not encode provenance for ${path}: ${describeError(error)}`);
  }
  const written = await writeAtomically(stateDir, STATE_FILE_NAME, data, 'replace');
  return written.ok
    ? ok({ path, bytes: data.length })
    : err(`could not save ${path}: ${written.error}`);
}

/**
 * The agent's HMAC key for credential fingerprints, from `fingerprint.key` (32 random bytes,
 * mode 0600), created if missing. Creation links a fully written temp file into place, so two
 * agents racing end with one key, which both return. A key file shorter than 32 bytes is refused:
 * replacing it would silently change every fingerprint, so an operator must delete it.
 */
export async function loadOrCreateFingerprintKey(
  stateDir: string,
): Promise<Result<FingerprintKey, string>> {
  const path = join(stateDir, FINGERPRINT_KEY_FILE_NAME);
  const existing = await readFingerprintKey(path);
  if (existing !== undefined) return existing;
  const created = await writeAtomically(
    stateDir,
    FINGERPRINT_KEY_FILE_NAME,
    randomBytes(FINGERPRINT_KEY_BYTES),
    'create',
  );
  if (!created.ok) return err(`could not create fingerprint key ${path}: ${created.error}`);
  // Read back what is on disk: when another agent won the race, its key is the key.
  return (
    (await readFingerprintKey(path)) ??
    err(`fingerprint key ${path} disappeared right after it was created`)
  );
}

async function readFingerprintKey(
  path: string,
): Promise<Result<FingerprintKey, string> | undefined> {
  const read = await readBoundedBytes(path, MAX_FINGERPRINT_KEY_BYTES);
  switch (read.kind) {
    case 'missing':
      return undefined;
    case 'error':
      return err(`could not read fingerprint key ${path}: ${read.reason}`);
    case 'too-large':
      return err(
        `fingerprint key ${path} is larger than ${MAX_FINGERPRINT_KEY_BYTES} bytes: not a key pullwatch wrote; refusing it`,
      );
    case 'bytes': {
      if (read.bytes.length < MIN_FINGERPRINT_KEY_BYTES) {
        return err(
          `fingerprint key ${path} is too short (${read.bytes.length} bytes, at least ${MIN_FINGERPRINT_KEY_BYTES} needed); refusing it. Delete it to have a new key made (this changes every fingerprint)`,
        );
      }
      return createFingerprintKey(read.bytes);
    }
  }
}

/**
 * Writes `data` to `<dir>/<name>` through `<name>.tmp-<pid>-<random>`: fsync the file, then
 * rename it over the target ('replace') or hard-link it to the target, which fails if the target
 * exists ('create': the first writer wins and an existing target is not an error), then fsync
 * the directory.
 */
export async function writeAtomically(
  dir: string,
  name: string,
  data: Uint8Array,
  mode: 'replace' | 'create',
): Promise<Result<void, string>> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return err(`cannot create directory ${dir}: ${describeError(error)}`);
  }
  const target = join(dir, name);
  const temp = join(dir, `${name}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx', 0o600);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (mode === 'replace') {
      await rename(temp, target);
    } else {
      try {
        await link(temp, target);
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
      }
      await unlink(temp);
    }
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    return err(describeError(error));
  }
  return syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<Result<void, string>> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await handle.sync();
    return ok(undefined);
  } catch (error) {
    // Some file systems cannot fsync a directory; the rename itself has happened.
    const code = errorCode(error);
    if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EISDIR') return ok(undefined);
    return err(
      `the file is in place but the directory could not be synced: ${describeError(error)}`,
    );
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Renames a state file it cannot use to `<file>.corrupt-<time>`, keeping the newest few. */
async function setAside(dir: string, path: string, now: number): Promise<Result<string, string>> {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '');
  const aside = `${path}.corrupt-${stamp}`;
  try {
    await rename(path, aside);
  } catch (error) {
    return err(describeError(error));
  }
  await syncDirectory(dir);
  try {
    const prefix = `${STATE_FILE_NAME}.corrupt-`;
    const older = (await readdir(dir))
      .filter((entry) => entry.startsWith(prefix))
      .sort()
      .slice(0, -KEPT_SET_ASIDE_FILES);
    await Promise.all(older.map((entry) => unlink(join(dir, entry)).catch(() => undefined)));
  } catch {
    // Housekeeping only.
  }
  return ok(aside);
}

async function removeStaleTempFiles(dir: string, now: number): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  const prefixes = [`${STATE_FILE_NAME}.tmp-`, `${FINGERPRINT_KEY_FILE_NAME}.tmp-`];
  for (const entry of entries) {
    if (!prefixes.some((prefix) => entry.startsWith(prefix))) continue;
    const path = join(dir, entry);
    try {
      if (now - (await stat(path)).mtimeMs > STALE_TEMP_MS) await unlink(path);
    } catch {
      // Another writer's file, or already gone.
    }
  }
}

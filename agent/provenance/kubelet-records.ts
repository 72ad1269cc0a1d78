// Reads the kubelet's KEP-2535 pull records from disk, read-only. The directory is root-only
// (0700, files 0600) and exists only on nodes where KubeletEnsureSecretPulledImages is on, so
// every failure is a value: a missing directory means "gate off", anything else is a problem
// named with the file it concerns.
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageId } from '../image/digest.ts';
import { err, ok, type Result } from '../result.ts';
import { describeError, errorCode, readBoundedText } from './bounded-read.ts';
import {
  MAX_RECORD_BYTES,
  isRecordFileName,
  parsePullIntent,
  parsePulledRecord,
  pullIntentsDir,
  pulledRecordsDir,
  recordFileName,
  recordPathForImageId,
  type PullIntent,
  type PulledRecord,
} from './kubelet-record-format.ts';

export * from './kubelet-record-format.ts';

export interface PulledRecordsReading {
  /** Records found for the asked image IDs (whose imageRef is that ID). */
  readonly records: Map<ImageId, PulledRecord>;
  /** One line per file or directory that could not be read or understood. */
  readonly problems: string[];
  /** The pulled/ directory exists and is a directory: the kubelet writes records on this node. */
  readonly available: boolean;
}

export interface PullIntentsReading {
  /** Pulls the kubelet has started and not finished (or that were cut short by a restart). */
  readonly intents: PullIntent[];
  readonly problems: string[];
  readonly available: boolean;
}

const CONCURRENT_READS = 16;
/** An intent exists only while a pull runs: thousands of them mean something else wrote there. */
export const MAX_INTENT_FILES = 4096;

/**
 * The pulled records of the given cached images, looked up directly by file name (sha256 of the
 * image ID). An image without a record is simply absent from `records`: it was preloaded, pulled
 * before the gate was on, or pulled by a runtime that returned another reference.
 */
export async function readPulledRecords(
  kubeletRoot: string,
  imageIds: Iterable<ImageId>,
): Promise<PulledRecordsReading> {
  const records = new Map<ImageId, PulledRecord>();
  const problems: string[] = [];
  const dir = pulledRecordsDir(kubeletRoot);
  const available = await checkDirectory(dir, problems);
  if (!available) return { records, problems, available };

  const ids = [...new Set(imageIds)];
  for (let start = 0; start < ids.length; start += CONCURRENT_READS) {
    const batch = ids.slice(start, start + CONCURRENT_READS);
    const results = await Promise.all(batch.map((id) => readPulledRecordFor(kubeletRoot, id)));
    results.forEach((result, i) => {
      const id = batch[i];
      if (id === undefined || result === undefined) return;
      if (!result.ok) {
        problems.push(result.error);
        return;
      }
      records.set(id, result.value.record);
      problems.push(...result.value.warnings);
    });
  }
  return { records, problems, available };
}

/** Every pull intent in pulling/; a file whose name does not match its image is reported. */
export async function readPullIntents(kubeletRoot: string): Promise<PullIntentsReading> {
  const intents: PullIntent[] = [];
  const problems: string[] = [];
  const dir = pullIntentsDir(kubeletRoot);
  const available = await checkDirectory(dir, problems);
  if (!available) return { intents, problems, available };
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isRecordFileName).sort();
  } catch (error) {
    problems.push(`cannot list kubelet pull intents in ${dir}: ${describe(error)}`);
    return { intents, problems, available };
  }
  if (names.length > MAX_INTENT_FILES) {
    problems.push(
      `${dir} holds ${names.length} intent files; only the first ${MAX_INTENT_FILES} are read`,
    );
    names = names.slice(0, MAX_INTENT_FILES);
  }
  for (let start = 0; start < names.length; start += CONCURRENT_READS) {
    const batch = names.slice(start, start + CONCURRENT_READS);
    const results = await Promise.all(
      batch.map(async (name): Promise<Result<PullIntent, string> | undefined> => {
        const path = join(dir, name);
        const text = await readRecordText(path);
        if (text === undefined) return undefined;
        if (!text.ok) return text;
        const intent = parsePullIntent(text.value);
        if (!intent.ok) return err(`kubelet pull intent ${path}: ${intent.error}`);
        if (recordFileName(intent.value.image) !== name) {
          return err(`kubelet pull intent ${path} is for another image; ignored`);
        }
        return intent;
      }),
    );
    for (const result of results) {
      if (result === undefined) continue;
      if (result.ok) intents.push(result.value);
      else problems.push(result.error);
    }
  }
  return { intents, problems, available };
}

async function readPulledRecordFor(
  kubeletRoot: string,
  imageId: ImageId,
): Promise<Result<{ record: PulledRecord; warnings: string[] }, string> | undefined> {
  const path = recordPathForImageId(kubeletRoot, imageId);
  const text = await readRecordText(path);
  if (text === undefined) return undefined;
  if (!text.ok) return text;
  const record = parsePulledRecord(text.value);
  if (!record.ok) return err(`kubelet pulled record ${path}: ${record.error}`);
  // As the kubelet's GetImagePulledRecord: a record for another reference is no record.
  if (record.value.imageRef !== imageId) {
    return err(`kubelet pulled record ${path} is for another image reference; ignored`);
  }
  const warnings = record.value.warnings.map((w) => `kubelet pulled record ${path}: ${w}`);
  return ok({ record: record.value, warnings });
}

/** The file's text; undefined when it does not exist. */
async function readRecordText(path: string): Promise<Result<string, string> | undefined> {
  const read = await readBoundedText(path, MAX_RECORD_BYTES);
  switch (read.kind) {
    case 'missing':
      return undefined;
    case 'text':
      return ok(read.text);
    case 'too-large':
      return err(`kubelet record ${path} is over ${MAX_RECORD_BYTES} bytes; skipped`);
    case 'not-utf8':
      return err(`kubelet record ${path} is not UTF-8 text`);
    case 'error':
      return err(`cannot read kubelet record ${path}: ${hint(read.reason)}`);
  }
}

/** Whether `dir` is a readable directory; missing is not a problem (the feature gate is off). */
async function checkDirectory(dir: string, problems: string[]): Promise<boolean> {
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') {
      problems.push(`cannot read kubelet records directory ${dir}: ${describe(error)}`);
    }
    return false;
  }
  if (!info.isDirectory()) {
    problems.push(`kubelet records path ${dir} is not a directory`);
    return false;
  }
  return true;
}

function describe(error: unknown): string {
  return hint(describeError(error));
}

function hint(reason: string): string {
  return /^(EACCES|EPERM)\b/.test(reason)
    ? `${reason} (the kubelet keeps these root-only: run as root and mount the kubelet root read-only)`
    : reason;
}

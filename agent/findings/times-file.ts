// When each finding was first and last seen, kept in the state dir (findings.json) so that a
// restarted agent knows its findings instead of seeing them all anew: the one record every
// output reads its times from (the API's firstSeen, the reports' result timestamps, whether an
// Event series counts one more observation). Written atomically, like provenance; bounded by
// age: an entry whose finding was last seen more than a day ago is forgotten, so a finding that
// went away while the agent was down does not linger across restarts.
import { join } from 'node:path';
import { z } from 'zod';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import { describeError, readBoundedText } from '../provenance/bounded-read.ts';
import { writeAtomically } from '../provenance/state-store.ts';
import type { FindingTimes } from './store.ts';

export const FINDING_TIMES_FILE = 'findings.json';

/**
 * How long after a finding was last seen its times are kept. A restart (an upgrade, a node
 * reboot) is minutes; a node back after a day is a new look at it, and its findings new again.
 */
export const FINDING_TIMES_MAX_AGE_MS = 24 * 60 * 60_000;

/** A worst-case entry (a 64-hex id and two times) is about 120 bytes: 100,000 findings fit. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

const timesShape = z.strictObject({ firstSeen: z.iso.datetime(), lastSeen: z.iso.datetime() });
const fileShape = z.strictObject({
  version: z.literal(1),
  node: z.string(),
  findings: z.record(z.string().min(1), timesShape),
});

export type FindingTimesMap = ReadonlyMap<string, FindingTimes>;

/** The entries seen within `maxAgeMs` of `now`. */
export function recentFindingTimes(
  times: FindingTimesMap,
  now: number,
  maxAgeMs = FINDING_TIMES_MAX_AGE_MS,
): Map<string, FindingTimes> {
  const out = new Map<string, FindingTimes>();
  for (const [id, t] of times) if (Date.parse(t.lastSeen) >= now - maxAgeMs) out.set(id, t);
  return out;
}

export function encodeFindingTimes(node: string, times: FindingTimesMap, now: number): string {
  const findings = Object.fromEntries(recentFindingTimes(times, now));
  return JSON.stringify({ version: 1, node, findings });
}

/** The file's recent entries, or why it cannot be used. */
export function decodeFindingTimes(
  text: string,
  node: string,
  now: number,
): Result<Map<string, FindingTimes>, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return err(`not JSON: ${describeError(error)}`);
  }
  const parsed = fileShape.safeParse(json);
  if (!parsed.success) return err('not a record of finding times');
  // A state dir moved to another node says nothing about this node's findings.
  if (parsed.data.node !== node) return err(`node ${parsed.data.node}'s, not ${node}'s`);
  return ok(recentFindingTimes(new Map(Object.entries(parsed.data.findings)), now));
}

export interface LoadedFindingTimes {
  readonly times: Map<string, FindingTimes>;
  /** Why the file was not used, for the log; undefined when read or absent. */
  readonly problem: string | undefined;
}

/** Never fails: a missing or unusable file gives no times (every finding is then new). */
export async function loadFindingTimes(
  stateDir: string,
  node: string,
  now: number,
): Promise<LoadedFindingTimes> {
  const path = join(stateDir, FINDING_TIMES_FILE);
  const read = await readBoundedText(path, MAX_FILE_BYTES);
  const none = new Map<string, FindingTimes>();
  switch (read.kind) {
    case 'missing':
      return { times: none, problem: undefined };
    case 'error':
      return { times: none, problem: `cannot read ${path}: ${read.reason}` };
    case 'too-large':
    case 'not-utf8':
      return { times: none, problem: `${path} is ${read.kind}` };
    case 'text': {
      const decoded = decodeFindingTimes(read.text, node, now);
      return decoded.ok
        ? { times: decoded.value, problem: undefined }
        : { times: none, problem: `${path} is unusable (${decoded.error}); findings start anew` };
    }
  }
}

/** Undefined when saved, else why not; the previous file is then left as it was. */
export async function saveFindingTimes(
  stateDir: string,
  node: string,
  times: FindingTimesMap,
  now: number,
): Promise<string | undefined> {
  const text = encodeFindingTimes(node, times, now);
  const saved = await writeAtomically(stateDir, FINDING_TIMES_FILE, Buffer.from(text), 'replace');
  return saved.ok ? undefined : `cannot save ${FINDING_TIMES_FILE}: ${saved.error}`;
}

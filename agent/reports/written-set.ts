// The agent's record of the report objects it wrote, in its state dir (reports.json): the
// agent may not read reports (they name other nodes' tenants), so after a restart this record
// is how it knows what to delete and what is unchanged. Each object is kept as its reference
// and a digest of its content: a restarted agent whose findings are unchanged (they keep their
// first-seen times, agent/findings/times-file.ts) desires the same content and writes nothing.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { describeError, readBoundedText } from '../provenance/bounded-read.ts';
import { writeAtomically } from '../provenance/state-store.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { ObjectRef, ReportObject } from './desired.ts';

export const WRITTEN_SET_FILE = 'reports.json';
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface WrittenObject {
  readonly ref: ObjectRef;
  /** contentDigest() of what was last applied; undefined when only the object's existence is known. */
  readonly digest: string | undefined;
}

export interface WrittenSet {
  readonly node: string;
  readonly objects: readonly WrittenObject[];
}

const refShape = z.strictObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  namespace: z.string().min(1).optional(),
  name: z.string().min(1),
});

const fileShape = z.strictObject({
  // Version 1 also kept first-seen times, now in findings.json: such a file is not used.
  version: z.literal(2),
  node: z.string(),
  objects: z.array(z.strictObject({ ref: refShape, digest: z.string().optional() })),
});

/** What is compared to decide whether an object needs writing. */
export function contentDigest(object: ReportObject): string {
  return createHash('sha256').update(JSON.stringify(object)).digest('hex');
}

export type WrittenSetLoad =
  | { readonly kind: 'loaded'; readonly set: WrittenSet }
  | { readonly kind: 'missing' }
  | { readonly kind: 'unusable'; readonly problem: string };

export async function loadWrittenSet(stateDir: string, node: string): Promise<WrittenSetLoad> {
  const path = join(stateDir, WRITTEN_SET_FILE);
  const read = await readBoundedText(path, MAX_FILE_BYTES);
  switch (read.kind) {
    case 'missing':
      return { kind: 'missing' };
    case 'error':
      return { kind: 'unusable', problem: `cannot read ${path}: ${read.reason}` };
    case 'too-large':
    case 'not-utf8':
      return { kind: 'unusable', problem: `${path} is ${read.kind}` };
    case 'text':
      break;
  }
  let json: unknown;
  try {
    json = JSON.parse(read.text);
  } catch (error) {
    return { kind: 'unusable', problem: `${path} is not JSON: ${describeError(error)}` };
  }
  const parsed = fileShape.safeParse(json);
  if (!parsed.success) return { kind: 'unusable', problem: `${path} is not a record of reports` };
  // Another node's record (a state dir moved between nodes) says nothing about this node's.
  if (parsed.data.node !== node)
    return { kind: 'unusable', problem: `${path} is node ${parsed.data.node}'s, not ${node}'s` };
  return {
    kind: 'loaded',
    set: {
      node,
      objects: parsed.data.objects.map((o) => ({ ref: refOfRecord(o.ref), digest: o.digest })),
    },
  };
}

/** The record's reference without a namespace key when it has none (exactOptionalPropertyTypes). */
function refOfRecord(ref: z.infer<typeof refShape>): ObjectRef {
  const { apiVersion, kind, namespace, name } = ref;
  return namespace === undefined
    ? { apiVersion, kind, name }
    : { apiVersion, kind, namespace, name };
}

export async function saveWrittenSet(
  stateDir: string,
  set: WrittenSet,
): Promise<Result<void, string>> {
  const text = JSON.stringify({
    version: 2,
    node: set.node,
    objects: set.objects.map((o) => (o.digest === undefined ? { ref: o.ref } : o)),
  });
  const saved = await writeAtomically(stateDir, WRITTEN_SET_FILE, Buffer.from(text), 'replace');
  return saved.ok ? ok(undefined) : err(`cannot save ${WRITTEN_SET_FILE}: ${saved.error}`);
}

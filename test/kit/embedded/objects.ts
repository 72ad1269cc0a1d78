// The JSON objects the embedded API server stores: loose on purpose (any field a
// test puts in survives), with the few metadata fields the server relies on typed.

import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectRef {
  readonly name: string;
  /** Omitted (or empty) for cluster-scoped resources. */
  readonly namespace?: string;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
}

const stringMetaFields = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'creationTimestamp',
] as const;

/** Checks what the server relies on; everything else is kept as sent. */
export function parseKubeObject(value: unknown): Result<KubeObject, string> {
  if (!isRecord(value)) return err('the body is not a JSON object');
  const metadata = value['metadata'] ?? {};
  if (!isRecord(metadata)) return err('metadata: must be an object');
  for (const field of stringMetaFields) {
    const v = metadata[field];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      return err(`metadata.${field}: must be a string`);
    }
  }
  for (const field of ['labels', 'annotations'] as const) {
    const v = metadata[field];
    if (v !== undefined && v !== null && !isStringMap(v)) {
      return err(`metadata.${field}: must be a map of strings`);
    }
  }
  for (const field of ['apiVersion', 'kind'] as const) {
    const v = value[field];
    if (v !== undefined && typeof v !== 'string') return err(`${field}: must be a string`);
  }
  const copy = structuredClone(value);
  const meta = structuredClone(metadata);
  // JSON null means "unset" in Kubernetes objects.
  for (const [k, v] of Object.entries(meta)) if (v === null) Reflect.deleteProperty(meta, k);
  return ok({ ...copy, metadata: meta });
}

/** A shallow copy of `obj` without `keys` (which the caller's type may still list as optional). */
export function without<T extends object>(obj: T, keys: readonly (keyof T)[]): T {
  const copy = { ...obj };
  for (const key of keys) Reflect.deleteProperty(copy, key);
  return copy;
}

export function cloneObject(obj: KubeObject): KubeObject {
  return structuredClone(obj);
}

/** Walks `path` and renders the leaf the way field selectors compare it ('' when absent). */
export function fieldText(obj: unknown, path: readonly string[]): string {
  let cursor: unknown = obj;
  for (const step of path) {
    if (!isRecord(cursor)) return '';
    cursor = cursor[step];
  }
  if (typeof cursor === 'string') return cursor;
  if (typeof cursor === 'boolean' || typeof cursor === 'number') return String(cursor);
  return '';
}

/** RFC 3339 with second precision, as the API server writes metav1.Time. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
}

// The alphabet apiserver's names.SimpleNameGenerator draws from (no vowels, no look-alikes).
const nameSuffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

export function generateNameSuffix(random: () => number = Math.random): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) {
    suffix += nameSuffixAlphabet[Math.floor(random() * nameSuffixAlphabet.length)] ?? 'x';
  }
  return suffix;
}

// Server-side apply and the field ownership behind it (metadata.managedFields), after
// structured-merge-diff as kube-apiserver runs it (staging/src/k8s.io/apiserver/pkg/endpoints/
// handlers/fieldmanager): a manager's applied configuration is merged into the object, the
// fields it applied before and no longer applies are removed unless another manager owns them,
// and a field another manager owns with a different value is a conflict unless forced. Every
// list is atomic here (the real server merges lists marked `x-kubernetes-list-type: map` by key):
// whoever applies a list owns all of it. Maps merge key by key.

import type { KubeObject } from './objects.ts';
import { isRecord } from './objects.ts';

type Path = readonly string[];

export interface ManagedFieldsEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  readonly time: string;
  readonly fieldsType: 'FieldsV1';
  readonly fieldsV1: Record<string, unknown>;
  readonly subresource?: string;
}

interface Ownership {
  readonly entry: ManagedFieldsEntry;
  paths: Map<string, Path>;
}

const keyOf = (path: Path): string => JSON.stringify(path);

/** The metadata fields a manager can own; the rest is identity or the server's (stripmeta.go). */
const ownableMetadata = new Set(['labels', 'annotations', 'ownerReferences', 'finalizers']);

/** The leaf fields an object sets, as ownership counts them (maps are walked, lists are leaves). */
export function fieldPaths(obj: KubeObject, subresource: string | undefined): Map<string, Path> {
  const paths = new Map<string, Path>();
  const walk = (value: unknown, path: string[]): void => {
    if (isRecord(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) walk(child, [...path, key]);
    } else {
      paths.set(keyOf(path), path);
    }
  };
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind') continue;
    if ((subresource === 'status') !== (key === 'status') && key !== 'metadata') continue;
    if (key === 'metadata') {
      if (subresource === 'status' || !isRecord(value)) continue;
      for (const [field, child] of Object.entries(value)) {
        if (ownableMetadata.has(field)) walk(child, ['metadata', field]);
      }
      continue;
    }
    walk(value, [key]);
  }
  return paths;
}

/** FieldsV1: `{"f:metadata":{"f:labels":{"f:app":{}}}}` from leaf paths. */
export function encodeFieldsV1(paths: Iterable<Path>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const path of paths) {
    let cursor = root;
    for (const segment of path) {
      const key = `f:${segment}`;
      const next = isRecord(cursor[key]) ? cursor[key] : {};
      cursor[key] = next;
      cursor = next;
    }
  }
  return root;
}

/** The leaf paths of a FieldsV1 set; `k:`/`v:`/`i:` list entries count as their whole list. */
export function decodeFieldsV1(fields: unknown): Map<string, Path> {
  const paths = new Map<string, Path>();
  const walk = (node: unknown, path: string[]): void => {
    const children = isRecord(node)
      ? Object.entries(node).filter(([key]) => key.startsWith('f:'))
      : [];
    const listEntries = isRecord(node) && Object.keys(node).some((k) => /^[kvi]:/.test(k));
    if ((children.length === 0 || listEntries) && path.length > 0) {
      paths.set(keyOf(path), path);
      return;
    }
    for (const [key, child] of children) walk(child, [...path, key.slice(2)]);
  };
  walk(fields, []);
  return paths;
}

export function managedFieldsOf(obj: KubeObject | undefined): ManagedFieldsEntry[] {
  const entries = obj?.metadata['managedFields'];
  return Array.isArray(entries)
    ? entries.filter(
        (e): e is ManagedFieldsEntry => isRecord(e) && typeof e['manager'] === 'string',
      )
    : [];
}

function valueAt(obj: unknown, path: Path): unknown {
  let cursor = obj;
  for (const segment of path) {
    if (!isRecord(cursor)) return undefined;
    cursor = cursor[segment];
  }
  return cursor;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** One path is the other or lies inside it. */
function overlaps(a: Path, b: Path): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function removeAt(obj: Record<string, unknown>, path: Path): void {
  const parents: Record<string, unknown>[] = [obj];
  let cursor: unknown = obj;
  for (const segment of path.slice(0, -1)) {
    if (!isRecord(cursor)) return;
    cursor = cursor[segment];
    if (!isRecord(cursor)) return;
    parents.push(cursor);
  }
  const last = path.at(-1);
  const parent = parents.at(-1);
  if (last === undefined || parent === undefined) return;
  Reflect.deleteProperty(parent, last);
  // A map the removal emptied goes too, up to (not including) the object's top level.
  for (let i = parents.length - 1; i > 0; i--) {
    const map = parents[i];
    const key = path[i - 1];
    if (map === undefined || key === undefined || Object.keys(map).length > 0) break;
    Reflect.deleteProperty(parents[i - 1] ?? {}, key);
  }
}

/** Maps merge key by key; anything else (lists included) is replaced by what is applied. */
function mergeInto(target: unknown, applied: unknown): unknown {
  if (!isRecord(applied) || !isRecord(target)) return structuredClone(applied);
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(applied)) out[key] = mergeInto(out[key], value);
  return out;
}

export interface ApplyRequest {
  readonly manager: string;
  readonly force: boolean;
  readonly apiVersion: string;
  readonly subresource: string | undefined;
  /** RFC 3339, for the manager's entry when its fields change. */
  readonly now: string;
}

export interface FieldConflict {
  readonly manager: string;
  readonly apiVersion: string;
  /** `.spec.replicas`, as the real server prints a conflicting field. */
  readonly field: string;
}

export type ApplyOutcome =
  | { readonly ok: true; readonly object: KubeObject }
  | { readonly ok: false; readonly conflicts: readonly FieldConflict[] };

const fieldText = (path: Path): string => path.map((s) => `.${s}`).join('');

function sameSubresource(entry: ManagedFieldsEntry, subresource: string | undefined): boolean {
  return (entry.subresource ?? '') === (subresource ?? '');
}

function ownershipsOf(current: KubeObject | undefined): Ownership[] {
  return managedFieldsOf(current).map((entry) => ({
    entry,
    paths: decodeFieldsV1(entry.fieldsV1),
  }));
}

/** The entries after a write: `next` in place of the writer's old entry (or last), empty sets gone. */
function entriesAfter(
  owners: readonly Ownership[],
  mine: Ownership | undefined,
  next: ManagedFieldsEntry,
): ManagedFieldsEntry[] {
  const entries = owners.flatMap((o) => {
    if (o === mine) return [next];
    return o.paths.size > 0 ? [{ ...o.entry, fieldsV1: encodeFieldsV1(o.paths.values()) }] : [];
  });
  if (!mine) entries.push(next);
  return entries;
}

/**
 * The object after `manager` applies `applied` to `current` (undefined: the object is new),
 * with managedFields updated; or the fields other managers own that the apply would change.
 */
export function applyConfiguration(
  current: KubeObject | undefined,
  applied: KubeObject,
  request: ApplyRequest,
): ApplyOutcome {
  const owners = ownershipsOf(current);
  const isMine = (o: Ownership): boolean =>
    o.entry.manager === request.manager &&
    o.entry.operation === 'Apply' &&
    sameSubresource(o.entry, request.subresource);
  const mine = owners.find(isMine);
  const wanted = fieldPaths(applied, request.subresource);

  const conflicts: FieldConflict[] = [];
  for (const other of owners) {
    if (other === mine || !sameSubresource(other.entry, request.subresource)) continue;
    for (const [key, owned] of other.paths) {
      for (const path of wanted.values()) {
        if (!overlaps(owned, path)) continue;
        if (canonical(valueAt(current, path)) === canonical(valueAt(applied, path))) continue;
        if (request.force) other.paths.delete(key);
        else {
          conflicts.push({
            manager: other.entry.manager,
            apiVersion: other.entry.apiVersion,
            field: fieldText(owned),
          });
        }
        break;
      }
    }
  }
  if (conflicts.length > 0) return { ok: false, conflicts };

  const base: Record<string, unknown> = structuredClone(current ?? { metadata: {} });
  const ownedByOthers = owners.filter((o) => o !== mine).flatMap((o) => [...o.paths.values()]);
  for (const [key, path] of mine?.paths ?? []) {
    if (wanted.has(key)) continue;
    if (ownedByOthers.some((other) => overlaps(other, path))) continue;
    removeAt(base, path);
  }
  const appliedBody: Record<string, unknown> = { ...applied };
  const appliedMeta = isRecord(applied.metadata) ? applied.metadata : {};
  appliedBody['metadata'] = Object.fromEntries(
    Object.entries(appliedMeta).filter(([field]) => ownableMetadata.has(field)),
  );
  const merged = mergeInto(base, appliedBody) as KubeObject;

  const unchanged =
    mine !== undefined &&
    canonical([...mine.paths.keys()].sort()) === canonical([...wanted.keys()].sort()) &&
    canonical(withoutManagedFields(merged)) === canonical(withoutManagedFields(current));
  const entry: ManagedFieldsEntry =
    unchanged && mine
      ? mine.entry
      : {
          manager: request.manager,
          operation: 'Apply',
          apiVersion: request.apiVersion,
          time: request.now,
          fieldsType: 'FieldsV1',
          fieldsV1: encodeFieldsV1(wanted.values()),
          ...(request.subresource ? { subresource: request.subresource } : {}),
        };
  return {
    ok: true,
    object: {
      ...merged,
      metadata: { ...merged.metadata, managedFields: entriesAfter(owners, mine, entry) },
    },
  };
}

function withoutManagedFields(obj: KubeObject | undefined): unknown {
  if (!obj) return undefined;
  const metadata: Record<string, unknown> = { ...obj.metadata };
  Reflect.deleteProperty(metadata, 'managedFields');
  Reflect.deleteProperty(metadata, 'resourceVersion');
  return { ...obj, metadata };
}

/**
 * managedFields after a write that is not an apply (create, update, patch): the writer takes
 * the fields it changed from whoever owned them, as an Update operation of its own.
 */
export function recordUpdate(
  old: KubeObject | undefined,
  next: KubeObject,
  request: Omit<ApplyRequest, 'force'>,
): KubeObject {
  const owners = ownershipsOf(old);
  const before = fieldPaths(old ?? { metadata: {} }, request.subresource);
  const after = fieldPaths(next, request.subresource);
  const changed = [...after].filter(
    ([key, path]) =>
      !before.has(key) || canonical(valueAt(old, path)) !== canonical(valueAt(next, path)),
  );
  const removed = [...before.keys()].filter((key) => !after.has(key));
  if (changed.length === 0 && removed.length === 0) {
    return { ...next, metadata: { ...next.metadata, managedFields: managedFieldsOf(old) } };
  }
  const mine = owners.find(
    (o) =>
      o.entry.manager === request.manager &&
      o.entry.operation === 'Update' &&
      sameSubresource(o.entry, request.subresource),
  );
  for (const owner of owners) {
    for (const [key] of changed) if (owner !== mine) owner.paths.delete(key);
    for (const key of removed) owner.paths.delete(key);
  }
  const paths = new Map(mine?.paths ?? []);
  for (const [key, path] of changed) paths.set(key, path);
  const entry: ManagedFieldsEntry = {
    manager: request.manager,
    operation: 'Update',
    apiVersion: request.apiVersion,
    time: request.now,
    fieldsType: 'FieldsV1',
    fieldsV1: encodeFieldsV1(paths.values()),
    ...(request.subresource ? { subresource: request.subresource } : {}),
  };
  return {
    ...next,
    metadata: { ...next.metadata, managedFields: entriesAfter(owners, mine, entry) },
  };
}

/** The 409 message kube-apiserver writes for apply conflicts (fieldmanager ConflictError). */
export function conflictMessage(conflicts: readonly FieldConflict[]): string {
  if (conflicts.length === 1) {
    const [c] = conflicts;
    return `Apply failed with 1 conflict: conflict with "${c?.manager ?? ''}" using ${c?.apiVersion ?? ''}: ${c?.field ?? ''}`;
  }
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const head = `conflicts with "${c.manager}" using ${c.apiVersion}:`;
    byManager.set(head, [...(byManager.get(head) ?? []), `- ${c.field}`]);
  }
  const sections = [...byManager].map(([head, lines]) => [head, ...lines].join('\n'));
  return `Apply failed with ${conflicts.length} conflicts: ${sections.join('\n')}`;
}

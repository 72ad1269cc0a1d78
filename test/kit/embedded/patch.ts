// PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902). A strategic
// merge patch is applied as a merge patch: lists are replaced, not merged by key. Server-side
// apply (`apply`) is not a patch of the stored object: apply.ts merges it.

import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import { isRecord } from './objects.ts';

export type PatchType = 'json' | 'merge' | 'strategic-merge' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (media) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic-merge';
    case 'application/apply-patch+yaml':
      return 'apply';
    default:
      return undefined;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) Reflect.deleteProperty(result, key);
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

type Container = Record<string, unknown> | unknown[];

function parsePointer(pointer: string): Result<string[], string> {
  if (pointer === '') return ok([]);
  if (!pointer.startsWith('/')) return err(`invalid JSON pointer ${pointer}`);
  return ok(
    pointer
      .slice(1)
      .split('/')
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~')),
  );
}

function arrayIndex(array: unknown[], token: string, forInsert: boolean): Result<number, string> {
  if (forInsert && token === '-') return ok(array.length);
  if (!/^(0|[1-9]\d*)$/.test(token)) return err(`invalid array index ${token}`);
  const index = Number(token);
  const limit = forInsert ? array.length : array.length - 1;
  if (index > limit) return err(`array index ${token} out of bounds`);
  return ok(index);
}

function child(parent: unknown, token: string): unknown {
  if (Array.isArray(parent)) return parent[Number(token)];
  if (isRecord(parent)) return parent[token];
  return undefined;
}

/** Resolves the container that holds the last token of `path`. */
function parentOf(
  doc: unknown,
  path: string[],
): Result<{ parent: Container; last: string }, string> {
  let cursor = doc;
  for (const token of path.slice(0, -1)) {
    cursor = child(cursor, token);
    if (cursor === undefined) return err(`path /${path.join('/')} does not exist`);
  }
  const last = path.at(-1);
  if (last === undefined) return err('the root cannot be the target');
  if (!Array.isArray(cursor) && !isRecord(cursor))
    return err(`path /${path.join('/')} does not exist`);
  return ok({ parent: cursor, last });
}

function getAt(doc: unknown, path: string[]): Result<unknown, string> {
  let cursor = doc;
  for (const token of path) {
    if (Array.isArray(cursor)) {
      const index = arrayIndex(cursor, token, false);
      if (!index.ok) return index;
      cursor = cursor[index.value];
    } else if (isRecord(cursor) && Object.hasOwn(cursor, token)) {
      cursor = cursor[token];
    } else {
      return err(`path /${path.join('/')} does not exist`);
    }
  }
  return ok(cursor);
}

function addAt(doc: unknown, path: string[], value: unknown): Result<unknown, string> {
  if (path.length === 0) return ok(value);
  const target = parentOf(doc, path);
  if (!target.ok) return target;
  const { parent, last } = target.value;
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, true);
    if (!index.ok) return index;
    parent.splice(index.value, 0, value);
  } else {
    parent[last] = value;
  }
  return ok(doc);
}

function removeAt(doc: unknown, path: string[]): Result<unknown, string> {
  const target = parentOf(doc, path);
  if (!target.ok) return target;
  const { parent, last } = target.value;
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    if (!index.ok) return index;
    parent.splice(index.value, 1);
  } else {
    if (!Object.hasOwn(parent, last)) return err(`path /${path.join('/')} does not exist`);
    Reflect.deleteProperty(parent, last);
  }
  return ok(doc);
}

function applyOperation(doc: unknown, operation: unknown): Result<unknown, string> {
  if (!isRecord(operation)) return err('a JSON patch operation must be an object');
  const { op, path: pathText, from: fromText, value } = operation;
  if (typeof op !== 'string' || typeof pathText !== 'string') {
    return err('a JSON patch operation needs string "op" and "path"');
  }
  const path = parsePointer(pathText);
  if (!path.ok) return path;
  switch (op) {
    case 'add':
      return addAt(doc, path.value, structuredClone(value));
    case 'remove':
      return removeAt(doc, path.value);
    case 'replace': {
      const existing = getAt(doc, path.value);
      if (!existing.ok) return existing;
      if (path.value.length === 0) return ok(structuredClone(value));
      const removed = removeAt(doc, path.value);
      return removed.ok ? addAt(removed.value, path.value, structuredClone(value)) : removed;
    }
    case 'test': {
      const existing = getAt(doc, path.value);
      if (!existing.ok) return existing;
      return JSON.stringify(existing.value) === JSON.stringify(value)
        ? ok(doc)
        : err(`testing value ${pathText} failed`);
    }
    case 'move':
    case 'copy': {
      if (typeof fromText !== 'string') return err(`"${op}" needs a "from" path`);
      const from = parsePointer(fromText);
      if (!from.ok) return from;
      const moved = getAt(doc, from.value);
      if (!moved.ok) return moved;
      const copy = structuredClone(moved.value);
      const source = op === 'move' ? removeAt(doc, from.value) : ok(doc);
      return source.ok ? addAt(source.value, path.value, copy) : source;
    }
    default:
      return err(`unknown JSON patch operation ${op}`);
  }
}

export function jsonPatch(doc: unknown, operations: unknown): Result<unknown, string> {
  if (!Array.isArray(operations)) return err('a JSON patch must be an array of operations');
  let current: unknown = structuredClone(doc);
  for (const operation of operations) {
    const next = applyOperation(current, operation);
    if (!next.ok) return next;
    current = next.value;
  }
  return ok(current);
}

export function applyPatch(type: PatchType, doc: unknown, patch: unknown): Result<unknown, string> {
  return type === 'json' ? jsonPatch(doc, patch) : ok(mergePatch(doc, patch));
}

// A CustomResourceDefinition version's openAPIV3Schema, applied as kube-apiserver applies a
// structural schema to a custom resource (k8s.io/apiextensions-apiserver/pkg/apiserver/schema):
// unknown fields are pruned unless `x-kubernetes-preserve-unknown-fields`, a null in a field
// that is not `nullable` is dropped, `default`s are filled in, and what remains is validated.
// Validation is ajv's (a devDependency) over the schema translated to JSON Schema: the
// `x-kubernetes-*` keywords carry no constraint for ajv except `x-kubernetes-int-or-string`,
// formats the real server knows are checked and the others ignored (as kube-openapi's strfmt
// registry ignores a format it does not know). CEL rules (`x-kubernetes-validations`) are not
// evaluated.

import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { KubeObject } from './objects.ts';
import { isRecord } from './objects.ts';
import type { StatusCause } from './status.ts';
import { fieldInvalid, fieldRequired, fieldUnsupported } from './status.ts';

export type OpenApiSchema = Readonly<Record<string, unknown>>;

// ajv-formats is CommonJS: under Node's ESM loader its default export is module.exports.
const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats: readonly string[]) => void;

const preserveUnknown = 'x-kubernetes-preserve-unknown-fields';
const embeddedResource = 'x-kubernetes-embedded-resource';

/** Fields every object keeps whatever its schema says (the root and embedded resources). */
const typeMetaFields = new Set(['apiVersion', 'kind', 'metadata']);

function schemaAt(schema: OpenApiSchema, key: string): OpenApiSchema | undefined {
  const value = schema[key];
  return isRecord(value) ? value : undefined;
}

function fieldPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

interface PruneResult {
  readonly value: unknown;
  /** Paths of the fields dropped because the schema does not declare them. */
  readonly unknown: readonly string[];
}

/** Prunes, drops non-nullable nulls and fills defaults (structural.Prune, then defaulting). */
export function pruneAndDefault(schema: OpenApiSchema, obj: KubeObject): PruneResult {
  const unknown: string[] = [];
  const walk = (
    value: unknown,
    s: OpenApiSchema | undefined,
    path: string,
    root: boolean,
  ): unknown => {
    if (s === undefined) return value;
    if (Array.isArray(value)) {
      const items = schemaAt(s, 'items');
      return value.map((item, i) => walk(item, items, `${path}[${i}]`, false));
    }
    if (!isRecord(value)) return value;
    const properties = schemaAt(s, 'properties');
    const additional = s['additionalProperties'];
    const keepAll = s[preserveUnknown] === true || additional === true;
    const keepTypeMeta = root || s[embeddedResource] === true;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const path2 = fieldPath(path, key);
      const childSchema =
        schemaAt(properties ?? {}, key) ?? (isRecord(additional) ? additional : undefined);
      if (keepTypeMeta && typeMetaFields.has(key) && childSchema === undefined) {
        out[key] = child;
        continue;
      }
      if (childSchema === undefined && !keepAll) {
        unknown.push(path2);
        continue;
      }
      if (child === null && childSchema !== undefined && childSchema['nullable'] !== true) continue;
      out[key] =
        keepTypeMeta && key === 'metadata' ? child : walk(child, childSchema, path2, false);
    }
    for (const [key, childSchema] of Object.entries(properties ?? {})) {
      if (out[key] === undefined && isRecord(childSchema) && 'default' in childSchema) {
        out[key] = structuredClone(childSchema['default']);
      }
    }
    return out;
  };
  const value = walk(obj, schema, '', true);
  return { value, unknown };
}

const knownFormats: Readonly<Record<string, string | undefined>> = {
  // kube-openapi's names mapped to ajv-formats' (undefined: checked by a format added below).
  'date-time': 'date-time',
  date: 'date',
  uuid: 'uuid',
  email: 'email',
  hostname: 'hostname',
  ipv4: 'ipv4',
  ipv6: 'ipv6',
  uri: 'uri',
  byte: 'byte',
  int32: undefined,
  int64: undefined,
  float: undefined,
  double: undefined,
};

/** The schema as draft-07 JSON Schema for ajv. */
function toJsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (!isRecord(s)) return s;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(s)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'example') continue;
    if (key === 'format') {
      if (typeof value === 'string' && value in knownFormats) out[key] = value;
      continue;
    }
    if (key === 'properties' && isRecord(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, toJsonSchema(child)]),
      );
      continue;
    }
    out[key] = toJsonSchema(value);
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    Reflect.deleteProperty(out, 'type');
    return { ...out, anyOf: [{ type: 'integer' }, { type: 'string' }] };
  }
  // ajv checks `nullable` only beside a `type`; a null that reached validation is allowed.
  if (s['nullable'] === true && out['type'] === undefined) Reflect.deleteProperty(out, 'nullable');
  return out;
}

let sharedAjv: Ajv | undefined;

function ajv(): Ajv {
  if (sharedAjv) return sharedAjv;
  const instance = new Ajv({ allErrors: true, strict: false, logger: false });
  addFormats(instance, [
    'date-time',
    'date',
    'uuid',
    'email',
    'hostname',
    'ipv4',
    'ipv6',
    'uri',
    'byte',
  ]);
  const int32 = {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  } as const;
  instance.addFormat('int32', int32);
  instance.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  instance.addFormat('float', { type: 'number', validate: () => true });
  instance.addFormat('double', { type: 'number', validate: () => true });
  sharedAjv = instance;
  return instance;
}

/** The path ajv reports (`/results/0/policy`) written as the real server writes it. */
function kubePath(instancePath: string, extra?: string): string {
  const segments = instancePath.split('/').slice(1);
  let path = '';
  for (const raw of segments) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = /^\d+$/.test(segment) ? `${path}[${segment}]` : fieldPath(path, segment);
  }
  return extra === undefined ? path : fieldPath(path, extra);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cursor = root;
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(cursor)) cursor = cursor[Number(segment)];
    else if (isRecord(cursor)) cursor = cursor[segment];
    else return undefined;
  }
  return cursor;
}

/** One ajv error as the field.Error kube-openapi's validator reports for it. */
function causeOf(error: ErrorObject, root: unknown): StatusCause {
  const path = kubePath(error.instancePath);
  const value = valueAt(root, error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return fieldRequired(kubePath(error.instancePath, String(params['missingProperty'])));
    case 'enum':
      return fieldUnsupported(
        path,
        value,
        Array.isArray(params['allowedValues']) ? params['allowedValues'] : [],
      );
    case 'type':
      return fieldInvalid(
        path,
        typeName(value),
        `${path} in body must be of type ${String(params['type'])}: "${typeName(value)}"`,
      );
    default:
      return fieldInvalid(path, value, `${path} in body ${error.message ?? 'is invalid'}`);
  }
}

/**
 * One cause per field, as kube-openapi reports them: a failed anyOf (int-or-string) speaks for
 * its branches, and a field's first error (its type before its format) for the rest.
 */
function causesOf(errors: readonly ErrorObject[], root: unknown): StatusCause[] {
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  const causes = new Map<string, StatusCause>();
  for (const error of errors) {
    if (anyOfPaths.some((prefix) => error.schemaPath.startsWith(prefix))) continue;
    const cause =
      error.keyword === 'anyOf' ? anyOfCause(error, errors, root) : causeOf(error, root);
    const field = cause.field ?? '';
    if (!causes.has(field)) causes.set(field, cause);
  }
  return [...causes.values()];
}

/** A failed anyOf whose branches are all type checks reads as one type error naming them all. */
function anyOfCause(
  error: ErrorObject,
  errors: readonly ErrorObject[],
  root: unknown,
): StatusCause {
  const branches = errors.filter((e) => e.schemaPath.startsWith(`${error.schemaPath}/`));
  if (branches.length === 0 || branches.some((e) => e.keyword !== 'type')) {
    return causeOf(error, root);
  }
  const types = branches.map((e) => String((e.params as Record<string, unknown>)['type']));
  const path = kubePath(error.instancePath);
  const actual = typeName(valueAt(root, error.instancePath));
  return fieldInvalid(
    path,
    actual,
    `${path} in body must be of type ${types.join(',')}: "${actual}"`,
  );
}

export interface CompiledSchema {
  readonly prune: (obj: KubeObject) => PruneResult;
  readonly validate: (obj: KubeObject) => readonly StatusCause[];
}

export function compileSchema(schema: OpenApiSchema): CompiledSchema {
  // ObjectMeta is validated by the server's own rules, never by the CRD's schema.
  const properties = schemaAt(schema, 'properties') ?? {};
  const withoutMeta = { ...schema, properties: { ...properties, metadata: { type: 'object' } } };
  const check: ValidateFunction = ajv().compile(toJsonSchema(withoutMeta) as object);
  return {
    prune: (obj) => pruneAndDefault(schema, obj),
    validate: (obj) => (check(obj) ? [] : causesOf(check.errors ?? [], obj)),
  };
}

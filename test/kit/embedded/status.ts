// API errors as values, rendered as the metav1.Status objects the real server sends
// (k8s.io/apimachinery/pkg/api/errors): same code, reason and message shapes, so
// clients branch on them exactly as they would against a cluster.

import type { ResourceType } from './resources.ts';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'Unknown';

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

export interface ApiError {
  readonly code: number;
  readonly reason: StatusReason;
  readonly message: string;
  readonly details?: StatusDetails;
}

export interface StatusObject {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure' | 'Success';
  readonly message?: string;
  readonly reason?: StatusReason;
  readonly details?: StatusDetails;
  readonly code: number;
}

export function statusOf(error: ApiError): StatusObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: error.message,
    reason: error.reason,
    ...(error.details ? { details: error.details } : {}),
    code: error.code,
  };
}

export function successStatus(details: StatusDetails): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}

function qualified(rt: ResourceType): string {
  return rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
}

function detailsFor(rt: ResourceType, name: string): StatusDetails {
  return { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.resource };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return {
    code: 404,
    reason: 'NotFound',
    message: `${qualified(rt)} "${name}" not found`,
    details: detailsFor(rt, name),
  };
}

export function namespaceNotFound(namespace: string): ApiError {
  return {
    code: 404,
    reason: 'NotFound',
    message: `namespaces "${namespace}" not found`,
    details: { name: namespace, kind: 'namespaces' },
  };
}

export function pathNotFound(): ApiError {
  return {
    code: 404,
    reason: 'NotFound',
    message: 'the server could not find the requested resource',
  };
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return {
    code: 409,
    reason: 'AlreadyExists',
    message: `${qualified(rt)} "${name}" already exists`,
    details: detailsFor(rt, name),
  };
}

export function conflict(rt: ResourceType, name: string, why: string): ApiError {
  return {
    code: 409,
    reason: 'Conflict',
    message: `Operation cannot be fulfilled on ${qualified(rt)} "${name}": ${why}`,
    details: detailsFor(rt, name),
  };
}

export const staleObjectMessage =
  'the object has been modified; please apply your changes to the latest version and try again';

/** `Pod`, `Report.openreports.io`: schema.GroupKind as the real server prints it in errors. */
function qualifiedKind(rt: ResourceType): string {
  return rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
}

/** A field error's value as apimachinery's field.Error prints it. */
function renderValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? 'null');
}

export function fieldRequired(field: string, detail = ''): StatusCause {
  return {
    reason: 'FieldValueRequired',
    field,
    message: detail ? `Required value: ${detail}` : 'Required value',
  };
}

export function fieldInvalid(field: string, value: unknown, detail: string): StatusCause {
  return {
    reason: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${renderValue(value)}: ${detail}`,
  };
}

export function fieldUnsupported(
  field: string,
  value: unknown,
  supported: readonly unknown[],
): StatusCause {
  return {
    reason: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${renderValue(value)}: supported values: ${supported.map(renderValue).join(', ')}`,
  };
}

export function fieldForbidden(field: string, detail: string): StatusCause {
  return { reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` };
}

/** 422 Invalid naming every field at fault (errors.NewInvalid). */
export function invalidObject(
  rt: ResourceType,
  name: string,
  causes: readonly StatusCause[],
): ApiError {
  const lines = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`);
  const summary = lines.length === 1 ? (lines[0] ?? '') : `[${lines.join(', ')}]`;
  return {
    code: 422,
    reason: 'Invalid',
    message: `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`,
    details: { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.kind, causes },
  };
}

export function invalid(rt: ResourceType, name: string, field: string, message: string): ApiError {
  return invalidObject(rt, name, [{ field, message }]);
}

/** 422 for request options (PatchOptions, CreateOptions...) of group meta.k8s.io. */
export function optionsInvalid(kind: string, causes: readonly StatusCause[]): ApiError {
  const lines = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`);
  return {
    code: 422,
    reason: 'Invalid',
    message: `${kind}.meta.k8s.io "" is invalid: ${lines.length === 1 ? (lines[0] ?? '') : `[${lines.join(', ')}]`}`,
    details: { group: 'meta.k8s.io', kind, causes },
  };
}

export function listOptionsInvalid(field: string, message: string): ApiError {
  return {
    code: 422,
    reason: 'Invalid',
    message: `ListOptions.meta.k8s.io "" is invalid: ${field}: Forbidden: ${message}`,
    details: { group: 'meta.k8s.io', kind: 'ListOptions', causes: [{ field, message }] },
  };
}

export function badRequest(message: string): ApiError {
  return { code: 400, reason: 'BadRequest', message };
}

export function methodNotAllowed(): ApiError {
  return {
    code: 405,
    reason: 'MethodNotAllowed',
    message: 'the server does not allow this method on the requested resource',
  };
}

export function unsupportedMediaType(contentType: string): ApiError {
  return {
    code: 415,
    reason: 'UnsupportedMediaType',
    message: `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`,
  };
}

export function entityTooLarge(): ApiError {
  return {
    code: 413,
    reason: 'RequestEntityTooLarge',
    message: 'Request entity too large: limit is 3145728',
  };
}

/** What the watch cache and etcd answer for a resourceVersion that history no longer covers. */
export function tooOldResourceVersion(requested: number, oldest: number): ApiError {
  return {
    code: 410,
    reason: 'Expired',
    message: `too old resource version: ${requested} (${oldest})`,
  };
}

export function continueExpired(): ApiError {
  return {
    code: 410,
    reason: 'Expired',
    message:
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
  };
}

export function tooLargeResourceVersion(requested: number, current: number): ApiError {
  return {
    code: 504,
    reason: 'Timeout',
    message: `Too large resource version: ${requested}, current: ${current}`,
    details: {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    },
  };
}

export function unauthorized(): ApiError {
  return { code: 401, reason: 'Unauthorized', message: 'Unauthorized' };
}

export function forbidden(message: string): ApiError {
  return { code: 403, reason: 'Forbidden', message };
}

const reasonByCode = new Map<number, StatusReason>([
  [400, 'BadRequest'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'NotFound'],
  [405, 'MethodNotAllowed'],
  [409, 'Conflict'],
  [410, 'Expired'],
  [413, 'RequestEntityTooLarge'],
  [415, 'UnsupportedMediaType'],
  [422, 'Invalid'],
  [429, 'TooManyRequests'],
  [500, 'InternalError'],
  [503, 'ServiceUnavailable'],
  [504, 'Timeout'],
]);

export function errorForCode(code: number, message?: string): ApiError {
  const reason = reasonByCode.get(code) ?? 'Unknown';
  const retry = code === 429 || code === 503 ? { details: { retryAfterSeconds: 1 } } : {};
  return { code, reason, message: message ?? `injected fault: ${reason}`, ...retry };
}

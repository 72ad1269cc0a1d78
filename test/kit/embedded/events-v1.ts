// events.k8s.io/v1 Events: the same objects as core/v1 Events, converted on the way in and
// out as the real server converts both to its one internal Event (pkg/apis/events/v1/
// conversion.go): regarding is involvedObject, note is message, reportingController is core's
// reportingComponent, and the deprecated* fields are core's source, firstTimestamp,
// lastTimestamp and count. So an Event written here shows in a core/v1 read (`kubectl
// describe pod`) and the other way round. Writes through this API get the strict checks of
// ValidateEventCreate / ValidateEventUpdate (pkg/apis/core/validation/events.go), with the
// field paths of the internal object those checks name.

import type { KubeObject } from './objects.ts';
import { fieldText, isRecord } from './objects.ts';
import type { FieldGetter, ResourceType } from './resources.ts';
import { eventSource, fields } from './resources.ts';
import type { StatusCause } from './status.ts';
import { fieldInvalid, fieldRequired } from './status.ts';

/** events.k8s.io/v1 name ↔ core/v1 (storage) name. */
const renamed: readonly (readonly [string, string])[] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function rename(
  obj: KubeObject,
  pairs: readonly (readonly [string, string])[],
  apiVersion: string,
): KubeObject {
  const out: KubeObject = { ...obj, apiVersion, kind: 'Event' };
  for (const [from, to] of pairs) {
    Reflect.deleteProperty(out, from);
    if (obj[from] !== undefined) out[to] = obj[from];
  }
  return out;
}

export function eventFromV1(obj: KubeObject): KubeObject {
  return rename(obj, renamed, 'v1');
}

export function eventToV1(obj: KubeObject): KubeObject {
  return rename(
    obj,
    renamed.map(([v1, core]) => [core, v1] as const),
    'events.k8s.io/v1',
  );
}

const reportingInstanceLengthLimit = 128;
const actionLengthLimit = 128;
const reasonLengthLimit = 128;
const noteLengthLimit = 1024;

/** Go's len(): bytes of UTF-8. */
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** validation.IsQualifiedName: an optional DNS-subdomain prefix and `/`, then a name of ≤ 63. */
function qualifiedNameErrors(value: string): string[] {
  const parts = value.split('/');
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0] ?? ''];
  if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  const errors: string[] = [];
  if (
    prefix !== undefined &&
    (prefix === '' || bytes(prefix) > 253 || !dnsSubdomain.test(prefix))
  ) {
    errors.push(
      "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    );
  }
  if (name === '' || name === undefined) errors.push('name part must be non-empty');
  else {
    if (bytes(name) > 63) errors.push('name part must be no more than 63 characters');
    if (!qualifiedNamePart.test(name)) {
      errors.push(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      );
    }
  }
  return errors;
}

const text = (obj: KubeObject, ...path: string[]): string => fieldText(obj, path);
const unset = (value: unknown): boolean =>
  value === undefined || value === null || value === '' || value === 0;

function seriesCauses(event: KubeObject): StatusCause[] {
  const series = event['series'];
  if (series === undefined || series === null) return [];
  const record = isRecord(series) ? series : {};
  const causes: StatusCause[] = [];
  const count = typeof record['count'] === 'number' ? record['count'] : 0;
  if (count < 2) causes.push(fieldInvalid('series.count', '', 'should be at least 2'));
  if (unset(record['lastObservedTime'])) causes.push(fieldRequired('series.lastObservedTime'));
  return causes;
}

/** The checks legacyValidateEvent makes of an Event that has an eventTime. */
function newStyleCauses(event: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const namespace = event.metadata.namespace ?? '';
  const involvedNamespace = text(event, 'involvedObject', 'namespace');
  if (involvedNamespace === '' && namespace !== 'default' && namespace !== 'kube-system') {
    causes.push(
      fieldInvalid('involvedObject.namespace', involvedNamespace, 'does not match event.namespace'),
    );
  }
  const controller = text(event, 'reportingComponent');
  if (controller === '') causes.push(fieldRequired('reportingController'));
  for (const message of controller === '' ? [] : qualifiedNameErrors(controller)) {
    causes.push(fieldInvalid('reportingController', controller, message));
  }
  const limited: readonly (readonly [string, string, number])[] = [
    ['reportingInstance', 'reportingInstance', reportingInstanceLengthLimit],
    ['action', 'action', actionLengthLimit],
    ['reason', 'reason', reasonLengthLimit],
  ];
  for (const [field, stored, limit] of limited) {
    const value = text(event, stored);
    if (value === '') causes.push(fieldRequired(field));
    if (bytes(value) > limit) {
      causes.push(fieldInvalid(field, '', `can have at most ${limit} characters`));
    }
  }
  if (bytes(text(event, 'message')) > noteLengthLimit) {
    causes.push(fieldInvalid('message', '', `can have at most ${noteLengthLimit} characters`));
  }
  return causes;
}

/** ValidateEventCreate for a request of events.k8s.io/v1 (the event in its stored form). */
export function eventCreateCauses(event: KubeObject): StatusCause[] {
  const causes = [...(unset(event['eventTime']) ? [] : newStyleCauses(event))];
  causes.push(...seriesCauses(event));
  if (unset(event['eventTime'])) causes.push(fieldRequired('eventTime'));
  const type = text(event, 'type');
  if (type !== 'Normal' && type !== 'Warning') {
    causes.push(fieldInvalid('type', '', `has invalid value: ${type}`));
  }
  for (const field of ['firstTimestamp', 'lastTimestamp', 'count'] as const) {
    if (!unset(event[field])) causes.push(fieldInvalid(field, '', 'needs to be unset'));
  }
  if (text(event, 'source', 'component') !== '' || text(event, 'source', 'host') !== '') {
    causes.push(fieldInvalid('source', '', 'needs to be unset'));
  }
  return causes;
}

const canonical = (value: unknown): string => JSON.stringify(value ?? null);

/** ValidateEventUpdate: only the series (and metadata) of an Event may change. */
export function eventUpdateCauses(event: KubeObject, old: KubeObject): StatusCause[] {
  const causes = unset(event['eventTime']) ? [] : newStyleCauses(event);
  if (canonical(event['series']) !== canonical(old['series'])) causes.push(...seriesCauses(event));
  const immutable = [
    ['involvedObject', 'involvedObject'],
    ['reason', 'reason'],
    ['message', 'message'],
    ['source', 'source'],
    ['firstTimestamp', 'firstTimestamp'],
    ['lastTimestamp', 'lastTimestamp'],
    ['count', 'count'],
    ['type', 'type'],
    ['eventTime', 'eventTime'],
    ['action', 'action'],
    ['related', 'related'],
    ['reportingController', 'reportingComponent'],
    ['reportingInstance', 'reportingInstance'],
  ] as const;
  for (const [field, stored] of immutable) {
    if (canonical(event[stored]) !== canonical(old[stored])) {
      causes.push(fieldInvalid(field, event[stored] ?? null, 'field is immutable'));
    }
  }
  return causes;
}

const stored =
  (...path: string[]): FieldGetter =>
  (obj) =>
    fieldText(obj, path);

export const eventsV1Resource: ResourceType = {
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  group: 'events.k8s.io',
  version: 'v1',
  namespaced: true,
  shortNames: ['ev'],
  // The labels events.k8s.io/v1 accepts (k8s.io/api/events/v1 EventToSelectableFields), read
  // from the stored core form.
  fields: fields(true, {
    'regarding.kind': stored('involvedObject', 'kind'),
    'regarding.namespace': stored('involvedObject', 'namespace'),
    'regarding.name': stored('involvedObject', 'name'),
    'regarding.uid': stored('involvedObject', 'uid'),
    'regarding.apiVersion': stored('involvedObject', 'apiVersion'),
    'regarding.resourceVersion': stored('involvedObject', 'resourceVersion'),
    'regarding.fieldPath': stored('involvedObject', 'fieldPath'),
    reason: stored('reason'),
    reportingController: stored('reportingComponent'),
    source: eventSource,
    type: stored('type'),
  }),
  subresources: [],
  deleteReturnsObject: false,
  allowCreateOnUpdate: true,
  storageKey: 'events',
  codec: { toStorage: eventFromV1, fromStorage: eventToV1 },
  strategy: {
    validate: (obj, old) => (old ? eventUpdateCauses(obj, old) : eventCreateCauses(obj)),
  },
};

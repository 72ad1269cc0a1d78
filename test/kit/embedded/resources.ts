// The resources the embedded server serves, with the field labels each accepts in a
// fieldSelector. The lists mirror the real registries' GetAttrs/SelectableFields
// (pkg/registry/core/*/strategy.go); anything else is refused the way the real server
// refuses it ("field label not supported").

import type { KubeObject } from './objects.ts';
import { fieldText } from './objects.ts';
import type { StatusCause } from './status.ts';

export type FieldGetter = (obj: KubeObject) => string;

export type SubresourceName = 'status' | 'ephemeralcontainers';

/**
 * Between what a client sends and reads at this version and what the store holds, for
 * resources served under more than one API (events.k8s.io/v1 Events are core/v1 Events in
 * storage, as the real server keeps one internal form and converts on the way in and out).
 */
export interface ObjectCodec {
  toStorage(obj: KubeObject): KubeObject;
  fromStorage(obj: KubeObject): KubeObject;
}

/** `request`: an HTTP client, treated like the real server treats one. `fixture`: a test
 * setting up state, trusted to write status, uid and creationTimestamp as given. */
export type WriteOrigin = 'request' | 'fixture';

export interface WriteContext {
  readonly origin: WriteOrigin;
  /** The server's clock, RFC 3339 with second precision. */
  readonly now: string;
}

/** The per-resource steps of a write that the real server's registry strategy takes. */
export interface ResourceStrategy {
  /** Drops or defaults what a client may not set (pruning, a status behind its subresource). */
  prepare?(obj: KubeObject, old: KubeObject | undefined, context: WriteContext): KubeObject;
  /** Field errors of the object as it would be stored; empty when valid. */
  validate?(obj: KubeObject, old: KubeObject | undefined): readonly StatusCause[];
  /**
   * Fields of a server-side apply configuration that the schema does not declare (the real
   * server refuses those: "field not declared in schema").
   */
  undeclaredFields?(obj: KubeObject): readonly string[];
}

export interface ResourceType {
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly fields: ReadonlyMap<string, FieldGetter>;
  readonly subresources: readonly SubresourceName[];
  /** DELETE answers with the removed object (pods, serviceaccounts) or a Success Status. */
  readonly deleteReturnsObject: boolean;
  /** PUT of a missing object creates it (events) instead of answering 404. */
  readonly allowCreateOnUpdate: boolean;
  /** Where the objects live; types that share it are views of one store (default: resource.group). */
  readonly storageKey?: string;
  readonly codec?: ObjectCodec;
  readonly strategy?: ResourceStrategy;
  /** metadata.generation counts changes outside metadata and status (custom resources). */
  readonly tracksGeneration?: boolean;
}

export type ResourceName =
  'pods' | 'namespaces' | 'secrets' | 'configmaps' | 'events' | 'serviceaccounts' | 'nodes';
export type KindName =
  'Pod' | 'Namespace' | 'Secret' | 'ConfigMap' | 'Event' | 'ServiceAccount' | 'Node';

const at =
  (...path: string[]): FieldGetter =>
  (obj) =>
    fieldText(obj, path);

/**
 * The `source` field label: the legacy source component, else the reporting controller
 * (pkg/registry/core/event/strategy.go ToSelectableFields), so events.k8s.io writers match too.
 */
export const eventSource: FieldGetter = (obj) =>
  fieldText(obj, ['source', 'component']) || fieldText(obj, ['reportingComponent']);

export function fields(
  namespaced: boolean,
  extra: Record<string, FieldGetter>,
): Map<string, FieldGetter> {
  const map = new Map<string, FieldGetter>([['metadata.name', at('metadata', 'name')]]);
  if (namespaced) map.set('metadata.namespace', at('metadata', 'namespace'));
  for (const [label, getter] of Object.entries(extra)) map.set(label, getter);
  return map;
}

export const resources: readonly ResourceType[] = [
  {
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: ['po'],
    fields: fields(true, {
      'spec.nodeName': at('spec', 'nodeName'),
      'spec.restartPolicy': at('spec', 'restartPolicy'),
      'spec.schedulerName': at('spec', 'schedulerName'),
      'spec.serviceAccountName': at('spec', 'serviceAccountName'),
      'spec.hostNetwork': (obj) => fieldText(obj, ['spec', 'hostNetwork']) || 'false',
      'status.phase': at('status', 'phase'),
      'status.podIP': at('status', 'podIP'),
      'status.nominatedNodeName': at('status', 'nominatedNodeName'),
    }),
    subresources: ['status', 'ephemeralcontainers'],
    deleteReturnsObject: true,
    allowCreateOnUpdate: false,
  },
  {
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    group: '',
    version: 'v1',
    namespaced: false,
    shortNames: ['ns'],
    fields: fields(false, { 'status.phase': at('status', 'phase') }),
    subresources: ['status'],
    deleteReturnsObject: false,
    allowCreateOnUpdate: false,
  },
  {
    resource: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: [],
    fields: fields(true, { type: at('type') }),
    subresources: [],
    deleteReturnsObject: false,
    allowCreateOnUpdate: false,
  },
  {
    resource: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: ['cm'],
    fields: fields(true, {}),
    subresources: [],
    deleteReturnsObject: false,
    allowCreateOnUpdate: false,
  },
  {
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: ['ev'],
    fields: fields(true, {
      'involvedObject.kind': at('involvedObject', 'kind'),
      'involvedObject.namespace': at('involvedObject', 'namespace'),
      'involvedObject.name': at('involvedObject', 'name'),
      'involvedObject.uid': at('involvedObject', 'uid'),
      'involvedObject.apiVersion': at('involvedObject', 'apiVersion'),
      'involvedObject.resourceVersion': at('involvedObject', 'resourceVersion'),
      'involvedObject.fieldPath': at('involvedObject', 'fieldPath'),
      reason: at('reason'),
      reportingComponent: at('reportingComponent'),
      source: eventSource,
      type: at('type'),
    }),
    subresources: [],
    deleteReturnsObject: false,
    allowCreateOnUpdate: true,
  },
  {
    resource: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    group: '',
    version: 'v1',
    namespaced: true,
    shortNames: ['sa'],
    fields: fields(true, {}),
    subresources: [],
    deleteReturnsObject: true,
    allowCreateOnUpdate: false,
  },
  {
    resource: 'nodes',
    singular: 'node',
    kind: 'Node',
    group: '',
    version: 'v1',
    namespaced: false,
    shortNames: ['no'],
    fields: fields(false, {
      'spec.unschedulable': (obj) => fieldText(obj, ['spec', 'unschedulable']) || 'false',
    }),
    subresources: ['status'],
    deleteReturnsObject: false,
    allowCreateOnUpdate: false,
  },
];

export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** `pods`, `reports.openreports.io`: how the real server names a group's resource. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
}

export function storageKeyOf(rt: ResourceType): string {
  return rt.storageKey ?? qualifiedResource(rt);
}

/** An object as a client of this version reads it. */
export function presentAs(rt: ResourceType, obj: KubeObject): KubeObject {
  return rt.codec ? rt.codec.fromStorage(obj) : obj;
}

const byName = new Map<string, ResourceType>();
for (const rt of resources) {
  byName.set(rt.resource, rt);
  byName.set(rt.kind, rt);
}

/** Looks a core resource up by plural name ('pods') or kind ('Pod'). */
export function resourceType(name: ResourceName | KindName): ResourceType {
  const rt = byName.get(name);
  if (!rt) throw new Error(`embedded API server: unknown resource ${name}`);
  return rt;
}

export type ResourceLookup = (
  group: string,
  version: string,
  resource: string,
) => ResourceType | undefined;

export const findCoreResource: ResourceLookup = (group, version, resource) =>
  resources.find((rt) => rt.group === group && rt.version === version && rt.resource === resource);

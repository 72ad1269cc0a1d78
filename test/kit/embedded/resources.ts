// The resources the embedded server serves, with the field labels each accepts in a
// fieldSelector. The lists mirror the real registries' GetAttrs/SelectableFields
// (pkg/registry/core/*/strategy.go); anything else is refused the way the real server
// refuses it ("field label not supported").

import type { KubeObject } from './objects.ts';
import { fieldText } from './objects.ts';

export type FieldGetter = (obj: KubeObject) => string;

export type SubresourceName = 'status' | 'ephemeralcontainers';

export interface ResourceType {
  readonly resource: ResourceName;
  readonly singular: string;
  readonly kind: KindName;
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
}

export type ResourceName =
  'pods' | 'namespaces' | 'secrets' | 'configmaps' | 'events' | 'serviceaccounts' | 'nodes';
export type KindName =
  'Pod' | 'Namespace' | 'Secret' | 'ConfigMap' | 'Event' | 'ServiceAccount' | 'Node';

const at =
  (...path: string[]): FieldGetter =>
  (obj) =>
    fieldText(obj, path);

function fields(namespaced: boolean, extra: Record<string, FieldGetter>): Map<string, FieldGetter> {
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
      source: at('source', 'component'),
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

const byName = new Map<string, ResourceType>();
for (const rt of resources) {
  byName.set(rt.resource, rt);
  byName.set(rt.kind, rt);
}

/** Looks a resource up by plural name ('pods') or kind ('Pod'). */
export function resourceType(name: ResourceName | KindName): ResourceType {
  const rt = byName.get(name);
  if (!rt) throw new Error(`embedded API server: unknown resource ${name}`);
  return rt;
}

export function findResource(
  group: string,
  version: string,
  resource: string,
): ResourceType | undefined {
  return resources.find(
    (rt) => rt.group === group && rt.version === version && rt.resource === resource,
  );
}

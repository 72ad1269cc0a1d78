// Request paths of the Kubernetes REST API, parsed into what they address.

import type { ResourceLookup, ResourceType, SubresourceName } from './resources.ts';
import { findCoreResource } from './resources.ts';

export type ReviewName = 'tokenreviews' | 'subjectaccessreviews';

export type Route =
  | {
      readonly kind: 'resource';
      readonly rt: ResourceType;
      readonly namespace?: string;
      readonly name?: string;
      readonly subresource?: SubresourceName;
      /** The deprecated `/api/v1/watch/...` form. */
      readonly watchPath: boolean;
    }
  | { readonly kind: 'review'; readonly review: ReviewName }
  | { readonly kind: 'other' };

const reviews: ReadonlyMap<string, ReviewName> = new Map([
  ['authentication.k8s.io/v1/tokenreviews', 'tokenreviews'],
  ['authorization.k8s.io/v1/subjectaccessreviews', 'subjectaccessreviews'],
]);

// `namespaces/{name}/status` and `/finalize` are subresources of a namespace, not a
// resource called "status" inside it.
const namespaceSubresources = new Set(['status', 'finalize']);

function decodeSegments(path: string): string[] | undefined {
  try {
    return path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

export function parseRoute(path: string, findResource: ResourceLookup = findCoreResource): Route {
  const other: Route = { kind: 'other' };
  const segments = decodeSegments(path);
  if (!segments) return other;
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments[1] !== undefined) {
    group = '';
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments[1] !== undefined && segments[2] !== undefined) {
    group = segments[1];
    version = segments[2];
    rest = segments.slice(3);
  } else {
    return other;
  }
  const watchPath = rest[0] === 'watch';
  if (watchPath) rest = rest.slice(1);

  let namespace: string | undefined;
  const nsScoped =
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && namespaceSubresources.has(rest[2] ?? ''));
  if (nsScoped) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (resource === undefined || extra.length > 0) return other;

  const review = reviews.get(`${group}/${version}/${resource}`);
  if (review) {
    return namespace === undefined && name === undefined && !watchPath
      ? { kind: 'review', review }
      : other;
  }
  const rt = findResource(group, version, resource);
  if (!rt) return other;
  if (namespace !== undefined && !rt.namespaced) return other;
  // A namespaced object is only addressed inside its namespace.
  if (name !== undefined && namespace === undefined && rt.namespaced) return other;
  let sub: SubresourceName | undefined;
  if (subresource !== undefined) {
    sub = rt.subresources.find((s) => s === subresource);
    if (!sub || watchPath) return other;
  }
  return {
    kind: 'resource',
    rt,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(sub !== undefined ? { subresource: sub } : {}),
    watchPath,
  };
}

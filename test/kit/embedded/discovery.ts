// Discovery documents (/api, /api/v1, /apis, /apis/{group}/{version}, /version):
// enough for clients that resolve resources by discovery (client-node's
// KubernetesObjectApi, kubectl).

import type { ResourceType } from './resources.ts';

const allVerbs = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];

function resourceEntries(list: readonly ResourceType[]): unknown[] {
  return list.flatMap((rt) => [
    {
      name: rt.resource,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: allVerbs,
      ...(rt.shortNames.length > 0 ? { shortNames: rt.shortNames } : {}),
    },
    ...rt.subresources.map((sub) => ({
      name: `${rt.resource}/${sub}`,
      singularName: '',
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: ['get', 'patch', 'update'],
    })),
  ]);
}

const reviewGroups = [
  { group: 'authentication.k8s.io', resource: 'tokenreviews', kind: 'TokenReview' },
  { group: 'authorization.k8s.io', resource: 'subjectaccessreviews', kind: 'SubjectAccessReview' },
] as const;

function groupEntry(group: string, versions: readonly string[]): Record<string, unknown> {
  const entries = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: entries, preferredVersion: entries[0] };
}

export interface VersionInfo {
  readonly major: string;
  readonly minor: string;
  readonly gitVersion: string;
}

/** The API groups served, each with its versions (the preferred one first), in a stable order. */
function apiGroups(served: readonly ResourceType[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const review of reviewGroups) groups.set(review.group, ['v1']);
  for (const rt of served) {
    if (rt.group === '') continue;
    const versions = groups.get(rt.group) ?? [];
    if (!versions.includes(rt.version)) versions.push(rt.version);
    groups.set(rt.group, versions);
  }
  return groups;
}

/** The document served at `path`, or undefined when the path is not a discovery path. */
export function discoveryDocument(
  path: string,
  serverAddress: string,
  version: VersionInfo,
  served: readonly ResourceType[],
): unknown {
  const trimmed = path.replace(/\/+$/, '') || '/';
  if (trimmed === '/version') {
    return { ...version, platform: 'linux/amd64', goVersion: 'embedded' };
  }
  if (trimmed === '/api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  }
  if (trimmed === '/api/v1') {
    return {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: resourceEntries(served.filter((rt) => rt.group === '')),
    };
  }
  const groups = apiGroups(served);
  if (trimmed === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([group, versions]) => groupEntry(group, versions)),
    };
  }
  const [, apis, group, groupVersion, ...rest] = trimmed.split('/');
  const versions = groups.get(group ?? '');
  if (apis !== 'apis' || group === undefined || versions === undefined || rest.length > 0) {
    return undefined;
  }
  if (groupVersion === undefined) {
    return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(group, versions) };
  }
  if (!versions.includes(groupVersion)) return undefined;
  const review = reviewGroups.find((r) => r.group === group);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${groupVersion}`,
    resources: review
      ? [
          {
            name: review.resource,
            singularName: review.resource.replace(/s$/, ''),
            namespaced: false,
            kind: review.kind,
            verbs: ['create'],
          },
        ]
      : resourceEntries(served.filter((rt) => rt.group === group && rt.version === groupVersion)),
  };
}

// Discovery documents (/api, /api/v1, /apis, /apis/{group}/{version}, /version):
// enough for clients that resolve resources by discovery (client-node's
// KubernetesObjectApi, kubectl).

import type { ResourceType } from './resources.ts';
import { resources } from './resources.ts';

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

function groupEntry(group: string): unknown {
  const groupVersion = { groupVersion: `${group}/v1`, version: 'v1' };
  return { name: group, versions: [groupVersion], preferredVersion: groupVersion };
}

export interface VersionInfo {
  readonly major: string;
  readonly minor: string;
  readonly gitVersion: string;
}

/** The document served at `path`, or undefined when the path is not a discovery path. */
export function discoveryDocument(
  path: string,
  serverAddress: string,
  version: VersionInfo,
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
      resources: resourceEntries(resources.filter((rt) => rt.group === '')),
    };
  }
  if (trimmed === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: reviewGroups.map((g) => groupEntry(g.group)),
    };
  }
  for (const review of reviewGroups) {
    if (trimmed === `/apis/${review.group}`) {
      return { kind: 'APIGroup', apiVersion: 'v1', ...(groupEntry(review.group) as object) };
    }
    if (trimmed === `/apis/${review.group}/v1`) {
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: `${review.group}/v1`,
        resources: [
          {
            name: review.resource,
            singularName: review.resource.replace(/s$/, ''),
            namespaced: false,
            kind: review.kind,
            verbs: ['create'],
          },
        ],
      };
    }
  }
  return undefined;
}

// Where the agents' reports live in the API server, per flavor: OpenReports
// (openreports.io/v1alpha1, the policy working group's successor format) or, for an older
// Policy Reporter or Kyverno, wgpolicyk8s.io/v1alpha2 PolicyReports with the same results.
// The controller watches pullwatch's own objects only, by the label every agent puts on them.

export const REPORTS_FLAVORS = ['openreports', 'wgpolicy', 'off'] as const;
export type ReportsSetting = (typeof REPORTS_FLAVORS)[number];
export type ReportsFlavor = Exclude<ReportsSetting, 'off'>;

/** On every object an agent writes (issue 13's contract). */
export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=pullwatch';
/** The node whose agent wrote the object. */
export const NODE_LABEL = 'pullwatch.dev/node';

export interface ReportCollection {
  readonly group: string;
  readonly version: string;
  /** The plural resource name, as discovery lists it. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export interface FlavorCollections {
  /** One per node: every finding of the node, with owners. */
  readonly cluster: ReportCollection;
  /** One per (namespace, node): what a tenant may read in its namespace. */
  readonly namespaced: ReportCollection;
}

export const REPORT_COLLECTIONS: Readonly<Record<ReportsFlavor, FlavorCollections>> = {
  openreports: {
    cluster: {
      group: 'openreports.io',
      version: 'v1alpha1',
      resource: 'clusterreports',
      kind: 'ClusterReport',
      namespaced: false,
    },
    namespaced: {
      group: 'openreports.io',
      version: 'v1alpha1',
      resource: 'reports',
      kind: 'Report',
      namespaced: true,
    },
  },
  wgpolicy: {
    cluster: {
      group: 'wgpolicyk8s.io',
      version: 'v1alpha2',
      resource: 'clusterpolicyreports',
      kind: 'ClusterPolicyReport',
      namespaced: false,
    },
    namespaced: {
      group: 'wgpolicyk8s.io',
      version: 'v1alpha2',
      resource: 'policyreports',
      kind: 'PolicyReport',
      namespaced: true,
    },
  },
};

export const apiVersionOf = (c: ReportCollection): string => `${c.group}/${c.version}`;

/** The discovery document of the collection's group version. */
export const groupVersionPath = (c: ReportCollection): string => `/apis/${c.group}/${c.version}`;

/** The collection across all namespaces. */
export const collectionPath = (c: ReportCollection): string =>
  `${groupVersionPath(c)}/${c.resource}`;

/** `clusterreports.openreports.io/v1alpha1`, as kubectl names a CRD's resource. */
export const describeCollection = (c: ReportCollection): string =>
  `${c.resource}.${c.group}/${c.version}`;

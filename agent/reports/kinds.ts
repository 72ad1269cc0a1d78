// Which report API pullwatch writes, and the names and labels of its objects (issue 13's shared
// contract: the controller's cluster API and the admission policy read the same names).
// OpenReports (openreports.io/v1alpha1) is the successor of the policy working group's
// PolicyReport (wgpolicyk8s.io/v1alpha2), with the same result schema: `wgpolicy` is for
// clusters whose Policy Reporter or Kyverno predates OpenReports.

export const REPORT_FLAVORS = ['openreports', 'wgpolicy'] as const;
export type ReportFlavor = (typeof REPORT_FLAVORS)[number];

export interface ReportKinds {
  readonly group: string;
  readonly apiVersion: string;
  /** The namespaced kind: one object per (namespace, node). */
  readonly namespaced: { readonly kind: string; readonly plural: string };
  /** The cluster-scoped kind: one object per node. */
  readonly cluster: { readonly kind: string; readonly plural: string };
}

export const REPORT_KINDS: Readonly<Record<ReportFlavor, ReportKinds>> = {
  openreports: {
    group: 'openreports.io',
    apiVersion: 'openreports.io/v1alpha1',
    namespaced: { kind: 'Report', plural: 'reports' },
    cluster: { kind: 'ClusterReport', plural: 'clusterreports' },
  },
  wgpolicy: {
    group: 'wgpolicyk8s.io',
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    namespaced: { kind: 'PolicyReport', plural: 'policyreports' },
    cluster: { kind: 'ClusterPolicyReport', plural: 'clusterpolicyreports' },
  },
};

/** The label every pullwatch object carries (app.kubernetes.io recommended labels). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'pullwatch';
/** The node whose agent wrote the object: what the admission policy matches the writer against. */
export const NODE_LABEL = 'pullwatch.dev/node';

/** The namespaced report of `node`'s findings in one namespace. */
export function namespacedReportName(node: string): string {
  return `pullwatch-${node}`;
}

/** The cluster-scoped report of every finding of `node`. */
export function clusterReportName(node: string): string {
  return `pullwatch-node-${node}`;
}

export function reportLabels(node: string): Readonly<Record<string, string>> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [NODE_LABEL]: node };
}

/** `app.kubernetes.io/managed-by=pullwatch,pullwatch.dev/node=<node>` for a list. */
export function reportLabelSelector(node: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${NODE_LABEL}=${node}`;
}

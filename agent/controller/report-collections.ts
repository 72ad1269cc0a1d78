// Where the agents' reports live in the API server, as the controller lists and watches them:
// the kinds and names are the agents' own (reports/kinds.ts), seen here as collections, one
// cluster-scoped and one across all namespaces per flavor, narrowed to pullwatch's objects by
// the label every agent puts on them.
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  REPORT_FLAVORS,
  REPORT_KINDS,
  type ReportFlavor,
} from '../reports/kinds.ts';

/** --reports: a flavor, or off. */
export const REPORTS_SETTINGS = [...REPORT_FLAVORS, 'off'] as const;

export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export interface ReportCollection {
  readonly group: string;
  readonly apiVersion: string;
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

export function collectionsOf(flavor: ReportFlavor): FlavorCollections {
  const { group, apiVersion, cluster, namespaced } = REPORT_KINDS[flavor];
  const collection = (
    kind: { readonly kind: string; readonly plural: string },
    isNamespaced: boolean,
  ): ReportCollection => ({
    group,
    apiVersion,
    resource: kind.plural,
    kind: kind.kind,
    namespaced: isNamespaced,
  });
  return { cluster: collection(cluster, false), namespaced: collection(namespaced, true) };
}

/** The discovery document of the collection's group version. */
export const groupVersionPath = (c: ReportCollection): string => `/apis/${c.apiVersion}`;

/** The collection across all namespaces. */
export const collectionPath = (c: ReportCollection): string =>
  `${groupVersionPath(c)}/${c.resource}`;

/** `clusterreports.openreports.io/v1alpha1`: the resource, group and version, as in a CRD. */
export const describeCollection = (c: ReportCollection): string => `${c.resource}.${c.apiVersion}`;

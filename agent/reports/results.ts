// One finding as a report result (the OpenReports ReportResult, the same as wgpolicyk8s.io's
// PolicyReportResult): for the tenant whose pod is flagged, in its namespace's Report, or for
// the cluster's admins, in the node's ClusterReport. A result's content changes only when the
// finding does: its timestamp is when the finding was first seen, never the last reconcile,
// or every reconcile would rewrite every report.
import type { Finding, Rule, Severity, UnauthorizedCachedImageUse } from '../detect/finding.ts';

/** An unauthorized use with its times, as the findings store holds it. */
export type UseFinding = Extract<Finding, UnauthorizedCachedImageUse>;
import { FINDING_ID, findingProperties, type Properties } from './finding-properties.ts';

/** The `source` of every pullwatch result: Policy Reporter groups its views by it. */
export const SOURCE = 'pullwatch';

/** A Kubernetes object reference (corev1.ObjectReference), as `resources` and `scope` hold. */
export interface ObjectReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
}

/** OpenReports' severity scale (critical, high, medium, low, info). */
export type ReportSeverity = 'critical' | 'high' | 'medium' | 'low' | 'info';

/** pullwatch's severities are the upper four steps of the OpenReports scale, one to one. */
export const REPORT_SEVERITY: Readonly<Record<Severity, ReportSeverity>> = {
  critical: 'critical',
  high: 'high',
  medium: 'medium',
  low: 'low',
};

/**
 * Policy Reporter shows and filters by category: the node-level rule is CIS Kubernetes
 * benchmark control 1.2.11 ("Ensure that the admission control plugin AlwaysPullImages is
 * set"); the rules about images crossing tenants are multi-tenancy's.
 */
export function categoryOf(rule: Rule): string {
  return rule === 'always-pull-images-not-enforced' ? 'CIS Kubernetes Benchmark' : MULTI_TENANCY;
}

export const MULTI_TENANCY = 'Multi-Tenancy';

export interface ReportResult {
  readonly source: typeof SOURCE;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly severity: ReportSeverity;
  readonly result: 'fail' | 'warn';
  readonly scored: boolean;
  /** Absent on the summary of left-out results, which has no time of its own. */
  readonly timestamp?: { readonly seconds: number; readonly nanos: number };
  readonly resources?: readonly ObjectReference[];
  readonly message: string;
  readonly properties: Properties;
}

/** The pod's controller (a ReplicaSet, Job, StatefulSet...), when the pod view knows it. */
export type WorkloadOf = (pod: {
  readonly namespace: string;
  readonly podUid: string;
}) => ObjectReference | undefined;

/** metav1.Timestamp of an RFC 3339 time: whole seconds and the nanoseconds past them. */
export function timestampOf(iso: string): { seconds: number; nanos: number } {
  const ms = Date.parse(iso);
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** The time a timestamp stands for, as the agent writes times (Date.toISOString); undefined out of range. */
export function isoOfTimestamp(timestamp: {
  readonly seconds: number;
  readonly nanos: number;
}): string | undefined {
  const date = new Date(timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1_000_000));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function podResources(
  finding: UnauthorizedCachedImageUse,
  workloadOf?: WorkloadOf,
): ObjectReference[] {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: finding.namespace,
    name: finding.pod,
    uid: finding.podUid,
  };
  const workload = workloadOf?.(finding);
  return workload === undefined ? [pod] : [pod, workload];
}

function resultOf(
  finding: Finding,
  message: string,
  properties: Properties,
  resources: readonly ObjectReference[],
): ReportResult {
  return {
    source: SOURCE,
    policy: finding.rule,
    rule: finding.rule,
    category: categoryOf(finding.rule),
    severity: REPORT_SEVERITY[finding.severity],
    result: 'fail',
    scored: true,
    timestamp: timestampOf(finding.firstSeen),
    ...(resources.length > 0 ? { resources } : {}),
    message,
    properties,
  };
}

/**
 * The result in the pod's own namespace, which its tenant reads. It names only what the pod
 * itself declares (its container and image, as written) and the node: never who brought the
 * image, their namespace, their secret or any other pod (issue 13: "a tenant must learn
 * nothing about another tenant from its own namespace").
 */
export function namespacedResult(finding: UseFinding, workloadOf?: WorkloadOf): ReportResult {
  const message =
    `Container ${finding.container} runs ${finding.image} from the image cache of node ${finding.node}. ` +
    `The image is private and was pulled onto the node with credentials this namespace does not hold; ` +
    `the kubelet started it without checking this pod's own credentials.`;
  const properties: Properties = {
    [FINDING_ID]: finding.id,
    confidence: finding.confidence,
    node: finding.node,
    container: finding.container,
    containerKind: finding.containerKind,
    image: finding.image,
    imageId: finding.imageId,
    registry: finding.registry,
    repository: finding.repository,
    pullPolicy: finding.pullPolicy,
  };
  return resultOf(finding, message, properties, podResources(finding, workloadOf));
}

function ownersText(owners: UnauthorizedCachedImageUse['owners']): string {
  if (owners.length === 0) return 'an owner not known yet';
  return owners
    .map((o) => `${o.tenant}${o.secret === null ? '' : ` (secret ${o.namespace}/${o.secret})`}`)
    .join(', ');
}

/**
 * The result in the node's ClusterReport, for the cluster's admins: the whole finding, owners
 * included, in its properties (findingProperties), which the controller decodes.
 */
export function clusterResult(finding: Finding, workloadOf?: WorkloadOf): ReportResult {
  const properties = findingProperties(finding);
  if (finding.rule !== 'unauthorized-cached-image-use')
    return resultOf(finding, finding.evidence[0] ?? finding.rule, properties, []);
  const message =
    `Pod ${finding.namespace}/${finding.pod} (container ${finding.container}) runs ${finding.image} ` +
    `from the image cache of node ${finding.node}, brought there with the credentials of ${ownersText(finding.owners)}.`;
  return resultOf(finding, message, properties, podResources(finding, workloadOf));
}

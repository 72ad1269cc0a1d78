// The cluster's findings as the controller serves them, read from the reports the agents write:
// each node's ClusterReport holds every finding of that node (with owners), and the namespaced
// Reports say which objects a node's agent owns. Pure: the watch (cluster-reports-watch.ts)
// feeds raw objects in, the API (cluster-api.ts) reads the index out.
//
// A report is trusted only for its own node. The admission policy lets an agent write only the
// objects named and labeled for its node, but not what the results inside say, so a finding
// that claims another node makes its whole report unreadable here: a stolen agent token cannot
// plant findings on another node's name.
import type { ReportRef } from '../broker/wire.ts';
import { reportRef } from '../broker/wire.ts';
import type { FindingJson } from '../http/findings-json.ts';
import type { ListWatchStatus } from '../kube/list-watch.ts';
import type { Result } from '../result.ts';
import { NODE_LABEL, clusterReportName, namespacedReportName } from '../reports/kinds.ts';
import type { ReportCollection } from './report-collections.ts';
import { describeCollection } from './report-collections.ts';

/** agent/reports/decode.ts findingsOfClusterReport: a ClusterReport's findings, or why not. */
export type DecodeClusterReport = (object: unknown) => Result<readonly FindingJson[], string>;

/** What the controller keeps of one report object (never the raw object). */
export type WatchedReport =
  | {
      readonly ok: true;
      readonly ref: ReportRef;
      /** pullwatch.dev/node: the node whose agent wrote it. */
      readonly node: string;
      /** A cluster report's findings, all of `node`; none for a namespaced report. */
      readonly findings: readonly FindingJson[];
    }
  | {
      readonly ok: false;
      /** namespace/name or name, for the log. */
      readonly name: string;
      readonly problem: string;
    };

const record = (value: unknown): Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * Reads one watched object of `collection`. A cluster report's findings come from `decode`.
 * Never throws: what cannot be read is a value naming the object and the reason.
 */
export function watchReport(
  object: unknown,
  collection: ReportCollection,
  decode?: DecodeClusterReport,
): WatchedReport {
  const metadata = record(record(object)['metadata']);
  const name = text(metadata['name']);
  const namespace = text(metadata['namespace']);
  const where = collection.namespaced ? `${namespace}/${name}` : name;
  const fail = (problem: string): WatchedReport => ({ ok: false, name: where, problem });
  const node = text(record(metadata['labels'])[NODE_LABEL]);
  if (node === '') return fail(`it has no ${NODE_LABEL} label`);
  const expected = collection.namespaced ? namespacedReportName(node) : clusterReportName(node);
  if (name !== expected) return fail(`a report of node ${node} must be named ${expected}`);
  const ref = reportRef.safeParse({
    apiVersion: collection.apiVersion,
    kind: collection.kind,
    ...(collection.namespaced ? { namespace } : {}),
    name,
  });
  if (!ref.success) return fail(`not a report reference: ${ref.error.issues[0]?.message ?? ''}`);
  if (collection.namespaced || decode === undefined)
    return { ok: true, ref: ref.data, node, findings: [] };
  // A list's items may come without apiVersion and kind (the API server drops them from the
  // items of built-in lists): the collection says what they are.
  const findings = decode({
    ...record(object),
    apiVersion: collection.apiVersion,
    kind: collection.kind,
  });
  if (!findings.ok) return fail(findings.error);
  const elsewhere = findings.value.find((f) => f.node !== node);
  if (elsewhere !== undefined)
    return fail(`finding ${elsewhere.id} names node ${elsewhere.node}, not the report's ${node}`);
  return { ok: true, ref: ref.data, node, findings: findings.value };
}

/** Every finding of the cluster, and what the API looks up in them. */
export interface ClusterFindingsIndex {
  readonly findings: readonly FindingJson[];
  readonly finding: (id: string) => FindingJson | undefined;
  /**
   * The tenant of a namespace, as the agents mapped it: the `tenant` of the unauthorized uses
   * found there (the agent's `tenant` filter asks the same question of its own mapping).
   */
  readonly tenantOf: (namespace: string) => string;
}

export function indexFindings(reports: Iterable<WatchedReport>): ClusterFindingsIndex {
  const findings: FindingJson[] = [];
  const byId = new Map<string, FindingJson>();
  const tenants = new Map<string, string>();
  for (const report of reports) {
    if (!report.ok) continue;
    for (const finding of report.findings) {
      findings.push(finding);
      if (!byId.has(finding.id)) byId.set(finding.id, finding);
      if (finding.namespace !== null && finding.tenant !== null)
        tenants.set(finding.namespace, finding.tenant);
    }
  }
  return {
    findings,
    finding: (id) => byId.get(id),
    // Only asked for a finding's own namespace, which the loop above has always seen.
    tenantOf: (namespace) => tenants.get(namespace) ?? namespace,
  };
}

const refKey = (r: ReportRef): string =>
  `${r.apiVersion}\0${r.kind}\0${'namespace' in r ? r.namespace : ''}\0${r.name}`;

/** The report objects of `node`, in a stable order: what an agent asks for after losing its record. */
export function reportsOfNode(node: string, reports: Iterable<WatchedReport>): ReportRef[] {
  const refs: ReportRef[] = [];
  for (const report of reports) if (report.ok && report.node === node) refs.push(report.ref);
  return refs.sort((a, b) => {
    const ka = refKey(a);
    const kb = refKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** Whether the API server serves the collection's resource (its CRD is installed). */
export type CrdPresence = 'installed' | 'missing' | 'unknown';

export type Availability =
  | {
      readonly serving: true;
      /** The watch failed after its first list: the answer is the last one it saw. */
      readonly stale: boolean;
    }
  | { readonly serving: false; readonly reason: string };

/** What the API can say from a collection's watch. */
export function availabilityOf(
  status: ListWatchStatus,
  crd: CrdPresence,
  collection: ReportCollection,
): Availability {
  if (status.synced) return { serving: true, stale: !status.up };
  if (crd === 'missing')
    return {
      serving: false,
      reason: `the ${collection.kind} CRD (${describeCollection(collection)}) is not installed in the cluster: install the ${collection.group} CRDs`,
    };
  const error = status.lastError === undefined ? '' : ` (last error: ${status.lastError})`;
  return {
    serving: false,
    reason: `waiting for the first list of ${describeCollection(collection)}${error}`,
  };
}

// The report objects a node's findings call for, computed whole from the current findings on
// every reconcile (level-triggered, as controller-runtime and Kyverno's reports controller
// recompute desired state): one namespaced Report per namespace holding the unauthorized uses
// of this node's pods there, and one ClusterReport per node holding every finding of the node.
// Pure: the reconciler compares these with what it last wrote and applies the difference.
import type { Finding } from '../detect/finding.ts';
import { severityRank } from '../detect/finding.ts';
import type { ReportFlavor } from './kinds.ts';
import { clusterReportName, namespacedReportName, REPORT_KINDS, reportLabels } from './kinds.ts';
import type { ObjectReference, ReportResult, UseFinding, WorkloadOf } from './results.ts';
import { clusterResult, MULTI_TENANCY, namespacedResult, SOURCE } from './results.ts';

/**
 * At most this many results per object, and at most this many bytes of results (JSON): the
 * API server refuses a request body over 3 MiB and etcd an object over 1.5 MiB
 * (--max-request-bytes), and every write of a large object costs the API server and each
 * watcher the whole object. A measured worst-case unauthorized-use result (253-character names,
 * a 512-character image, 20 owners, long evidence) is about 24 KB in a ClusterReport and 2.4 KB
 * in a namespaced Report (desired.test.ts), so the byte budget is the bound that holds for any
 * finding (41 such results fit); the count keeps reports of ordinary findings (1-2 KB) small.
 */
export const MAX_RESULTS_PER_REPORT = 500;
export const MAX_RESULT_BYTES_PER_REPORT = 1_000_000;

/** The rule of the result that says how many results a capped report left out. */
export const RESULTS_CAPPED_RULE = 'results-capped';

/** The annotation holding when the agent last wrote the object (decode.ts reads lastSeen from it). */
export const WRITTEN_AT_ANNOTATION = 'pullwatch.dev/written-at';

export interface ReportObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences: readonly {
      readonly apiVersion: 'v1';
      readonly kind: 'Node';
      readonly name: string;
      readonly uid: string;
    }[];
  };
  readonly scope?: ObjectReference;
  readonly summary: {
    readonly pass: number;
    readonly fail: number;
    readonly warn: number;
    readonly error: number;
    readonly skip: number;
  };
  readonly results: readonly ReportResult[];
}

/** Where an object lives: what the reconciler keys its record of written objects by. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  /** Absent for cluster-scoped kinds. */
  readonly namespace?: string;
  readonly name: string;
}

export function refOf(object: ReportObject): ObjectRef {
  const { apiVersion, kind, metadata } = object;
  return metadata.namespace === undefined
    ? { apiVersion, kind, name: metadata.name }
    : { apiVersion, kind, namespace: metadata.namespace, name: metadata.name };
}

export function refKey(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

export interface DesiredReportsInput {
  readonly flavor: ReportFlavor;
  readonly node: string;
  /** The Node's metadata.uid: the reports' owner, so they go when the node goes. */
  readonly nodeUid: string;
  readonly findings: readonly Finding[];
  readonly workloadOf?: WorkloadOf;
}

/** Most severe first, then by id: the same findings always give the same results in order. */
function bySeverity(a: Finding, b: Finding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * The results that fit (the most severe first), and when some did not, a last result saying
 * how many were left out and where to find them all.
 */
export function capResults(
  results: readonly ReportResult[],
  node: string,
  limits: { readonly count: number; readonly bytes: number } = {
    count: MAX_RESULTS_PER_REPORT,
    bytes: MAX_RESULT_BYTES_PER_REPORT,
  },
): readonly ReportResult[] {
  const kept: ReportResult[] = [];
  let bytes = 0;
  for (const result of results) {
    const size = Buffer.byteLength(JSON.stringify(result)) + 1;
    if (kept.length >= limits.count || bytes + size > limits.bytes) break;
    kept.push(result);
    bytes += size;
  }
  const omitted = results.length - kept.length;
  if (omitted === 0) return kept;
  const summary: ReportResult = {
    source: SOURCE,
    policy: RESULTS_CAPPED_RULE,
    rule: RESULTS_CAPPED_RULE,
    category: MULTI_TENANCY,
    severity: 'info',
    result: 'warn',
    scored: false,
    message:
      `${omitted} more result${omitted === 1 ? ' is' : 's are'} left out of this report, which holds at most ` +
      `${limits.count} results (${limits.bytes} bytes), the most severe first. ` +
      `The agent of node ${node} serves every finding on /api/v1/findings.`,
    properties: { omitted: String(omitted) },
  };
  return [...kept, summary];
}

function reportObject(
  input: DesiredReportsInput,
  kind: string,
  name: string,
  namespace: string | undefined,
  results: readonly ReportResult[],
): ReportObject {
  const { node, nodeUid } = input;
  const capped = capResults(results, node);
  return {
    apiVersion: REPORT_KINDS[input.flavor].apiVersion,
    kind,
    metadata: {
      name,
      ...(namespace === undefined ? {} : { namespace }),
      labels: reportLabels(node),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }],
    },
    ...(namespace === undefined
      ? { scope: { apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid } }
      : {}),
    summary: {
      pass: 0,
      fail: capped.filter((r) => r.result === 'fail').length,
      warn: capped.filter((r) => r.result === 'warn').length,
      error: 0,
      skip: 0,
    },
    results: capped,
  };
}

/**
 * Every object the findings call for: the namespaced reports in namespace order, then the
 * node's cluster report. A node without findings calls for none.
 */
export function desiredReports(input: DesiredReportsInput): readonly ReportObject[] {
  const kinds = REPORT_KINDS[input.flavor];
  const findings = [...input.findings].sort(bySeverity);
  const byNamespace = new Map<string, UseFinding[]>();
  for (const f of findings) {
    if (f.rule !== 'unauthorized-cached-image-use') continue;
    const list = byNamespace.get(f.namespace) ?? [];
    list.push(f);
    byNamespace.set(f.namespace, list);
  }
  const name = namespacedReportName(input.node);
  const objects = [...byNamespace.keys()].sort().map((namespace) =>
    reportObject(
      input,
      kinds.namespaced.kind,
      name,
      namespace,
      (byNamespace.get(namespace) ?? []).map((f) => namespacedResult(f, input.workloadOf)),
    ),
  );
  if (findings.length > 0)
    objects.push(
      reportObject(
        input,
        kinds.cluster.kind,
        clusterReportName(input.node),
        undefined,
        findings.map((f) => clusterResult(f, input.workloadOf)),
      ),
    );
  return objects;
}

/** The object as written at `at`: stamped with the time decode.ts gives as the findings' lastSeen. */
export function stampWrittenAt(object: ReportObject, at: string): ReportObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [WRITTEN_AT_ANNOTATION]: at },
    },
  };
}

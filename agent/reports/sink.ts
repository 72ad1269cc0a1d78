// Where reports go: the port the reconciler talks to, and its adapter on the API server, on the
// agent's pooled connections (kube/api-requests.ts says why not client-node's typed clients).
// Writes are server-side apply (PATCH
// application/apply-patch+yaml with a field manager and force, as controller-runtime's and
// Kyverno's report writers do): the object sent is the whole desired state, so a write needs no
// read first, and the agent never reads a report (its RBAC has no get/list/watch on them).
// Failures are values.
import type { ClusterAccess } from '../kube/cluster-access.ts';
import { apiFailureOf, type ApiFailure } from '../kube/api-requests.ts';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson, sendJson, type KubeRequestError } from '../kube/kube-http.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { ObjectRef, ReportObject } from './desired.ts';
import { refOf } from './desired.ts';
import type { ReportFlavor } from './kinds.ts';
import { REPORT_KINDS, reportLabelSelector } from './kinds.ts';

export interface ReportSinkFailure {
  /**
   * kind-not-served: the API server does not serve the report kind (its CRDs are not
   * installed); rejected: refused for good (invalid, forbidden, namespace gone), the same write
   * would be refused again; unavailable: no answer, or 429 or 5xx, worth another try later.
   */
  readonly kind: 'kind-not-served' | 'rejected' | 'unavailable';
  readonly message: string;
  /** The HTTP status, when the server answered. */
  readonly status?: number;
}

export interface ReportSink {
  /** The Node's metadata.uid (`get nodes/<node>`), for the reports' ownerReference. */
  nodeUid(node: string): Promise<Result<string, ReportSinkFailure>>;
  apply(object: ReportObject): Promise<Result<void, ReportSinkFailure>>;
  /** Deleting an object that is gone already succeeds. */
  delete(ref: ObjectRef): Promise<Result<void, ReportSinkFailure>>;
}

/** The field manager of every pullwatch write (metadata.managedFields names it). */
export const FIELD_MANAGER = 'pullwatch-agent';

/** Bounds each request: a write that hangs must not hold the others back for long. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * What a failed request means. A 404 on a write is the kind not being served (the API server
 * answers "the server could not find the requested resource" with no details) unless the
 * Status names the namespace as what is missing: the namespace went away, and its report with
 * it.
 */
export function reportFailureOf(error: KubeRequestError): ReportSinkFailure {
  return classify(apiFailureOf(error));
}

function classify({ status, message, detailsKind }: ApiFailure): ReportSinkFailure {
  if (status === undefined) return { kind: 'unavailable', message };
  if (status === 404)
    return {
      kind: detailsKind === 'namespaces' ? 'rejected' : 'kind-not-served',
      message,
      status,
    };
  return { kind: status === 429 || status >= 500 ? 'unavailable' : 'rejected', message, status };
}

const failed = (error: KubeRequestError): Result<never, ReportSinkFailure> =>
  err(reportFailureOf(error));

function pluralOf(ref: ObjectRef): string {
  for (const kinds of Object.values(REPORT_KINDS)) {
    if (kinds.apiVersion !== ref.apiVersion) continue;
    if (kinds.namespaced.kind === ref.kind) return kinds.namespaced.plural;
    if (kinds.cluster.kind === ref.kind) return kinds.cluster.plural;
  }
  throw new Error(`pullwatch writes no ${ref.apiVersion} ${ref.kind}`);
}

/** Every report request: bounded, and on the agent's pooled connections when given. */
const requestOptions = (connections: ApiServerConnections | undefined) => ({
  timeoutMs: REQUEST_TIMEOUT_MS,
  ...(connections === undefined ? {} : { connections }),
});

function objectPath(ref: ObjectRef): string {
  const namespace =
    ref.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  return `/apis/${ref.apiVersion}${namespace}/${pluralOf(ref)}/${encodeURIComponent(ref.name)}`;
}

export function apiServerReportSink(
  kubeConfig: ClusterAccess,
  connections?: ApiServerConnections,
): ReportSink {
  const options = requestOptions(connections);
  return {
    nodeUid: async (name) => {
      const read = await getJson(
        kubeConfig,
        `/api/v1/nodes/${encodeURIComponent(name)}`,
        {},
        options,
      );
      if (!read.ok) return failed(read.error);
      const uid = (read.value as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
      return typeof uid !== 'string' || uid === ''
        ? err({ kind: 'unavailable', message: `node ${name} has no uid` })
        : ok(uid);
    },
    apply: async (object) => {
      const applied = await sendJson(kubeConfig, 'PATCH', objectPath(refOf(object)), object, {
        ...options,
        // JSON is YAML: the API server reads an apply patch of either.
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: FIELD_MANAGER, force: true },
      });
      return applied.ok ? ok(undefined) : failed(applied.error);
    },
    delete: async (target) => {
      const deleted = await sendJson(kubeConfig, 'DELETE', objectPath(target), undefined, options);
      // Gone already (by hand, or with its namespace): what a delete wants.
      if (deleted.ok || (deleted.error.kind === 'http' && deleted.error.status === 404))
        return ok(undefined);
      return failed(deleted.error);
    },
  };
}

/**
 * The objects labeled for `node` (--secrets-from direct, where no controller answers
 * /api/v1/reports/own; the direct-secrets component grants the list).
 */
export async function listOwnReports(
  kubeConfig: ClusterAccess,
  flavor: ReportFlavor,
  node: string,
  connections?: ApiServerConnections,
): Promise<Result<readonly ObjectRef[], ReportSinkFailure>> {
  const kinds = REPORT_KINDS[flavor];
  const refs: ObjectRef[] = [];
  for (const { kind, plural } of [kinds.namespaced, kinds.cluster]) {
    const listed = await getJson(
      kubeConfig,
      `/apis/${kinds.apiVersion}/${plural}`,
      { labelSelector: reportLabelSelector(node) },
      requestOptions(connections),
    );
    if (!listed.ok) return failed(listed.error);
    const items = (listed.value as { items?: unknown } | null)?.items;
    for (const item of Array.isArray(items) ? (items as unknown[]) : []) {
      const metadata = (item as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
      if (typeof metadata?.name !== 'string') continue;
      refs.push({
        apiVersion: kinds.apiVersion,
        kind,
        ...(typeof metadata.namespace === 'string' && metadata.namespace !== ''
          ? { namespace: metadata.namespace }
          : {}),
        name: metadata.name,
      });
    }
  }
  return ok(refs);
}

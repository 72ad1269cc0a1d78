// Where reports go: the port the reconciler talks to, and its adapter on the API server through
// client-node's CustomObjectsApi. Writes are server-side apply (PATCH
// application/apply-patch+yaml with a field manager and force, as controller-runtime's and
// Kyverno's report writers do): the object sent is the whole desired state, so a write needs no
// read first, and the agent never reads a report (its RBAC has no get/list/watch on them).
// Failures are values.
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, CustomObjectsApi, PatchStrategy } from '@kubernetes/client-node';
import type { ConfigurationOptions } from '@kubernetes/client-node';
import {
  apiFailureOf,
  apiRequestOptions,
  attemptApi,
  type ApiFailure,
} from '../kube/api-requests.ts';
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

/** The Status `details.kind` of a 404: `namespaces` when the object's namespace is gone. */
function detailsKindOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('details' in body)) return undefined;
  const details = body.details;
  if (typeof details !== 'object' || details === null || !('kind' in details)) return undefined;
  return typeof details.kind === 'string' ? details.kind : undefined;
}

/**
 * What a failed request means. A 404 on a write is the kind not being served (the API server
 * answers "the server could not find the requested resource" with no details) unless the
 * Status names the namespace as what is missing: the namespace went away, and its report with
 * it.
 */
export function reportFailureOf(error: unknown): ReportSinkFailure {
  return classify(apiFailureOf(error));
}

function classify({ status, message, body }: ApiFailure): ReportSinkFailure {
  if (status === undefined) return { kind: 'unavailable', message };
  if (status === 404)
    return {
      kind: detailsKindOf(body) === 'namespaces' ? 'rejected' : 'kind-not-served',
      message,
      status,
    };
  return { kind: status === 429 || status >= 500 ? 'unavailable' : 'rejected', message, status };
}

const attempt = <T>(call: () => Promise<T>): Promise<Result<T, ReportSinkFailure>> =>
  attemptApi(call, classify);

const requestOptions = (contentType?: string): ConfigurationOptions =>
  apiRequestOptions(REQUEST_TIMEOUT_MS, contentType);

function groupVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function pluralOf(ref: ObjectRef): string {
  for (const kinds of Object.values(REPORT_KINDS)) {
    if (kinds.apiVersion !== ref.apiVersion) continue;
    if (kinds.namespaced.kind === ref.kind) return kinds.namespaced.plural;
    if (kinds.cluster.kind === ref.kind) return kinds.cluster.plural;
  }
  throw new Error(`pullwatch writes no ${ref.apiVersion} ${ref.kind}`);
}

export function apiServerReportSink(kubeConfig: KubeConfig): ReportSink {
  const objects = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const options = requestOptions();
  const applyOptions = requestOptions(PatchStrategy.ServerSideApply);
  return {
    nodeUid: async (name) => {
      const read = await attempt(() => core.readNode({ name }, options));
      if (!read.ok) return read;
      const uid = read.value.metadata?.uid;
      return uid === undefined || uid === ''
        ? err({ kind: 'unavailable', message: `node ${name} has no uid` })
        : ok(uid);
    },
    apply: async (object) => {
      const ref = {
        ...groupVersion(object.apiVersion),
        plural: pluralOf(refOf(object)),
        name: object.metadata.name,
      };
      const common = { body: object, fieldManager: FIELD_MANAGER, force: true };
      const namespace = object.metadata.namespace;
      const applied = await attempt(() =>
        namespace === undefined
          ? objects.patchClusterCustomObject({ ...ref, ...common }, applyOptions)
          : objects.patchNamespacedCustomObject({ ...ref, namespace, ...common }, applyOptions),
      );
      return applied.ok ? ok(undefined) : applied;
    },
    delete: async (target) => {
      const ref = {
        ...groupVersion(target.apiVersion),
        plural: pluralOf(target),
        name: target.name,
      };
      const namespace = target.namespace;
      const deleted = await attempt(() =>
        namespace === undefined
          ? objects.deleteClusterCustomObject(ref, options)
          : objects.deleteNamespacedCustomObject({ ...ref, namespace }, options),
      );
      // Gone already (by hand, or with its namespace): what a delete wants.
      if (deleted.ok || deleted.error.status === 404) return ok(undefined);
      return deleted;
    },
  };
}

/**
 * The objects labeled for `node` (--secrets-from direct, where no controller answers
 * /api/v1/reports/own; the direct-secrets component grants the list).
 */
export async function listOwnReports(
  kubeConfig: KubeConfig,
  flavor: ReportFlavor,
  node: string,
): Promise<Result<readonly ObjectRef[], ReportSinkFailure>> {
  const objects = kubeConfig.makeApiClient(CustomObjectsApi);
  const kinds = REPORT_KINDS[flavor];
  const { group, version } = groupVersion(kinds.apiVersion);
  const refs: ObjectRef[] = [];
  for (const { kind, plural } of [kinds.namespaced, kinds.cluster]) {
    const listed = await attempt(
      () =>
        objects.listClusterCustomObject(
          { group, version, plural, labelSelector: reportLabelSelector(node) },
          requestOptions(),
        ) as Promise<unknown>,
    );
    if (!listed.ok) return listed;
    const items = (listed.value as { items?: unknown }).items;
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

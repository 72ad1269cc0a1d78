// The end of the demo: the finding where the cluster's people already look (README "Reports",
// "Events on the pod"), read back from the embedded API server as kubectl would show it:
// tenant-b's Report in its own namespace (naming nothing of tenant-a), the node's ClusterReport
// for admins (naming the owner), and the Warning Event on admin2-pod.
import type { EmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { ADMIN2_POD } from '../story.ts';

interface ReportResultView {
  readonly rule?: string;
  readonly severity?: string;
  readonly message?: string;
  readonly properties?: Readonly<Record<string, string>>;
}

interface ReportView {
  readonly results?: readonly ReportResultView[];
}

interface EventView {
  readonly reason?: string;
  readonly message?: string;
  readonly reportingComponent?: string;
  readonly reportingInstance?: string;
}

/** What the API server holds of pullwatch's writes for the story; undefined parts are not there yet. */
export interface WhereSeen {
  readonly report: ReportView | undefined;
  readonly clusterReport: ReportView | undefined;
  readonly event: EventView | undefined;
}

export function whereSeen(api: EmbeddedApiServer, node: string): WhereSeen {
  const get = (
    resource: 'reports.openreports.io' | 'clusterreports.openreports.io',
    ref: object,
  ) => {
    const found = api.store.get(resource, ref as { name: string });
    return found.ok ? (found.value as ReportView) : undefined;
  };
  const events = api.store.list('events', {
    namespace: ADMIN2_POD.namespace,
    fieldSelector: `involvedObject.name=${ADMIN2_POD.name},reason=UnauthorizedCachedImage`,
  });
  return {
    report: get('reports.openreports.io', {
      namespace: ADMIN2_POD.namespace,
      name: `pullwatch-${node}`,
    }),
    clusterReport: get('clusterreports.openreports.io', { name: `pullwatch-node-${node}` }),
    event: events.ok ? (events.value[0] as EventView | undefined) : undefined,
  };
}

/** A message cut after about `max` characters, at a word, for one line of the narration. */
function short(text: string | undefined, max = 110): string {
  const t = text ?? '';
  if (t.length <= max) return t;
  const cut = t.lastIndexOf(' ', max);
  return `${t.slice(0, cut > 0 ? cut : max)} …`;
}

/** The few lines that show each, as its reader sees it. */
export function describeWhereSeen(seen: WhereSeen, node: string): string[] {
  const lines: string[] = [];
  const use = (report: ReportView | undefined) =>
    report?.results?.find((r) => r.rule === 'unauthorized-cached-image-use');
  const own = use(seen.report);
  if (own !== undefined) {
    lines.push(
      `   kubectl -n ${ADMIN2_POD.namespace} get report pullwatch-${node} -o yaml   (tenant-b's own namespace)`,
      `     ${own.severity ?? ''}: ${short(own.message?.replace(/^.*? from the image cache of node \S+ /, ''))}`,
    );
  }
  const admins = use(seen.clusterReport);
  if (admins !== undefined) {
    const owner = admins.properties?.['owners.0.tenant'] ?? 'not known';
    lines.push(
      `   kubectl get clusterreport pullwatch-node-${node} -o yaml   (admins: ${seen.clusterReport?.results?.length ?? 0} results)`,
      `     ${admins.rule ?? ''} on ${ADMIN2_POD.namespace}/${ADMIN2_POD.name}, owner: ${owner}`,
    );
  }
  if (seen.event !== undefined) {
    lines.push(
      `   kubectl -n ${ADMIN2_POD.namespace} describe pod ${ADMIN2_POD.name}`,
      `     Warning  ${seen.event.reason ?? ''}  ${seen.event.reportingComponent ?? ''}, ${seen.event.reportingInstance ?? ''}  ${short(seen.event.message)}`,
    );
  }
  return lines;
}

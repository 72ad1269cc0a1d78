// The report adapter as the API server sees it: server-side apply, deletes and the list, on
// one pooled connection, and the answers sorted into what a retry may fix and what not.
import t from 'tap';
import { startRecordingApiServer } from '../../test/helpers/recording-api-server.ts';
import { ApiServerConnections } from '../kube/connections.ts';
import type { KubeRequestError } from '../kube/kube-http.ts';
import type { ReportObject } from './desired.ts';
import { apiServerReportSink, FIELD_MANAGER, listOwnReports, reportFailureOf } from './sink.ts';

const http404 = (detailsKind?: string): KubeRequestError => ({
  kind: 'http',
  status: 404,
  reason: 'NotFound',
  message: 'not found',
  ...(detailsKind === undefined ? {} : { detailsKind }),
});

t.test('failures of a report write', async (t) => {
  const cases: readonly { name: string; error: KubeRequestError; want: unknown }[] = [
    {
      name: '404 with no details: the report kind is not served (CRDs not installed)',
      error: http404(),
      want: { kind: 'kind-not-served', message: 'HTTP 404: not found', status: 404 },
    },
    {
      name: "404 naming the namespace: it went away, and its report's write with it",
      error: http404('namespaces'),
      want: { kind: 'rejected', message: 'HTTP 404: not found', status: 404 },
    },
    {
      name: '422: invalid, refused for good',
      error: { kind: 'http', status: 422, reason: 'Invalid', message: 'results: Too many' },
      want: { kind: 'rejected', message: 'HTTP 422: results: Too many', status: 422 },
    },
    {
      name: '429: throttled, worth another try',
      error: { kind: 'http', status: 429, reason: 'TooManyRequests', message: 'slow down' },
      want: { kind: 'unavailable', message: 'HTTP 429: slow down', status: 429 },
    },
    {
      name: 'no answer at all',
      error: { kind: 'network', message: 'connect ECONNREFUSED 127.0.0.1:6443' },
      want: { kind: 'unavailable', message: 'connect ECONNREFUSED 127.0.0.1:6443' },
    },
  ];
  for (const c of cases) t.same(reportFailureOf(c.error), c.want, c.name);
});

const REPORT: ReportObject = {
  apiVersion: 'openreports.io/v1alpha1',
  kind: 'Report',
  metadata: {
    name: 'pullwatch-node-1',
    namespace: 'tenant-b',
    labels: { 'app.kubernetes.io/managed-by': 'pullwatch' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'node-uid' }],
  },
  summary: { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 },
  results: [],
};

t.test('the adapter speaks to the API server as it expects, on one connection', async (t) => {
  const { kubeConfig, received, connectionsOpened } = await startRecordingApiServer(t, (r) => {
    if (r.method === 'DELETE' && r.url.includes('/gone'))
      return { status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } };
    if (r.url.startsWith('/api/v1/nodes/'))
      return { status: 200, body: { metadata: { name: 'node-1', uid: 'node-uid' } } };
    if (r.method === 'GET')
      return {
        status: 200,
        body: { items: [{ metadata: { name: 'pullwatch-node-1', namespace: 'tenant-b' } }] },
      };
    return { status: 200, body: REPORT };
  });
  const connections = new ApiServerConnections();
  t.teardown(() => {
    connections.close();
  });
  const sink = apiServerReportSink(kubeConfig, connections);

  t.same(await sink.nodeUid('node-1'), { ok: true, value: 'node-uid' });
  t.same(await sink.apply(REPORT), { ok: true, value: undefined });
  t.same(
    await sink.delete({ apiVersion: REPORT.apiVersion, kind: 'ClusterReport', name: 'gone' }),
    { ok: true, value: undefined },
    'deleting what is gone already succeeds',
  );
  const listed = await listOwnReports(kubeConfig, 'openreports', 'node-1', connections);
  t.ok(listed.ok);

  const reports = '/apis/openreports.io/v1alpha1';
  t.match(received, [
    { method: 'GET', url: '/api/v1/nodes/node-1' },
    {
      method: 'PATCH',
      url: `${reports}/namespaces/tenant-b/reports/pullwatch-node-1?fieldManager=${FIELD_MANAGER}&force=true`,
      contentType: 'application/apply-patch+yaml',
    },
    { method: 'DELETE', url: `${reports}/clusterreports/gone` },
    { method: 'GET', url: /^\/apis\/openreports\.io\/v1alpha1\/reports\?labelSelector=/ },
    { method: 'GET', url: /^\/apis\/openreports\.io\/v1alpha1\/clusterreports\?labelSelector=/ },
  ]);
  t.same(JSON.parse(received[1]?.body ?? ''), REPORT, 'the whole desired object is applied');
  t.equal(connectionsOpened(), 1, 'every request went over the one pooled connection');
});

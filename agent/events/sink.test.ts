// How the API server's answers to an Event write are sorted: what a retry may fix and what not.
import t from 'tap';
import type { KubeRequestError } from '../kube/kube-http.ts';
import { startRecordingApiServer } from '../../test/helpers/recording-api-server.ts';
import type { PodEvent } from './event.ts';
import { apiServerEventSink, failureOf } from './sink.ts';

const status = (code: number, message: string): KubeRequestError => ({
  kind: 'http',
  status: code,
  reason: 'Error',
  message,
});

t.test('failures of an Event write', async (t) => {
  const cases: readonly { name: string; error: KubeRequestError; want: unknown }[] = [
    {
      name: '409: the Event exists',
      error: status(409, 'exists'),
      want: { kind: 'already-exists' },
    },
    {
      name: '404: the Event is gone',
      error: status(404, 'not found'),
      want: { kind: 'not-found' },
    },
    {
      name: '403: refused for good',
      error: status(403, 'events.events.k8s.io is forbidden'),
      want: { kind: 'rejected', message: 'HTTP 403: events.events.k8s.io is forbidden' },
    },
    {
      name: '422: invalid, refused for good',
      error: status(422, 'note: Too long'),
      want: { kind: 'rejected', message: 'HTTP 422: note: Too long' },
    },
    {
      name: '429: throttled, worth another try',
      error: status(429, 'too many requests'),
      want: { kind: 'unavailable', message: 'HTTP 429: too many requests' },
    },
    {
      name: '503: the server is busy',
      error: status(503, 'unavailable'),
      want: { kind: 'unavailable', message: 'HTTP 503: unavailable' },
    },
    {
      name: 'no answer at all',
      error: { kind: 'network', message: 'connect ECONNREFUSED 127.0.0.1:6443' },
      want: { kind: 'unavailable', message: 'connect ECONNREFUSED 127.0.0.1:6443' },
    },
    {
      name: 'no answer in time',
      error: { kind: 'timeout', message: 'no answer within 10000 ms' },
      want: { kind: 'unavailable', message: 'no answer within 10000 ms' },
    },
    {
      name: 'a 500 whose body is no Status',
      error: status(500, 'upstream connect error'),
      want: { kind: 'unavailable', message: 'HTTP 500: upstream connect error' },
    },
  ];
  for (const c of cases) t.same(failureOf(c.error), c.want, c.name);
});

async function apiServer(
  t: Parameters<typeof startRecordingApiServer>[0],
  answer: Parameters<typeof startRecordingApiServer>[1],
) {
  const { kubeConfig, received } = await startRecordingApiServer(t, answer);
  return { sink: apiServerEventSink(kubeConfig), received };
}

const EVENT: PodEvent = {
  apiVersion: 'events.k8s.io/v1',
  kind: 'Event',
  metadata: { name: 'admin2-pod.0123456789abcdef', namespace: 'tenant-b' },
  regarding: {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: 'tenant-b',
    name: 'admin2-pod',
    uid: 'uid-1',
    fieldPath: 'spec.containers{app}',
  },
  type: 'Warning',
  reason: 'UnauthorizedCachedImage',
  action: 'Detected',
  reportingController: 'pullwatch.dev/agent',
  reportingInstance: 'node-1',
  eventTime: '2026-12-03T11:40:41.123456Z',
  note: 'a note',
};

t.test('the adapter speaks events.k8s.io/v1 as the API server expects', async (t) => {
  const { sink, received } = await apiServer(t, (r) =>
    r.method === 'GET'
      ? { status: 200, body: { ...EVENT, series: { count: 4, lastObservedTime: EVENT.eventTime } } }
      : { status: r.method === 'POST' ? 201 : 200, body: EVENT },
  );
  t.same(await sink.create(EVENT), { ok: true, value: undefined });
  t.same(await sink.seriesCount('tenant-b', EVENT.metadata.name), { ok: true, value: 4 });
  const series = { count: 5, lastObservedTime: '2026-12-03T11:45:00.000001Z' };
  t.same(await sink.patchSeries('tenant-b', EVENT.metadata.name, series), {
    ok: true,
    value: undefined,
  });
  const path = `/apis/events.k8s.io/v1/namespaces/tenant-b/events`;
  t.match(received, [
    { method: 'POST', url: path },
    { method: 'GET', url: `${path}/${EVENT.metadata.name}` },
    {
      method: 'PATCH',
      url: `${path}/${EVENT.metadata.name}`,
      contentType: 'application/merge-patch+json',
    },
  ]);
  t.same(JSON.parse(received[0]?.body ?? ''), EVENT, 'created as built, MicroTime unchanged');
  t.same(JSON.parse(received[2]?.body ?? ''), { series }, 'the patch sets only the series');
});

t.test('the adapter turns refusals into values', async (t) => {
  const { sink } = await apiServer(t, () => ({
    status: 409,
    body: { kind: 'Status', reason: 'AlreadyExists', message: 'exists' },
  }));
  t.same(await sink.create(EVENT), { ok: false, error: { kind: 'already-exists' } });
});

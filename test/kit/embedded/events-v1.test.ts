// events.k8s.io/v1 on the embedded API server, through client-node's EventsV1Api as
// pullwatch's Event writer uses it: one store with core/v1 Events (a Warning written here is
// what `kubectl describe pod` reads through core/v1), the strict create checks with 422 naming
// the field, series updates, and the field selectors events.k8s.io accepts.

/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
   client-node's models (EventsV1Event...) are data-only classes and its serializer takes plain
   objects, as client-node's own examples write them. */

import {
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { EventsV1Event } from '@kubernetes/client-node';
import t from 'tap';
import { eventually, kubeConfigOf, refusal, serve } from './client-test-helpers.ts';

const eventTime = new Date('2026-03-01T10:00:00.123Z');

function warning(name: string, extra: Partial<EventsV1Event> = {}): EventsV1Event {
  return {
    metadata: { name, namespace: 'tenant-b' },
    eventTime,
    regarding: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'tenant-b',
      name: 'admin2-pod',
      uid: 'pod-uid-2',
    },
    reportingController: 'pullwatch.dev/agent',
    reportingInstance: 'node-1',
    action: 'DetectCachedImageUse',
    reason: 'UnauthorizedCachedImage',
    type: 'Warning',
    note: 'the image was pulled onto this node with credentials this namespace does not hold',
    ...extra,
  };
}

async function clients(t: Parameters<typeof serve>[0]) {
  const server = await serve(t, { namespaces: ['default', 'tenant-b'] });
  const kc = kubeConfigOf(server);
  return { server, kc, events: kc.makeApiClient(EventsV1Api), core: kc.makeApiClient(CoreV1Api) };
}

t.test(
  'an Event written through events.k8s.io/v1 is read through core/v1, converted',
  async (t) => {
    const { events, core, server } = await clients(t);
    const created = await events.createNamespacedEvent({
      namespace: 'tenant-b',
      body: warning('w1'),
    });
    t.equal(created.apiVersion, 'events.k8s.io/v1');
    t.equal(created.note, warning('w1').note);
    const described = await core.listNamespacedEvent({
      namespace: 'tenant-b',
      fieldSelector: 'involvedObject.uid=pod-uid-2,type=Warning',
    });
    t.equal(described.items.length, 1, 'kubectl describe pod finds it by involvedObject');
    t.match(described.items[0], {
      involvedObject: { kind: 'Pod', name: 'admin2-pod', uid: 'pod-uid-2' },
      message: warning('w1').note,
      reason: 'UnauthorizedCachedImage',
      reportingComponent: 'pullwatch.dev/agent',
      reportingInstance: 'node-1',
      action: 'DetectCachedImageUse',
      type: 'Warning',
    });
    const stored = server.store.get('events', { namespace: 'tenant-b', name: 'w1' });
    t.match(
      stored.ok && stored.value,
      { apiVersion: 'v1', eventTime: /^2026-03-01T10:00:00\.123/ },
      'stored as core/v1, with its eventTime',
    );
    t.notOk('regarding' in (described.items[0] ?? {}), 'no events.k8s.io names leak into core/v1');
  },
);

t.test('a core/v1 Event reads through events.k8s.io/v1 with its deprecated fields', async (t) => {
  const { events, core } = await clients(t);
  await core.createNamespacedEvent({
    namespace: 'tenant-b',
    body: {
      metadata: { name: 'kubelet-1', namespace: 'tenant-b' },
      involvedObject: { kind: 'Pod', namespace: 'tenant-b', name: 'admin2-pod', uid: 'pod-uid-2' },
      reason: 'Pulled',
      message: 'Container image "x" already present on machine',
      source: { component: 'kubelet', host: 'node-1' },
      count: 3,
      type: 'Normal',
    },
  });
  const read = await events.readNamespacedEvent({ namespace: 'tenant-b', name: 'kubelet-1' });
  t.match(read, {
    apiVersion: 'events.k8s.io/v1',
    regarding: { name: 'admin2-pod' },
    note: 'Container image "x" already present on machine',
    deprecatedSource: { component: 'kubelet', host: 'node-1' },
    deprecatedCount: 3,
  });
  const bySource = await events.listNamespacedEvent({
    namespace: 'tenant-b',
    fieldSelector: 'source=kubelet,regarding.uid=pod-uid-2',
  });
  t.equal(bySource.items.length, 1);
});

t.test('series updates are allowed; everything else of an Event is immutable', async (t) => {
  const { events } = await clients(t);
  await events.createNamespacedEvent({ namespace: 'tenant-b', body: warning('w1') });
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const counted = await events.patchNamespacedEvent(
    {
      namespace: 'tenant-b',
      name: 'w1',
      body: { series: { count: 2, lastObservedTime: new Date('2026-03-01T10:05:00Z') } },
    },
    merge,
  );
  t.equal(counted.series?.count, 2);
  t.match(
    await refusal(
      events.patchNamespacedEvent(
        { namespace: 'tenant-b', name: 'w1', body: { note: 'changed' } },
        merge,
      ),
    ),
    { code: 422, details: { causes: [{ field: 'message', message: /field is immutable/ }] } },
  );
  t.match(
    await refusal(
      events.patchNamespacedEvent(
        {
          namespace: 'tenant-b',
          name: 'w1',
          body: { series: { count: 1, lastObservedTime: new Date() } },
        },
        merge,
      ),
    ),
    {
      code: 422,
      details: {
        causes: [{ field: 'series.count', message: 'Invalid value: "": should be at least 2' }],
      },
    },
  );
});

const invalidCases: {
  name: string;
  change: Partial<EventsV1Event> | ((e: EventsV1Event) => EventsV1Event);
  field: string;
  message: RegExp | string;
}[] = [
  {
    name: 'no eventTime',
    change: (e) => ({ ...e, eventTime: undefined as unknown as Date }),
    field: 'eventTime',
    message: 'Required value',
  },
  {
    name: 'a reportingController that is no qualified name',
    change: { reportingController: 'pullwatch dev/agent!' },
    field: 'reportingController',
    message: /^Invalid value: "pullwatch dev\/agent!": prefix part/,
  },
  {
    name: 'no reportingInstance',
    change: { reportingInstance: '' },
    field: 'reportingInstance',
    message: 'Required value',
  },
  {
    name: 'a reportingInstance over 128 characters',
    change: { reportingInstance: 'n'.repeat(129) },
    field: 'reportingInstance',
    message: 'Invalid value: "": can have at most 128 characters',
  },
  { name: 'no action', change: { action: '' }, field: 'action', message: 'Required value' },
  {
    name: 'a reason over 128 characters',
    change: { reason: 'R'.repeat(129) },
    field: 'reason',
    message: 'Invalid value: "": can have at most 128 characters',
  },
  {
    name: 'a type other than Normal or Warning',
    change: { type: 'Critical' },
    field: 'type',
    message: 'Invalid value: "": has invalid value: Critical',
  },
  {
    name: 'a note over 1 kB (counted in bytes)',
    change: { note: 'é'.repeat(513) },
    field: 'message',
    message: 'Invalid value: "": can have at most 1024 characters',
  },
  {
    name: 'a series of one',
    change: { series: { count: 1, lastObservedTime: eventTime } },
    field: 'series.count',
    message: /should be at least 2/,
  },
  {
    name: 'a deprecatedCount',
    change: { deprecatedCount: 2 },
    field: 'count',
    message: /needs to be unset/,
  },
  {
    name: 'a deprecatedSource',
    change: { deprecatedSource: { component: 'kubelet' } },
    field: 'source',
    message: /needs to be unset/,
  },
];

for (const c of invalidCases) {
  t.test(`events.k8s.io/v1 refuses an Event with ${c.name}`, async (t) => {
    const { events, server } = await clients(t);
    const body =
      typeof c.change === 'function' ? c.change(warning('bad')) : warning('bad', c.change);
    const status = await refusal(events.createNamespacedEvent({ namespace: 'tenant-b', body }));
    t.match(status, {
      code: 422,
      reason: 'Invalid',
      message: /^Event.events.k8s.io "bad" is invalid: /,
    });
    t.match(status.details?.causes, [{ field: c.field, message: c.message }]);
    t.notOk(server.store.get('events', { namespace: 'tenant-b', name: 'bad' }).ok);
  });
}

t.test('events.k8s.io/v1 field selectors are its own names', async (t) => {
  const { events } = await clients(t);
  await events.createNamespacedEvent({ namespace: 'tenant-b', body: warning('w1') });
  await events.createNamespacedEvent({
    namespace: 'tenant-b',
    body: warning('n1', { type: 'Normal', reportingController: 'kubelet' }),
  });
  const cases = [
    ['regarding.uid=pod-uid-2', ['n1', 'w1']],
    ['reportingController=pullwatch.dev/agent', ['w1']],
    ['type=Normal', ['n1']],
    ['source=kubelet', ['n1']],
    ['metadata.name=w1,reason=UnauthorizedCachedImage', ['w1']],
  ] as const;
  for (const [fieldSelector, names] of cases) {
    const listed = await events.listNamespacedEvent({ namespace: 'tenant-b', fieldSelector });
    t.same(listed.items.map((e) => e.metadata?.name).sort(), names, fieldSelector);
  }
  t.match(
    await refusal(
      events.listNamespacedEvent({
        namespace: 'tenant-b',
        fieldSelector: 'involvedObject.uid=pod-uid-2',
      }),
    ),
    { code: 400, message: 'field label not supported: involvedObject.uid' },
  );
});

t.test('a watch on events.k8s.io/v1 sees core/v1 writes in its own form', async (t) => {
  const { kc, core } = await clients(t);
  const seen: { type: string; note?: string; apiVersion?: string }[] = [];
  const watch = await new Watch(kc).watch(
    '/apis/events.k8s.io/v1/namespaces/tenant-b/events',
    { allowWatchBookmarks: false },
    (type: string, obj: EventsV1Event) =>
      seen.push({
        type,
        ...(obj.note ? { note: obj.note } : {}),
        ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}),
      }),
    () => undefined,
  );
  await core.createNamespacedEvent({
    namespace: 'tenant-b',
    body: {
      metadata: { name: 'c1' },
      involvedObject: { kind: 'Pod', namespace: 'tenant-b', name: 'p' },
      message: 'hello',
      type: 'Normal',
    },
  });
  await eventually(() => seen.length === 1, 'the ADDED event');
  watch.abort();
  t.same(seen, [{ type: 'ADDED', note: 'hello', apiVersion: 'events.k8s.io/v1' }]);
});

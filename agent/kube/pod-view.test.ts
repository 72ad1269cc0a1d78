import t from 'tap';
import type { PodView } from '../model/snapshot.ts';
import { podViewFromObject } from './pod-view.ts';

const CREATED = '2026-03-01T10:00:00Z';
const CREATED_MS = Date.parse(CREATED);
const STARTED = '2026-03-01T10:00:07Z';
const STARTED_MS = Date.parse(STARTED);
const DIGEST = `sha256:${'b'.repeat(64)}`;

interface PodInput {
  metadata?: Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function pod(input: PodInput = {}): Record<string, unknown> {
  return {
    metadata: {
      uid: 'uid-1',
      namespace: 'tenant-a',
      name: 'web',
      creationTimestamp: CREATED,
      ...input.metadata,
    },
    spec: {
      serviceAccountName: 'builder',
      containers: [{ name: 'main', image: 'registry.example/app:1.0' }],
      ...input.spec,
    },
    ...(input.status ? { status: input.status } : {}),
  };
}

const mainNotStarted = {
  kind: 'regular',
  name: 'main',
  image: 'registry.example/app:1.0',
  pullPolicy: 'IfNotPresent',
  state: { kind: 'not-started' },
  statusImageId: undefined,
} as const;

const basic: PodView = {
  uid: 'uid-1',
  namespace: 'tenant-a',
  name: 'web',
  createdAt: CREATED_MS,
  serviceAccountName: 'builder',
  pullSecretNames: [],
  containers: [mainNotStarted],
  finished: false,
};

const good: { name: string; input: unknown; want: PodView }[] = [
  { name: 'a scheduled pod without status has not started', input: pod(), want: basic },
  {
    name: "the controlling ownerReference is the pod's workload; other owners are not",
    input: pod({
      metadata: {
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'extra', uid: 'u-cm' },
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'web-7d4b9',
            uid: 'u-rs',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
    }),
    want: {
      ...basic,
      controller: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9', uid: 'u-rs' },
    },
  },
  {
    name: 'owners without a controller, or a controller without a uid, give no workload',
    input: pod({
      metadata: {
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name: 'nightly', uid: 'u-job' },
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', controller: true },
        ],
      },
    }),
    want: basic,
  },
  {
    name: 'imagePullSecrets become secret names, empty and repeated names dropped',
    input: pod({
      spec: {
        imagePullSecrets: [
          { name: 'regcred' },
          { name: '' },
          {},
          { name: 'regcred' },
          { name: 'b' },
        ],
      },
    }),
    want: { ...basic, pullSecretNames: ['regcred', 'b'] },
  },
  {
    name: 'init, regular and ephemeral containers keep their kinds, in that order',
    input: pod({
      spec: {
        initContainers: [{ name: 'setup', image: 'busybox:1.36', imagePullPolicy: 'Never' }],
        containers: [{ name: 'main', image: 'registry.example/app:1.0' }],
        ephemeralContainers: [{ name: 'debugger', image: 'busybox' }],
      },
    }),
    want: {
      ...basic,
      containers: [
        {
          kind: 'init',
          name: 'setup',
          image: 'busybox:1.36',
          pullPolicy: 'Never',
          state: { kind: 'not-started' },
          statusImageId: undefined,
        },
        mainNotStarted,
        {
          kind: 'ephemeral',
          name: 'debugger',
          image: 'busybox',
          pullPolicy: 'Always',
          state: { kind: 'not-started' },
          statusImageId: undefined,
        },
      ],
    },
  },
  {
    name: 'an explicit pull policy wins over the tag-based default',
    input: pod({
      spec: {
        containers: [{ name: 'main', image: 'app:latest', imagePullPolicy: 'IfNotPresent' }],
      },
    }),
    want: { ...basic, containers: [{ ...mainNotStarted, image: 'app:latest' }] },
  },
  {
    name: 'statuses are joined by name within their own kind',
    input: pod({
      spec: {
        initContainers: [{ name: 'main', image: 'init:1' }],
        containers: [
          { name: 'main', image: 'registry.example/app:1.0' },
          { name: 'sidecar', image: 'proxy:2' },
        ],
      },
      status: {
        phase: 'Running',
        initContainerStatuses: [
          {
            name: 'main',
            imageID: '',
            state: { terminated: { exitCode: 0, startedAt: CREATED, finishedAt: STARTED } },
          },
        ],
        containerStatuses: [
          {
            name: 'sidecar',
            imageID: `docker-pullable://proxy@${DIGEST}`,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
          },
          {
            name: 'main',
            imageID: `registry.example/app@${DIGEST}`,
            state: { running: { startedAt: STARTED } },
          },
        ],
      },
    }),
    want: {
      ...basic,
      containers: [
        {
          kind: 'init',
          name: 'main',
          image: 'init:1',
          pullPolicy: 'IfNotPresent',
          state: { kind: 'terminated', exitCode: 0, startedAt: CREATED_MS },
          statusImageId: undefined,
        },
        {
          ...mainNotStarted,
          state: { kind: 'running', startedAt: STARTED_MS },
          statusImageId: `registry.example/app@${DIGEST}`,
        },
        {
          kind: 'regular',
          name: 'sidecar',
          image: 'proxy:2',
          pullPolicy: 'IfNotPresent',
          state: { kind: 'waiting', reason: 'CrashLoopBackOff' },
          statusImageId: `docker-pullable://proxy@${DIGEST}`,
        },
      ],
    },
  },
  {
    name: 'a waiting state without reason, a terminated one without startedAt',
    input: pod({
      spec: {
        containers: [
          { name: 'main', image: 'registry.example/app:1.0' },
          { name: 'other', image: 'registry.example/app:1.0' },
        ],
      },
      status: {
        containerStatuses: [
          { name: 'main', state: { waiting: {} } },
          { name: 'other', state: { terminated: { exitCode: 137 } } },
        ],
      },
    }),
    want: {
      ...basic,
      containers: [
        { ...mainNotStarted, state: { kind: 'waiting', reason: '' } },
        {
          ...mainNotStarted,
          name: 'other',
          state: { kind: 'terminated', exitCode: 137, startedAt: undefined },
        },
      ],
    },
  },
  {
    name: 'a status with an empty state has not started; a running one without startedAt started at creation',
    input: pod({
      spec: {
        containers: [
          { name: 'main', image: 'registry.example/app:1.0' },
          { name: 'other', image: 'registry.example/app:1.0' },
        ],
      },
      status: {
        containerStatuses: [
          { name: 'main', state: {} },
          { name: 'other', state: { running: {} } },
        ],
      },
    }),
    want: {
      ...basic,
      containers: [
        mainNotStarted,
        { ...mainNotStarted, name: 'other', state: { kind: 'running', startedAt: CREATED_MS } },
      ],
    },
  },
  {
    name: 'an ephemeral container reports through ephemeralContainerStatuses',
    input: pod({
      spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }] },
      status: {
        ephemeralContainerStatuses: [
          { name: 'debugger', state: { running: { startedAt: STARTED } } },
        ],
      },
    }),
    want: {
      ...basic,
      containers: [
        mainNotStarted,
        {
          kind: 'ephemeral',
          name: 'debugger',
          image: 'busybox:1.36',
          pullPolicy: 'IfNotPresent',
          state: { kind: 'running', startedAt: STARTED_MS },
          statusImageId: undefined,
        },
      ],
    },
  },
  {
    name: 'a Succeeded pod is finished',
    input: pod({ status: { phase: 'Succeeded' } }),
    want: { ...basic, finished: true },
  },
  {
    name: 'a Failed pod is finished',
    input: pod({ status: { phase: 'Failed' } }),
    want: { ...basic, finished: true },
  },
  {
    name: 'a pod being deleted is finished even while running',
    input: pod({ metadata: { deletionTimestamp: STARTED }, status: { phase: 'Running' } }),
    want: { ...basic, finished: true },
  },
  {
    name: 'the deprecated serviceAccount stands in for serviceAccountName; none is empty',
    input: pod({ spec: { serviceAccountName: undefined, serviceAccount: 'legacy' } }),
    want: { ...basic, serviceAccountName: 'legacy' },
  },
  {
    name: 'client-node models with Date timestamps read the same as JSON',
    input: pod({
      metadata: { creationTimestamp: new Date(CREATED) },
      status: {
        containerStatuses: [{ name: 'main', state: { running: { startedAt: new Date(STARTED) } } }],
      },
    }),
    want: {
      ...basic,
      containers: [{ ...mainNotStarted, state: { kind: 'running', startedAt: STARTED_MS } }],
    },
  },
];

for (const c of good) {
  t.test(c.name, async (t) => {
    const view = podViewFromObject(c.input);
    t.ok(view.ok, view.ok ? '' : view.error);
    if (view.ok) t.same(view.value, c.want);
  });
}

const bad: { name: string; input: unknown; message: RegExp }[] = [
  { name: 'not an object', input: 'pod', message: /not a JSON object/ },
  {
    name: 'no name',
    input: pod({ metadata: { name: undefined } }),
    message: /tenant-a\/\? has no namespace or name/,
  },
  { name: 'no uid', input: pod({ metadata: { uid: '' } }), message: /tenant-a\/web has no uid/ },
  {
    name: 'no creationTimestamp',
    input: pod({ metadata: { creationTimestamp: 'yesterday' } }),
    message: /tenant-a\/web has no valid creationTimestamp/,
  },
  { name: 'no spec', input: { metadata: pod().metadata }, message: /tenant-a\/web has no spec/ },
  { name: 'no containers', input: pod({ spec: { containers: [] } }), message: /has no containers/ },
  {
    name: 'containers not a list',
    input: pod({ spec: { containers: { main: {} } } }),
    message: /spec\.containers is not a list/,
  },
  {
    name: 'a container without image',
    input: pod({ spec: { containers: [{ name: 'main' }] } }),
    message: /tenant-a\/web: container main has no image/,
  },
  {
    name: 'a container without name',
    input: pod({ spec: { initContainers: [{ image: 'x:1' }] } }),
    message: /spec\.initContainers\[0\] has no name/,
  },
];

for (const c of bad) {
  t.test(`refused: ${c.name}`, async (t) => {
    const view = podViewFromObject(c.input);
    t.notOk(view.ok);
    if (!view.ok) t.match(view.error, c.message);
  });
}

import t from 'tap';
import {
  classifyPulledMessage,
  containerNameFromFieldPath,
  kubeletImageEventsOf,
} from './kubelet-events.ts';

const messages = [
  {
    name: 'gate off: already present',
    message: 'Container image "registry.example/app:1.0" already present on machine',
    want: 'already-present',
  },
  {
    name: 'gate on: already present and verified',
    message:
      'Container image "registry.example/app:1.0" already present on machine and can be accessed by the pod',
    want: 'already-present-verified',
  },
  {
    name: 'a pull',
    message:
      'Successfully pulled image "registry.example/app:1.0" in 1.2s (1.2s including waiting). Image size: 3145728 bytes.',
    want: 'pulled',
  },
  { name: 'a pull starting is not an answer', message: 'Pulling image "x:1"', want: undefined },
  { name: 'anything else', message: 'Started container main', want: undefined },
] as const;

for (const c of messages) {
  t.test(`message: ${c.name}`, async (t) => {
    t.equal(classifyPulledMessage(c.message), c.want);
  });
}

const fieldPaths = [
  { fieldPath: 'spec.containers{main}', want: 'main' },
  { fieldPath: 'spec.initContainers{setup}', want: 'setup' },
  { fieldPath: 'spec.ephemeralContainers{debugger-x7k2}', want: 'debugger-x7k2' },
  { fieldPath: 'spec.containers', want: undefined },
  { fieldPath: '', want: undefined },
  { fieldPath: 'metadata.name', want: undefined },
] as const;

for (const c of fieldPaths) {
  t.test(`fieldPath "${c.fieldPath}"`, async (t) => {
    t.equal(containerNameFromFieldPath(c.fieldPath), c.want);
  });
}

function event(
  container: string,
  message: string,
  extra: {
    host?: string;
    reportingInstance?: string;
    firstTimestamp?: string | Date;
    reason?: string;
  } = {},
) {
  return {
    reason: extra.reason ?? 'Pulled',
    message,
    involvedObject: { kind: 'Pod', uid: 'pod-uid', fieldPath: `spec.containers{${container}}` },
    source: { component: 'kubelet', ...(extra.host !== undefined ? { host: extra.host } : {}) },
    ...(extra.reportingInstance !== undefined
      ? { reportingInstance: extra.reportingInstance }
      : {}),
    firstTimestamp: extra.firstTimestamp ?? '2026-03-01T10:00:00Z',
  };
}

const present = 'Container image "a:1" already present on machine';
const pulled = 'Successfully pulled image "a:1" in 1s (1s including waiting). Image size: 1 bytes.';

t.test('only events from this node count', async (t) => {
  const answers = kubeletImageEventsOf(
    [
      event('main', present, { host: 'node-2' }),
      event('side', present, { host: 'node-1' }),
      event('init', present, { reportingInstance: 'node-1' }),
    ],
    'node-1',
  );
  t.same(
    [...answers],
    [
      ['side', 'already-present'],
      ['init', 'already-present'],
    ],
  );
});

t.test('the earliest event of a container wins (its first start)', async (t) => {
  const answers = kubeletImageEventsOf(
    [
      event('main', present, { host: 'node-1', firstTimestamp: '2026-03-01T10:05:00Z' }),
      event('main', pulled, { host: 'node-1', firstTimestamp: new Date('2026-03-01T10:00:00Z') }),
    ],
    'node-1',
  );
  t.same([...answers], [['main', 'pulled']]);
});

t.test('events of other reasons, pods or unknown messages are ignored', async (t) => {
  const other = {
    ...event('x', present, { host: 'node-1' }),
    involvedObject: { uid: 'other', fieldPath: 'spec.containers{x}' },
  };
  const answers = kubeletImageEventsOf(
    [
      event('main', 'Pulling image "a:1"', { host: 'node-1', reason: 'Pulling' }),
      event('main', 'Back-off pulling image', { host: 'node-1' }),
      other,
      'not an event',
    ],
    'node-1',
    'pod-uid',
  );
  t.same([...answers], []);
});

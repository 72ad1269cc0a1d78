// The Event writer against an in-memory events.k8s.io store that answers as the API server
// does (409 on a second create, 404 on a patch of a missing Event), on a clock and a sleep the
// test controls.
import t from 'tap';
import type { Finding, UnauthorizedCachedImageUse } from '../detect/finding.ts';
import type { FindingsChange } from '../findings/store.ts';
import { createLogger } from '../log.ts';
import type { TenantId } from '../model/snapshot.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { EventSeries, PodEvent } from './event.ts';
import { eventName } from './event.ts';
import type { EventSink, SinkFailure } from './sink.ts';
import type { EventWriterOptions } from './writer.ts';
import { EventWriter, MAX_ATTEMPTS } from './writer.ts';

const T0 = Date.parse('2026-12-03T11:00:00Z');

function use(over: Partial<UnauthorizedCachedImageUse> = {}): Finding {
  return {
    rule: 'unauthorized-cached-image-use',
    id: 'finding-1',
    severity: 'critical',
    confidence: 'confirmed',
    node: 'node-1',
    tenant: 'tenant-b' as TenantId,
    namespace: 'tenant-b',
    pod: 'admin2-pod',
    podUid: 'uid-admin2',
    container: 'app',
    containerKind: 'regular',
    pullPolicy: 'IfNotPresent',
    image: 'registry.example.com/team-a/super-secret-image-1:v1',
    imageId: `sha256:${'a1'.repeat(32)}`,
    repoDigest: null,
    registry: 'registry.example.com',
    repository: 'team-a/super-secret-image-1',
    owners: [{ tenant: 'tenant-a' as TenantId, namespace: 'tenant-a', secret: 'secret-1' }],
    possibleOwners: [],
    evidence: [],
    remediation: '',
    firstSeen: '',
    lastSeen: '',
    ...over,
  };
}

const added = (...findings: Finding[]): FindingsChange => ({
  added: findings,
  retired: [],
  active: findings,
});

const retired = (...findings: Finding[]): FindingsChange => ({
  added: [],
  retired: findings,
  active: [],
});

type Failure = SinkFailure | 'hang';

/** Stored Events by namespace/name, and the requests made, with failures to inject. */
class FakeEventStore implements EventSink {
  readonly events = new Map<string, PodEvent>();
  readonly requests: string[] = [];
  /** Failures to answer with, in order, before answering normally. */
  readonly failures: Failure[] = [];
  #release: (() => void)[] = [];

  create(event: PodEvent): Promise<Result<void, SinkFailure>> {
    return this.#answer(`create ${event.metadata.name}`, () => {
      const key = `${event.metadata.namespace}/${event.metadata.name}`;
      if (this.events.has(key)) return err({ kind: 'already-exists' });
      this.events.set(key, event);
      return ok(undefined);
    });
  }

  seriesCount(namespace: string, name: string): Promise<Result<number, SinkFailure>> {
    return this.#answer(`read ${name}`, () => {
      const event = this.events.get(`${namespace}/${name}`);
      return event === undefined ? err({ kind: 'not-found' }) : ok(event.series?.count ?? 1);
    });
  }

  patchSeries(
    namespace: string,
    name: string,
    series: EventSeries,
  ): Promise<Result<void, SinkFailure>> {
    return this.#answer(`patch ${name} ${series.count}`, () => {
      const key = `${namespace}/${name}`;
      const event = this.events.get(key);
      if (event === undefined) return err({ kind: 'not-found' });
      this.events.set(key, { ...event, series });
      return ok(undefined);
    });
  }

  /** Lets hanging requests answer. */
  release(): void {
    for (const go of this.#release.splice(0)) go();
  }

  async #answer<T>(
    request: string,
    answer: () => Result<T, SinkFailure>,
  ): Promise<Result<T, SinkFailure>> {
    this.requests.push(request);
    const failure = this.failures.shift();
    if (failure === 'hang') {
      await new Promise<void>((resolve) => this.#release.push(resolve));
      return answer();
    }
    return failure === undefined ? answer() : err(failure);
  }
}

interface Harness {
  readonly store: FakeEventStore;
  readonly writer: EventWriter;
  readonly sleeps: number[];
  advance(ms: number): void;
  /** Waits until the writes under way are done. */
  settle(): Promise<void>;
}

function harness(
  store = new FakeEventStore(),
  over: Partial<EventWriterOptions> = {},
  clock = { now: T0 },
): Harness {
  const sleeps: number[] = [];
  const writer = new EventWriter({
    sink: store,
    logger: createLogger('silent', {}),
    now: () => clock.now,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...over,
  });
  return {
    store,
    writer,
    sleeps,
    advance: (ms) => {
      clock.now += ms;
    },
    settle: async () => {
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    },
  };
}

const NAME = eventName({ pod: 'admin2-pod', podUid: 'uid-admin2', id: 'finding-1' });
const KEY = `tenant-b/${NAME}`;

t.test('a newly raised finding creates one Warning Event on its pod', async (t) => {
  const h = harness();
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, [`create ${NAME}`]);
  t.match(h.store.events.get(KEY), {
    regarding: { name: 'admin2-pod', uid: 'uid-admin2', fieldPath: 'spec.containers{app}' },
    type: 'Warning',
    eventTime: '2026-12-03T11:00:00.000000Z',
  });
  t.notOk(h.store.events.get(KEY)?.series, 'no series for one observation');
  t.same(h.writer.counts().written, { create: 1, series: 0 });
});

t.test('findings that are not new, or not about a pod, write nothing', async (t) => {
  const h = harness();
  const remembered = use();
  h.writer.record({ added: [], retired: [], active: [remembered] });
  h.writer.record(
    added({
      rule: 'always-pull-images-not-enforced',
      id: 'node-wide',
      severity: 'low',
      confidence: 'confirmed',
      node: 'node-1',
      containersByPolicy: { Always: 0, IfNotPresent: 1, Never: 0 },
      evidence: [],
      remediation: '',
      firstSeen: '',
      lastSeen: '',
    }),
  );
  await h.settle();
  t.same(h.store.requests, []);
});

t.test('a finding raised again continues one Event as a series', async (t) => {
  const h = harness();
  h.writer.record(added(use()));
  await h.settle();
  h.advance(60_000);
  h.writer.record(added(use()));
  await h.settle();
  h.advance(60_000);
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, [`create ${NAME}`, `patch ${NAME} 2`, `patch ${NAME} 3`]);
  t.equal(h.store.events.size, 1, 'one object');
  t.same(h.store.events.get(KEY)?.series, {
    count: 3,
    lastObservedTime: '2026-12-03T11:02:00.000000Z',
  });
  t.equal(h.store.events.get(KEY)?.eventTime, '2026-12-03T11:00:00.000000Z', 'first time kept');
  t.same(h.writer.counts().written, { create: 1, series: 2 });
});

t.test(
  'a retired finding is forgotten; raised again, its series continues from the server',
  async (t) => {
    const cases: readonly [name: string, hangFirstCreate: boolean, expected: readonly string[]][] =
      [
        // Retired while nothing is being written: the next raise finds the Event by its 409.
        [
          'retired after its Event was written',
          false,
          [`create ${NAME}`, `create ${NAME}`, `read ${NAME}`, `patch ${NAME} 2`],
        ],
        // Retired during the create: kept until the write is done, so the repeat patches.
        ['retired while its create is under way', true, [`create ${NAME}`, `patch ${NAME} 2`]],
      ];
    for (const [name, hang, expected] of cases) {
      const store = new FakeEventStore();
      if (hang) store.failures.push('hang');
      const h = harness(store);
      h.writer.record(added(use()));
      if (!hang) await h.settle();
      h.writer.record(retired(use()));
      store.release();
      await h.settle();
      h.advance(60_000);
      h.writer.record(added(use()));
      await h.settle();
      t.same(store.requests, expected, name);
      t.equal(store.events.get(KEY)?.series?.count, 2, `${name}: one series of 2`);
    }
  },
);

t.test('repeats during a write go out together in the next one', async (t) => {
  const store = new FakeEventStore();
  store.failures.push('hang');
  const h = harness(store);
  h.writer.record(added(use()));
  h.writer.record(added(use()));
  h.writer.record(added(use()));
  await h.settle();
  t.same(store.requests, [`create ${NAME}`], 'the create is still under way');
  store.release();
  await h.settle();
  t.same(store.requests, [`create ${NAME}`, `patch ${NAME} 3`]);
});

t.test('record() returns at once while the API server hangs', async (t) => {
  const store = new FakeEventStore();
  store.failures.push('hang');
  const h = harness(store);
  h.writer.record(added(use()));
  t.pass('record returned');
  store.release();
  await h.writer.stop();
});

t.test('an agent restarted without its state finds its Event and adds to the series', async (t) => {
  const store = new FakeEventStore();
  const before = harness(store);
  before.writer.record(added(use()));
  await before.settle();
  before.advance(60_000);
  before.writer.record(added(use()));
  await before.settle();
  await before.writer.stop();

  const after = harness(store, {}, { now: T0 + 120_000 });
  after.writer.record(added(use()));
  await after.settle();
  t.same(store.requests.slice(2), [`create ${NAME}`, `read ${NAME}`, `patch ${NAME} 3`]);
  t.equal(store.events.size, 1, 'no second Event');
  t.equal(store.events.get(KEY)?.series?.count, 3);
});

t.test('an Event expired from the API server is created again with its series', async (t) => {
  const h = harness();
  h.writer.record(added(use()));
  await h.settle();
  h.store.events.clear(); // --event-ttl passed
  h.advance(2 * 3_600_000);
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, [`create ${NAME}`, `patch ${NAME} 2`, `create ${NAME}`]);
  t.same(h.store.events.get(KEY)?.series, {
    count: 2,
    lastObservedTime: '2026-12-03T13:00:00.000000Z',
  });
});

t.test('failures', async (t) => {
  const unavailable: SinkFailure = { kind: 'unavailable', message: 'connect ECONNREFUSED' };
  const cases: {
    name: string;
    failures: Failure[];
    requests: number;
    sleeps: number;
    stored: boolean;
    dropped: Partial<Record<string, number>>;
  }[] = [
    {
      name: 'the API server away twice, then back: retried with backoff',
      failures: [unavailable, unavailable],
      requests: 3,
      sleeps: 2,
      stored: true,
      dropped: {},
    },
    {
      name: `away for good: given up after ${MAX_ATTEMPTS} tries`,
      failures: Array<Failure>(MAX_ATTEMPTS).fill(unavailable),
      requests: MAX_ATTEMPTS,
      sleeps: MAX_ATTEMPTS - 1,
      stored: false,
      dropped: { 'retries-exhausted': 1 },
    },
    {
      name: 'refused (forbidden): not retried',
      failures: [{ kind: 'rejected', message: 'HTTP 403: forbidden' }],
      requests: 1,
      sleeps: 0,
      stored: false,
      dropped: { rejected: 1 },
    },
  ];
  for (const c of cases) {
    const store = new FakeEventStore();
    store.failures.push(...c.failures);
    const h = harness(store);
    h.writer.record(added(use()));
    await h.settle();
    t.equal(store.requests.length, c.requests, `${c.name}: requests`);
    t.equal(h.sleeps.length, c.sleeps, `${c.name}: waits`);
    t.ok(
      h.sleeps.every((ms, i) => i === 0 || ms >= (h.sleeps[i - 1] ?? 0) / 2),
      `${c.name}: waits grow`,
    );
    t.equal(store.events.has(KEY), c.stored, `${c.name}: stored`);
    t.match(h.writer.counts().dropped, c.dropped, `${c.name}: counted`);
    const last = c.failures.at(-1);
    t.match(
      h.writer.lastError(),
      { message: typeof last === 'object' && 'message' in last ? last.message : '' },
      `${c.name}: the last error kept for the status`,
    );
  }
});

t.test('rate limits', async (t) => {
  const pods = (n: number) =>
    Array.from({ length: n }, (_, i) => use({ id: `f-${i}`, pod: `pod-${i}`, podUid: `uid-${i}` }));
  const containers = (n: number) =>
    Array.from({ length: n }, (_, i) => use({ id: `f-${i}`, container: `c-${i}` }));
  const cases = [
    {
      name: 'one pod: 25 at once, the rest dropped',
      findings: containers(30),
      limits: { perAgent: { perSecond: 1000, burst: 1000 } },
      written: 25,
      dropped: { 'pod-rate-limit': 5, 'agent-rate-limit': 0 },
    },
    {
      name: 'the agent: 10 at once across pods, the rest dropped',
      findings: pods(12),
      limits: {},
      written: 10,
      dropped: { 'pod-rate-limit': 0, 'agent-rate-limit': 2 },
    },
  ];
  for (const c of cases) {
    const h = harness(new FakeEventStore(), { limits: c.limits });
    h.writer.record(added(...c.findings));
    await h.settle();
    t.equal(h.store.events.size, c.written, `${c.name}: written`);
    t.match(h.writer.counts().dropped, c.dropped, `${c.name}: counted`);
  }

  // A repeat the pod's limit held back is not lost: its count goes out with the next write.
  const h = harness(new FakeEventStore(), { limits: { perPod: { perSecond: 1 / 300, burst: 1 } } });
  h.writer.record(added(use()));
  await h.settle();
  h.advance(1000);
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, [`create ${NAME}`], 'the repeat was held back');
  h.advance(300_000);
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, [`create ${NAME}`, `patch ${NAME} 3`], 'counted in the next write');
});

t.test('after stop(), nothing more is written', async (t) => {
  const h = harness();
  await h.writer.stop();
  h.writer.record(added(use()));
  await h.settle();
  t.same(h.store.requests, []);
});

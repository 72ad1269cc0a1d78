// The reconciler against a recording sink and an in-memory record: reports follow the findings,
// writes are coalesced per object, a restart writes nothing that did not change, and failures
// are retried (or not) as their kind says.
import t from 'tap';
import pino from 'pino';
import type { Finding } from '../detect/finding.ts';
import type { TenantId } from '../model/snapshot.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { ObjectRef, ReportObject } from './desired.ts';
import { refKey } from './desired.ts';
import type { ReportReconcilerOptions } from './reconciler.ts';
import { ReportReconciler, writeCountKey } from './reconciler.ts';
import type { ReportSink, ReportSinkFailure } from './sink.ts';
import type { WrittenSet, WrittenSetLoad } from './written-set.ts';

const NODE = 'node-1';

function use(namespace: string, pod: string, firstSeen = '2026-11-01T00:00:00.000Z'): Finding {
  return {
    rule: 'unauthorized-cached-image-use',
    id: `id-${namespace}-${pod}`,
    severity: 'critical',
    confidence: 'confirmed',
    node: NODE,
    tenant: namespace as TenantId,
    namespace,
    pod,
    podUid: `uid-${pod}`,
    container: 'app',
    containerKind: 'regular',
    image: 'registry.example.com/team-a/app:v1',
    imageId: 'sha256:aa',
    repoDigest: null,
    registry: 'registry.example.com',
    repository: 'team-a/app',
    pullPolicy: 'IfNotPresent',
    owners: [{ tenant: 'tenant-a' as TenantId, namespace: 'tenant-a', secret: 'pull' }],
    possibleOwners: [],
    evidence: ['runs it from the cache'],
    remediation: 'enable AlwaysPullImages',
    firstSeen,
    lastSeen: '2026-11-01T01:00:00.000Z',
  };
}

type Call =
  | { readonly op: 'apply'; readonly key: string; readonly object: ReportObject }
  | { readonly op: 'delete'; readonly key: string };

/** Records every call; answers with what `answer` says (ok by default). */
function recordingSink(
  answer: (call: Call) => ReportSinkFailure | undefined = () => undefined,
): ReportSink & { calls: Call[] } {
  const calls: Call[] = [];
  const reply = (call: Call): Result<void, ReportSinkFailure> => {
    calls.push(call);
    const failure = answer(call);
    return failure === undefined ? ok(undefined) : err(failure);
  };
  return {
    calls,
    nodeUid: async () => ok('uid-node-1'),
    apply: async (object) => {
      const { apiVersion, kind, metadata } = object;
      const ref = { apiVersion, kind, namespace: metadata.namespace, name: metadata.name };
      return reply({ op: 'apply', key: refKey(ref as ObjectRef), object });
    },
    delete: async (ref) => reply({ op: 'delete', key: refKey(ref) }),
  };
}

function memoryStore(initial?: WrittenSet) {
  let saved: WrittenSet | undefined = initial;
  return {
    load: async (): Promise<WrittenSetLoad> =>
      saved === undefined ? { kind: 'missing' } : { kind: 'loaded', set: saved },
    save: async (set: WrittenSet) => {
      saved = set;
      return ok(undefined);
    },
    get saved() {
      return saved;
    },
  };
}

const REPORT_B = 'openreports.io/v1alpha1/Report/tenant-b/pullwatch-node-1';
const REPORT_C = 'openreports.io/v1alpha1/Report/tenant-c/pullwatch-node-1';
const CLUSTER = 'openreports.io/v1alpha1/ClusterReport//pullwatch-node-node-1';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await wait(10);
  if (!condition()) throw new Error(`timed out waiting until ${what}`);
}

function reconciler(
  options: Partial<ReportReconcilerOptions> & Pick<ReportReconcilerOptions, 'sink' | 'findings'>,
  store = memoryStore(),
) {
  const logged: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logged.push(line) });
  const r = new ReportReconciler({
    flavor: 'openreports',
    node: NODE,
    store,
    ownReports: async () => ok([]),
    ready: () => true,
    writeIntervalMs: 100,
    logger,
    backoff: { initialMs: 10, maxMs: 20 },
    ...options,
  });
  return { r, store, logged };
}

const keys = (calls: readonly Call[]) => calls.map((c) => `${c.op} ${c.key}`);

t.test('writes the desired objects once; the same findings again write nothing', async (t) => {
  const sink = recordingSink();
  const findings = [use('tenant-b', 'admin2-pod')];
  const { r, store } = reconciler({ sink, findings: () => findings });
  r.start();
  await until(() => sink.calls.length === 2, 'two objects are written');
  t.same(keys(sink.calls).sort(), [`apply ${CLUSTER}`, `apply ${REPORT_B}`]);
  r.published();
  r.published();
  await wait(150);
  t.equal(sink.calls.length, 2, 'nothing more');
  t.same(
    store.saved?.objects.map((o) => refKey(o.ref)).sort(),
    [CLUSTER, REPORT_B],
    'the record names both',
  );
  t.match(r.status(), { state: 'writing', objects: 2, pending: 0, problem: null });
  t.equal(r.counts().get(writeCountKey('Report', 'apply', 'ok')), 1);
  await r.stop();
});

t.test('a retired finding leaves its report; an empty report is deleted', async (t) => {
  const sink = recordingSink();
  let findings = [use('tenant-b', 'admin2-pod'), use('tenant-c', 'other')];
  const { r } = reconciler({ sink, findings: () => findings, writeIntervalMs: 10 });
  r.start();
  await until(() => sink.calls.length === 3, 'three objects are written');
  findings = [use('tenant-b', 'admin2-pod')];
  r.published();
  await until(() => sink.calls.length === 5, 'the change is written');
  t.same(keys(sink.calls.slice(3)).sort(), [`apply ${CLUSTER}`, `delete ${REPORT_C}`]);
  const cluster = sink.calls.at(-1)?.op === 'apply' ? sink.calls.at(-1) : sink.calls.at(-2);
  t.equal(cluster?.op === 'apply' ? cluster.object.results.length : -1, 1, 'one result left');
  findings = [];
  r.published();
  await until(() => sink.calls.length === 7, 'the rest is deleted');
  t.same(keys(sink.calls.slice(5)).sort(), [`delete ${CLUSTER}`, `delete ${REPORT_B}`]);
  t.match(r.status(), { objects: 0, pending: 0 });
  await r.stop();
});

t.test(
  'a burst of changes costs at most two writes per object, the last one current',
  async (t) => {
    const sink = recordingSink();
    let findings = [use('tenant-b', 'pod-0')];
    const { r } = reconciler({ sink, findings: () => findings, writeIntervalMs: 300 });
    r.start();
    await until(() => sink.calls.length === 2, 'the first writes');
    for (let i = 1; i <= 100; i++) {
      findings = Array.from({ length: i % 7 }, (_, j) => use('tenant-b', `pod-${j}`)).concat(
        use('tenant-b', 'pod-0'),
      );
      r.published();
    }
    findings = [use('tenant-b', 'pod-0'), use('tenant-b', 'pod-1')];
    r.published();
    await until(() => sink.calls.length === 4, 'the coalesced writes');
    await wait(400);
    const perObject = new Map<string, number>();
    for (const c of sink.calls) perObject.set(c.key, (perObject.get(c.key) ?? 0) + 1);
    t.same(Object.fromEntries(perObject), { [REPORT_B]: 2, [CLUSTER]: 2 }, '101 changes, 2 writes');
    const last = sink.calls.filter((c) => c.key === REPORT_B).at(-1);
    t.equal(last?.op === 'apply' ? last.object.results.length : -1, 2, 'the last state written');
    await r.stop();
  },
);

t.test('a restart with its record writes nothing unchanged and deletes what is gone', async (t) => {
  const first = recordingSink();
  const findings = [use('tenant-b', 'admin2-pod', '2026-11-01T00:00:00.000Z')];
  const store = memoryStore();
  const before = reconciler({ sink: first, findings: () => findings }, store);
  before.r.start();
  await until(() => first.calls.length === 2, 'written');
  await before.r.stop();
  const record = store.saved;
  if (record === undefined) throw new Error('a record was saved');

  // The restarted agent's finding keeps its first-seen time (findings.json, kept by the agent's
  // loop); a stale object is recorded.
  const stale = {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    namespace: 'gone',
    name: 'pullwatch-node-1',
  };
  const second = recordingSink();
  const again = [use('tenant-b', 'admin2-pod', '2026-11-01T00:00:00.000Z')];
  const after = reconciler(
    { sink: second, findings: () => again },
    memoryStore({ ...record, objects: [...record.objects, { ref: stale, digest: 'x' }] }),
  );
  after.r.start();
  await until(() => second.calls.length === 1, 'the stale object is deleted');
  await wait(150);
  t.same(keys(second.calls), [`delete ${refKey(stale)}`], 'only the stale object is touched');
  await after.r.stop();
});

t.test('findings that change back while their write is under way are written again', async (t) => {
  const first = use('tenant-b', 'admin2-pod', '2026-11-01T00:00:00.000Z');
  const second = use('tenant-b', 'admin2-pod', '2026-11-02T00:00:00.000Z');
  let findings = [first];
  let hang = false;
  let release: (() => void) | undefined;
  const written: string[] = [];
  const sink: ReportSink = {
    nodeUid: async () => ok('uid-node-1'),
    apply: async (object) => {
      if (object.kind !== 'Report') return ok(undefined);
      if (hang) await new Promise<void>((resolve) => (release = resolve));
      written.push(String(object.results[0]?.timestamp?.seconds));
      return ok(undefined);
    },
    delete: async () => ok(undefined),
  };
  const { r } = reconciler({ sink, findings: () => findings });
  r.start();
  await until(() => written.length === 1 && r.status().pending === 0, 'the first state written');
  // The second state's write hangs; meanwhile the findings go back to the first state, which
  // is what the record says was written: only the end of the write shows it is not.
  hang = true;
  findings = [second];
  r.published();
  await until(() => release !== undefined, 'the second write under way');
  hang = false;
  findings = [first];
  r.published();
  release?.();
  await until(() => written.length === 3, 'the first state written again');
  t.equal(written[2], written[0], 'the object ends as the findings are');
  await r.stop();
});

t.test('registry answers outstanding: written once they are in, not before', async (t) => {
  const sink = recordingSink();
  let settled = false;
  const { r } = reconciler({
    sink,
    findings: () => [use('tenant-b', 'admin2-pod')],
    settled: () => settled,
  });
  r.start();
  await wait(150);
  t.same(sink.calls, [], 'nothing while an answer is outstanding');
  settled = true;
  r.published(); // the answer's reconcile
  await until(() => sink.calls.length === 2, 'written');
  await r.stop();
});

t.test('without a record, the objects the controller names are reconciled', async (t) => {
  const sink = recordingSink();
  const findings = [use('tenant-b', 'admin2-pod')];
  const stale = {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    namespace: 'gone',
    name: 'pullwatch-node-1',
  };
  const { r } = reconciler({
    sink,
    findings: () => findings,
    ownReports: async () =>
      ok([
        stale,
        {
          apiVersion: 'openreports.io/v1alpha1',
          kind: 'Report',
          namespace: 'tenant-b',
          name: 'pullwatch-node-1',
        },
      ]),
  });
  r.start();
  await until(() => sink.calls.length === 3, 'reconciled');
  t.same(
    keys(sink.calls).sort(),
    [`apply ${CLUSTER}`, `apply ${REPORT_B}`, `delete ${refKey(stale)}`].sort(),
  );
  await r.stop();
});

t.test('the controller not answering yet: asked again until it does', async (t) => {
  const sink = recordingSink();
  let asked = 0;
  const { r, logged } = reconciler({
    sink,
    findings: () => [use('tenant-b', 'admin2-pod')],
    ownReports: async () => (++asked < 3 ? err('connect ECONNREFUSED') : ok([])),
  });
  r.start();
  t.match(r.status(), { state: 'starting' });
  await until(() => sink.calls.length === 2, 'written once the controller answered');
  t.equal(asked, 3);
  t.equal(logged.filter((l) => l.includes('ECONNREFUSED')).length, 1, 'logged once');
  await r.stop();
});

t.test('report CRDs missing: said once, in the status, and tried again later', async (t) => {
  const sink = recordingSink(() => ({
    kind: 'kind-not-served',
    message: 'HTTP 404: the server could not find the requested resource',
    status: 404,
  }));
  const { r, logged } = reconciler({ sink, findings: () => [use('tenant-b', 'admin2-pod')] });
  r.start();
  await until(() => sink.calls.length === 1, 'a write is tried');
  r.published();
  r.published();
  await wait(150);
  t.equal(sink.calls.length, 1, 'not tried again within the minute');
  t.match(r.status(), {
    state: 'kind-not-served',
    problem: /does not serve openreports.io\/v1alpha1 (Cluster)?Report \(CRDs not installed\)/,
    pending: 2,
  });
  t.equal(logged.filter((l) => l.includes('install the report CRDs')).length, 1, 'logged once');
  t.equal(
    r
      .counts()
      .get(
        writeCountKey(
          sink.calls[0]?.key.includes('Cluster') ? 'ClusterReport' : 'Report',
          'apply',
          'kind-not-served',
        ),
      ),
    1,
  );
  await r.stop();
});

t.test('an unavailable API server: retried with backoff until it answers', async (t) => {
  let failures = 3;
  const sink = recordingSink(() =>
    failures-- > 0 ? { kind: 'unavailable', message: 'HTTP 503: busy', status: 503 } : undefined,
  );
  const { r } = reconciler({ sink, findings: () => [use('tenant-b', 'admin2-pod')] });
  r.start();
  await until(() => sink.calls.length === 5, 'three failures, then both objects');
  t.match(r.status(), {
    objects: 2,
    pending: 0,
    problem: null,
    lastError: { message: /HTTP 503: busy/ },
  });
  await r.stop();
});

t.test('a refused write is not tried again until its content changes', async (t) => {
  const sink = recordingSink((call) =>
    call.key === REPORT_B
      ? { kind: 'rejected', message: 'HTTP 403: denied', status: 403 }
      : undefined,
  );
  let findings = [use('tenant-b', 'admin2-pod')];
  const { r } = reconciler({ sink, findings: () => findings, writeIntervalMs: 10 });
  r.start();
  await until(() => sink.calls.length === 2, 'both tried');
  r.published();
  await wait(50);
  t.equal(sink.calls.length, 2, 'the same refused content is not sent again');
  findings = [use('tenant-b', 'admin2-pod'), use('tenant-b', 'second')];
  r.published();
  await until(() => sink.calls.length === 4, 'the changed content is tried');
  await r.stop();
});

t.test('nothing is written before the agent is ready', async (t) => {
  const sink = recordingSink();
  let ready = false;
  const { r } = reconciler({
    sink,
    findings: () => [use('tenant-b', 'admin2-pod')],
    ready: () => ready,
  });
  r.start();
  await wait(50);
  r.published();
  await wait(50);
  t.equal(sink.calls.length, 0);
  t.match(r.status(), { state: 'waiting' });
  ready = true;
  r.published();
  await until(() => sink.calls.length === 2, 'written once ready');
  await r.stop();
});

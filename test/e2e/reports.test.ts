// The agent's reports end to end (issue 13): the seed story on an embedded runtime and the
// in-process API server serving the report CRDs from ../shared, with the real agent (and, in
// the last case, the real controller) as processes under their own bound tokens. What a tenant
// reads in its namespace names nothing of the other tenant; the node's ClusterReport, for
// admins, names the owner; the reports follow the findings, survive a restart untouched, are
// written seldom under churn, and are never read by the agent.
import { rm, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import t from 'tap';
import type { Test } from 'tap';
import { parse } from 'yaml';
import type { StatusJson } from '../../agent/http/representation.ts';
import { findingsOfClusterReport } from '../../agent/reports/decode.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import {
  controllerKubeconfigYaml,
  startControllerProcess,
  viaControllerArgs,
} from '../helpers/controller-process.ts';
import type { Seed } from '../helpers/embedded-story.ts';
import { flagAdmin2, NODE, podEvents, seed } from '../helpers/embedded-story.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { issueBoundToken } from '../kit/bound-tokens.ts';
import type { RequestRecord } from '../kit/embedded/handlers.ts';
import type { EmbeddedApiServer, ResourceKey } from '../kit/embedded/kube-apiserver.ts';
import { openReportsCrdsForTests, openReportsDir, reportCrds } from '../kit/report-crds.ts';
import { ADMIN1_POD, ADMIN1_SECRET, ADMIN2_POD, TENANT_A, TENANT_B } from '../kit/story.ts';

const AGENT = { namespace: 'pullwatch', serviceAccount: 'pullwatch-agent', pod: 'agent-x1' };
const AGENT_USER = `system:serviceaccount:${AGENT.namespace}:${AGENT.serviceAccount}`;
const REPORT_GROUPS = new Set(['openreports.io', 'wgpolicyk8s.io']);
const WRITES = new Set(['create', 'update', 'patch', 'delete']);

/** Where each flavor's objects are, as the fixture store names resources. */
const FLAVORS = {
  openreports: {
    report: 'reports.openreports.io',
    cluster: 'clusterreports.openreports.io',
  },
  wgpolicy: {
    report: 'policyreports.wgpolicyk8s.io',
    cluster: 'clusterpolicyreports.wgpolicyk8s.io',
  },
} as const;
const REPORT = { namespace: TENANT_B, name: `pullwatch-${NODE}` };
const CLUSTER_REPORT = { name: `pullwatch-node-${NODE}` };

interface Stored {
  metadata: { resourceVersion: string; labels: Record<string, string> };
  results: { rule: string; resources?: { name: string }[] }[];
}

interface ReportsSeed extends Seed {
  /** The agent's token for the API server: bound to its pod on node-1. */
  readonly agentToken: string;
  startAgent(name: string, extraArgs?: readonly string[], stateDir?: string): Promise<AgentProcess>;
}

/** The seed world with the report CRDs, the Node, and the agent's identity; undefined when skipped. */
async function reportsSeed(t: Test, prefix: string): Promise<ReportsSeed | undefined> {
  if (!(await openReportsCrdsForTests())) {
    t.plan(0, 'skipped: ../shared/reference/openreports is missing');
    return undefined;
  }
  const s = await seed(t, prefix, { customResourceDefinitions: await reportCrds() });
  s.api.store.create('namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'pullwatch' },
  });
  s.api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  const agentToken = issueBoundToken(s.api, { ...AGENT, node: NODE });
  return {
    ...s,
    agentToken,
    startAgent: (name, extraArgs = [], stateDir = 'state') =>
      s.start({
        name,
        stateDir,
        token: agentToken,
        extraArgs: ['--report-write-interval', '1s', ...extraArgs],
      }),
  };
}

function stored(api: EmbeddedApiServer, resource: ResourceKey, ref: object): Stored | undefined {
  const found = api.store.get(resource, ref as { name: string });
  return found.ok ? (found.value as unknown as Stored) : undefined;
}

function waitStored(
  api: EmbeddedApiServer,
  resource: ResourceKey,
  ref: object,
  until: (o: Stored | undefined) => boolean = (o) => o !== undefined,
): Promise<Stored | undefined> {
  return waitFor(
    `${resource} ${JSON.stringify(ref)}`,
    async () => {
      const o = stored(api, resource, ref);
      return until(o) ? { o } : undefined;
    },
    15_000,
  ).then((r) => r.o);
}

const byAgent = (api: EmbeddedApiServer, keep: (r: RequestRecord) => boolean) =>
  api.requestLog.filter((r) => r.user === AGENT_USER && keep(r));
const reportReads = (api: EmbeddedApiServer) =>
  byAgent(api, (r) => REPORT_GROUPS.has(r.group) && !WRITES.has(r.verb)).map((r) => {
    const query = new URLSearchParams(r.query).toString();
    return `${r.verb} ${r.path}${query === '' ? '' : `?${query}`}`;
  });
const writesTo = (api: EmbeddedApiServer, groups: ReadonlySet<string>) =>
  byAgent(api, (r) => groups.has(r.group) && WRITES.has(r.verb)).map((r) => `${r.verb} ${r.path}`);

/** The agent's status once its report writer is in step. */
function inStep(agent: AgentProcess, objects: number): Promise<StatusJson> {
  return waitFor(
    `the reports to be in step (${objects} objects)`,
    async () => {
      const { body } = await agent.getJson<StatusJson>('/api/v1/status');
      const r = body.reports;
      return r?.state === 'writing' && r.pending === 0 && r.objects === objects ? body : undefined;
    },
    15_000,
  );
}

async function crdValidator(file: string) {
  const crd = parse(await readFile(`${openReportsDir}${file}`, 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: object } }[] };
  };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (schema === undefined) throw new Error(`${file} has no schema`);
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { int32: true, int64: true } });
  return ajv.compile(schema);
}

t.test(
  "the seed story's reports: tenant-b's Report, the ClusterReport, the Event; unchanged by a restart; gone with the pod",
  async (t) => {
    const s = await reportsSeed(t, 'e2e-reports');
    if (s === undefined) return;
    const { api } = s;
    const kinds = FLAVORS.openreports;
    let agent = await s.startAgent('pullwatch');
    await flagAdmin2(s, agent);

    const report = await waitStored(api, kinds.report, REPORT);
    const cluster = await waitStored(api, kinds.cluster, CLUSTER_REPORT, (o) =>
      (o?.results ?? []).some((r) => r.rule === 'unauthorized-cached-image-use'),
    );
    for (const [object, file] of [
      [report, 'openreports.io_reports.yaml'],
      [cluster, 'openreports.io_clusterreports.yaml'],
    ] as const) {
      const validate = await crdValidator(file);
      t.ok(validate(object), `${file}: the stored object validates`, { errors: validate.errors });
    }
    t.match(report, {
      metadata: {
        labels: { 'app.kubernetes.io/managed-by': 'pullwatch', 'pullwatch.dev/node': NODE },
      },
      results: [
        {
          source: 'pullwatch',
          rule: 'unauthorized-cached-image-use',
          result: 'fail',
          resources: [{ kind: 'Pod', namespace: TENANT_B, name: ADMIN2_POD.name }],
        },
      ],
    });
    const text = JSON.stringify(report);
    for (const tenantA of [TENANT_A, ADMIN1_SECRET, ADMIN1_POD.name])
      t.notOk(text.includes(tenantA), `tenant-b's Report does not contain "${tenantA}"`);

    const decoded = findingsOfClusterReport(cluster);
    if (!decoded.ok) throw new Error(decoded.error);
    const use = decoded.value.find((f) => f.rule === 'unauthorized-cached-image-use');
    t.match(use, {
      node: NODE,
      namespace: TENANT_B,
      pod: ADMIN2_POD.name,
      owners: [{ tenant: TENANT_A, namespace: TENANT_A, secret: ADMIN1_SECRET }],
    });
    t.ok(JSON.stringify(cluster).includes(TENANT_A), 'the ClusterReport names tenant-a');

    const [event] = await waitFor(
      'the Warning Event on admin2-pod',
      async () => {
        const events = await podEvents(api, ADMIN2_POD);
        return events.length > 0 ? events : undefined;
      },
      10_000,
    );
    t.match(event, { type: 'Warning', reason: 'UnauthorizedCachedImage', reportingInstance: NODE });
    // In --secrets-from direct mode, without a record of what it wrote (a first start), the
    // agent lists the objects labeled for its node (README "Reports"); nothing else.
    const selector = new URLSearchParams({
      labelSelector: `app.kubernetes.io/managed-by=pullwatch,pullwatch.dev/node=${NODE}`,
    }).toString();
    t.same(
      reportReads(api).sort(),
      ['clusterreports', 'reports'].map(
        (r) => `list /apis/openreports.io/v1alpha1/${r}?${selector}`,
      ),
      "the agent's identity read no report but its node's, listed once at a first start",
    );

    // A restart: the same objects at the same resourceVersions, and no write at all.
    const status = await inStep(agent, 2);
    t.match(status.reports, { mode: 'openreports', lastError: null });
    t.equal(await agent.stop(), 0);
    api.clearRequestLog();
    agent = await s.startAgent('pullwatch-restarted');
    await inStep(agent, 2);
    await sleep(2000); // twice the write interval: a write that should not happen would be done
    t.equal(
      stored(api, kinds.report, REPORT)?.metadata.resourceVersion,
      report?.metadata.resourceVersion,
    );
    t.equal(
      stored(api, kinds.cluster, CLUSTER_REPORT)?.metadata.resourceVersion,
      cluster?.metadata.resourceVersion,
    );
    const [eventAfter] = await podEvents(api, ADMIN2_POD);
    t.equal(eventAfter?.metadata.resourceVersion, event?.metadata.resourceVersion, 'the Event too');
    t.same(
      writesTo(api, new Set([...REPORT_GROUPS, 'events.k8s.io'])),
      [],
      'the request log holds no write by the restarted agent',
    );

    // admin2-pod goes: its result is retired and tenant-b's Report, now empty, is deleted.
    api.store.delete('pods', ADMIN2_POD);
    await waitStored(api, kinds.report, REPORT, (o) => o === undefined);
    const after = await waitStored(
      api,
      kinds.cluster,
      CLUSTER_REPORT,
      (o) => o !== undefined && !o.results.some((r) => r.rule === 'unauthorized-cached-image-use'),
    );
    t.ok(after, 'the ClusterReport stays, without the retired result');
    t.same(reportReads(api), [], 'the restarted agent, with its record, read none');
  },
);

t.test('under churn, each object is written at most once per write interval', async (t) => {
  const s = await reportsSeed(t, 'e2e-reports-churn');
  if (s === undefined) return;
  const { api } = s;
  const intervalMs = 2000;
  const agent = await s.startAgent('pullwatch-churn', ['--report-write-interval', '2s']);
  await flagAdmin2(s, agent);
  await inStep(agent, 2);
  api.clearRequestLog();

  // 30 more tenant-b pods start from the cache and go again: 90 pod events.
  const started = Date.now();
  const pods = Array.from({ length: 30 }, (_, i) => `churn-${i}`);
  for (const name of pods) {
    s.story.runFromCache(TENANT_B, name);
    await sleep(30);
  }
  for (const name of pods) {
    api.store.delete('pods', { namespace: TENANT_B, name });
    await sleep(30);
  }
  const settled = await waitStored(
    api,
    FLAVORS.openreports.report,
    REPORT,
    (o) => o?.results.length === 1,
  );
  await inStep(agent, 2);
  const elapsedMs = Date.now() - started;
  t.equal(settled?.results[0]?.resources?.[0]?.name, ADMIN2_POD.name, 'back to admin2-pod alone');

  const perObject = new Map<string, number>();
  for (const w of writesTo(api, REPORT_GROUPS)) perObject.set(w, (perObject.get(w) ?? 0) + 1);
  // The contract: one write per object per interval (and the first at once).
  const bound = Math.ceil(elapsedMs / intervalMs) + 1;
  t.comment(
    `90 pod events over ${elapsedMs} ms: writes ${JSON.stringify(Object.fromEntries(perObject))}`,
  );
  for (const [write, count] of perObject) {
    t.ok(count <= bound, `${write}: ${count} writes, at most ${bound}`);
    t.ok(count <= 90 / 5, `${write}: far fewer writes than pod events`);
  }
  const eventCreates = writesTo(api, new Set(['events.k8s.io'])).filter((w) =>
    w.startsWith('create'),
  );
  t.ok(eventCreates.length <= pods.length, 'at most one Event per flagged pod');
});

t.test('--reports wgpolicy writes PolicyReport and ClusterPolicyReport instead', async (t) => {
  const s = await reportsSeed(t, 'e2e-reports-wgpolicy');
  if (s === undefined) return;
  const agent = await s.startAgent('pullwatch-wgpolicy', ['--reports', 'wgpolicy']);
  await flagAdmin2(s, agent);
  const report = await waitStored(s.api, FLAVORS.wgpolicy.report, REPORT);
  t.match(report, {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    results: [{ rule: 'unauthorized-cached-image-use' }],
  });
  t.ok(await waitStored(s.api, FLAVORS.wgpolicy.cluster, CLUSTER_REPORT));
  const status = await inStep(agent, 2);
  t.match(status.reports, { mode: 'wgpolicy', state: 'writing' });
  t.same(
    s.api.store.list(FLAVORS.openreports.report),
    { ok: true, value: [] },
    'no OpenReports object',
  );
  t.same(writesTo(s.api, new Set(['openreports.io'])), [], 'no request to openreports.io at all');
});

t.test('--reports off writes nothing', async (t) => {
  const s = await reportsSeed(t, 'e2e-reports-off');
  if (s === undefined) return;
  const agent = await s.startAgent('pullwatch-reports-off', ['--reports', 'off']);
  await flagAdmin2(s, agent);
  await sleep(1500); // the time a write that should not happen would take
  t.same(
    s.api.requestLog.filter((r) => REPORT_GROUPS.has(r.group)),
    [],
    'no request to a report group',
  );
  const { body } = await agent.getJson<StatusJson>('/api/v1/status');
  t.match(body.reports, { mode: 'off', state: 'off' });
});

t.test(
  'through the controller, an agent whose state dir was wiped learns its objects and deletes its stale Report',
  async (t) => {
    if (!requireTools(t, ['openssl'])) return;
    const s = await reportsSeed(t, 'e2e-reports-controller');
    if (s === undefined) return;
    const { api, dir } = s;
    const tls = await selfSignedCertificate(dir, 'controller');
    const controller = await startControllerProcess(t, {
      dir,
      kubeconfigYaml: controllerKubeconfigYaml(api),
      certFile: tls.cert,
      keyFile: tls.key,
    });
    const tokenFile = join(dir, 'agent-controller-token');
    await writeFile(
      tokenFile,
      issueBoundToken(api, { ...AGENT, node: NODE, audience: 'pullwatch-controller' }),
    );
    const viaController = viaControllerArgs({
      url: controller.url,
      caFile: tls.cert,
      tokenFile,
    });
    const kinds = FLAVORS.openreports;
    const agent = await s.startAgent('pullwatch-brokered', viaController, 'brokered-state');
    await flagAdmin2(s, agent);
    await waitStored(api, kinds.report, REPORT);
    await inStep(agent, 2);
    t.same(reportReads(api), [], 'a first start through the controller reads no report');

    // While the agent is away its finding goes, and its state dir with it.
    t.equal(await agent.stop(), 0);
    api.store.delete('pods', ADMIN2_POD);
    await rm(join(dir, 'brokered-state'), { recursive: true, force: true });
    api.clearRequestLog();
    const restarted = await s.startAgent('pullwatch-wiped', viaController, 'brokered-state');
    await waitStored(api, kinds.report, REPORT, (o) => o === undefined);
    t.ok(
      writesTo(api, REPORT_GROUPS).includes(
        `delete /apis/openreports.io/v1alpha1/namespaces/${TENANT_B}/reports/${REPORT.name}`,
      ),
      'the agent deleted the Report the controller named',
    );
    t.same(reportReads(api), [], 'without reading any report itself');
    t.match((await restarted.getJson<StatusJson>('/api/v1/status')).body.reports, {
      state: 'writing',
      lastError: null,
    });
  },
);

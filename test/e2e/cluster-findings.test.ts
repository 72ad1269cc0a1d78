// One findings API for the cluster (issue 13, part 4): `pullwatch controller` as a process,
// against the in-process API server serving the OpenReports CRDs from ../shared. The agents'
// ClusterReports and Reports for two nodes are written as an agent writes them (the reports
// builders); the controller answers a security team for the whole cluster, refuses whom RBAC
// refuses, forgets deleted reports, says when it is stale, and tells each agent only its own
// node's objects.
import t from 'tap';
import type { FindingJson } from '../../agent/http/findings-json.ts';
import { desiredReports, stampWrittenAt } from '../../agent/reports/desired.ts';
import { FINDINGS } from '../kit/http/fake-view.ts';
import { controllerOpenApiChecker } from '../kit/http/controller-openapi.ts';
import type { TestHost } from '../kit/http/serve-app.ts';
import { issueBoundToken } from '../kit/bound-tokens.ts';
import { startEmbeddedApiServer, type EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { openReportsCrds, openReportsCrdsPresent } from '../kit/report-crds.ts';
import {
  controllerKubeconfigYaml,
  startControllerProcess,
  type ControllerAnswer,
  type ControllerProcess,
} from '../helpers/controller-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const AUDIENCE = 'pullwatch-controller';
const SECURITY_TOKEN = 'security-team-token';
const TENANT_TOKEN = 'tenant-b-token';
const NODES = ['node-1', 'node-2'] as const;

/** FINDINGS as the agent of `node` finds them. */
const findingsOn = (node: string) => FINDINGS.map((f) => ({ ...f, node, id: `${f.id}-${node}` }));

/** What the agent of `node` writes: its Reports and its ClusterReport (or only that). */
function writeReportsOf(api: EmbeddedApiServer, node: string, only?: 'ClusterReport'): void {
  const objects = desiredReports({
    flavor: 'openreports',
    node,
    nodeUid: `uid-${node}`,
    findings: findingsOn(node),
  });
  for (const object of objects) {
    if (only !== undefined && object.kind !== only) continue;
    const stamped = stampWrittenAt(object, '2026-02-01T12:00:00.000Z');
    const resource = object.kind === 'ClusterReport' ? 'clusterreports' : 'reports';
    const created = api.store.create(`${resource}.openreports.io`, stamped);
    if (!created.ok)
      throw new Error(`${object.kind} ${object.metadata.name}: ${created.error.message}`);
  }
}

interface Checked {
  readonly status: number;
  /** The body parsed; the type is the test's claim, checked by the OpenAPI document. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T>(): T;
}

/** Every answer of the findings API checked against docs/controller-openapi.yaml. */
function checked(t: TestHost, path: string, answer: ControllerAnswer): Checked {
  t.same(
    controllerOpenApiChecker().check({
      method: 'GET',
      path: new URL(path, 'https://x').pathname,
      status: answer.status,
      contentType: answer.contentType,
      body: answer.body,
    }),
    [],
    `GET ${path} answers as docs/controller-openapi.yaml says`,
  );
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  return { status: answer.status, json: <T>() => JSON.parse(answer.body) as T };
}

t.test(
  "the controller serves every node's findings from the agents' reports, to whom RBAC allows",
  async (t) => {
    if (!requireTools(t, ['openssl'])) return;
    if (!(await openReportsCrdsPresent())) {
      if (process.env['CI'] === 'true')
        t.fail('CI=true and ../shared/reference/openreports is missing');
      else t.plan(0, 'skipped: ../shared/reference/openreports is missing');
      return;
    }
    const dir = await makeTempDir(t, 'e2e-cluster-findings');
    const api = await startEmbeddedApiServer({
      customResourceDefinitions: await openReportsCrds(),
    });
    t.teardown(() => api.stop());
    for (const ns of ['pullwatch', 'team-b', 'team-c-dev'])
      api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
      });

    // RBAC for the findings API: the security team may get /api/*, tenant-b's user may not.
    api.auth.setToken(SECURITY_TOKEN, { username: 'jane', groups: ['security-team'] });
    api.auth.setToken(TENANT_TOKEN, { username: 'tenant-b-admin', groups: ['tenant-b'] });
    api.auth.setRule(
      (a) =>
        a.path !== undefined && a.path.startsWith('/api/') && a.groups.includes('security-team'),
    );
    for (const node of NODES) writeReportsOf(api, node);

    const tls = await selfSignedCertificate(dir, 'controller');
    const controller: ControllerProcess = await startControllerProcess(t, {
      dir,
      kubeconfigYaml: controllerKubeconfigYaml(api),
      certFile: tls.cert,
      keyFile: tls.key,
    });
    const get = async (path: string, token = SECURITY_TOKEN) =>
      checked(t, path, await controller.getText(path, token));
    type List = { items: FindingJson[]; stale: boolean };
    const ids = (list: List) => list.items.map((f) => f.id).sort();

    const nodeOne = await waitFor(
      "node-1's findings from the controller",
      async () => {
        const answer = await get('/api/v1/findings?node=node-1');
        return answer.status === 200 ? answer.json<List>() : undefined;
      },
      15_000,
    );
    t.same(
      ids(nodeOne),
      findingsOn('node-1')
        .map((f) => f.id)
        .sort(),
      "node-1's findings, all of them",
    );
    t.ok(
      nodeOne.items.every((f) => f.node === 'node-1'),
      'and nothing of node-2',
    );
    t.equal(nodeOne.stale, false);
    const use = nodeOne.items.find((f) => f.id === 'f-unauthorized-b-node-1');
    t.match(
      use,
      { owners: [{ tenant: 'team-a', namespace: 'team-a', secret: 'team-a-pull' }] },
      'with owners',
    );
    const everyNode = (await get('/api/v1/findings')).json<List>();
    t.equal(everyNode.items.length, 2 * FINDINGS.length, 'both nodes from one URL');
    t.equal(
      (await get('/api/v1/findings/f-exposed-node-2')).json<{ item: FindingJson }>().item.node,
      'node-2',
    );

    // A report under node-3's name whose findings claim node-1 (a stolen token's forgery) is
    // skipped, logged and counted, never served.
    for (const object of desiredReports({
      flavor: 'openreports',
      node: 'node-3',
      nodeUid: 'uid-node-3',
      findings: findingsOn('node-1').map((f) => ({ ...f, id: `forged-${f.id}` })),
    })) {
      if (object.kind === 'ClusterReport')
        api.store.create(
          'clusterreports.openreports.io',
          stampWrittenAt(object, '2026-02-01T12:00:00.000Z'),
        );
    }
    await waitFor(
      'the forged report to be counted',
      async () =>
        /pullwatch_controller_reports_unreadable_total\{kind="ClusterReport"\} 1/.test(
          (await controller.getText('/metrics')).body,
        )
          ? true
          : undefined,
      10_000,
    );
    const afterForgery = (await get('/api/v1/findings')).json<List>();
    t.notOk(
      afterForgery.items.some((f) => f.id.startsWith('forged-')),
      'no finding of the forged report is served',
    );

    const refused = await get('/api/v1/findings?node=node-1', TENANT_TOKEN);
    t.equal(refused.status, 403, 'a user RBAC does not allow is refused');
    t.equal((await get('/api/v1/findings', 'not-a-token')).status, 401);
    const agentToken = issueBoundToken(api, {
      namespace: 'pullwatch',
      serviceAccount: 'pullwatch-agent',
      pod: 'agent-1',
      node: 'node-1',
      audience: AUDIENCE,
    });
    // A real API server already refuses its audience (401); RBAC grants the agents none of it.
    const asAgent = await get('/api/v1/findings', agentToken);
    t.equal(asAgent.status, 403, "an agent's broker token is no key to the findings API");

    // A report deleted (its node gone) takes its findings with it.
    api.store.delete('clusterreports.openreports.io', { name: 'pullwatch-node-node-2' });
    await waitFor(
      "node-2's findings to go",
      async () =>
        (await get('/api/v1/findings')).json<List>().items.some((f) => f.node === 'node-2')
          ? undefined
          : true,
      10_000,
    );
    t.equal((await get('/api/v1/findings/f-exposed-node-2')).status, 404);

    // The API server's watch of ClusterReports fails: the last findings are served, stale.
    api.faults.failNext(/clusterreports/, 500, { times: 1_000_000, watch: true });
    api.faults.dropWatches();
    const stale = await waitFor(
      'the answer to be marked stale',
      async () => {
        const list = (await get('/api/v1/findings?node=node-1')).json<List>();
        return list.stale ? list : undefined;
      },
      15_000,
    );
    t.same(ids(stale), ids(nodeOne), 'stale, with the last findings');
    api.faults.clear();
    await waitFor(
      'the watch to recover',
      async () =>
        (await get('/api/v1/findings?node=node-1')).json<List>().stale ? undefined : true,
      30_000,
    );

    // An agent that lost its record is told its own node's objects, and no other node's.
    writeReportsOf(api, 'node-2', 'ClusterReport');
    // 503 while the Reports watch (recovering with the ClusterReports one) has not listed again.
    const own = async (token: string) => {
      const answer = await controller.post('/api/v1/reports/own', {}, token);
      if (answer.status === 503) return undefined;
      t.equal(answer.status, 200, 'own reports answered');
      return (
        JSON.parse(answer.body) as { reports: { kind: string; name: string; namespace?: string }[] }
      ).reports;
    };
    const nodeTwoToken = issueBoundToken(api, {
      namespace: 'pullwatch',
      serviceAccount: 'pullwatch-agent',
      pod: 'agent-2',
      node: 'node-2',
      audience: AUDIENCE,
    });
    const ownOne = await waitFor(
      "node-1's objects",
      async () => {
        const reports = await own(agentToken);
        return reports !== undefined && reports.length > 0 ? reports : undefined;
      },
      10_000,
    );
    t.same(ownOne, [
      {
        apiVersion: 'openreports.io/v1alpha1',
        kind: 'ClusterReport',
        name: 'pullwatch-node-node-1',
      },
      {
        apiVersion: 'openreports.io/v1alpha1',
        kind: 'Report',
        namespace: 'team-b',
        name: 'pullwatch-node-1',
      },
      {
        apiVersion: 'openreports.io/v1alpha1',
        kind: 'Report',
        namespace: 'team-c-dev',
        name: 'pullwatch-node-1',
      },
    ]);
    const ownTwo = await waitFor(
      "node-2's objects, written again",
      async () => {
        const reports = await own(nodeTwoToken);
        return reports?.some((r) => r.kind === 'ClusterReport') === true ? reports : undefined;
      },
      10_000,
    );
    t.ok(
      ownTwo.every((r) => r.name.includes('node-2')),
      "node-2's agent is told only node-2's objects",
    );
    const userAsks = await controller.post('/api/v1/reports/own', {}, SECURITY_TOKEN);
    t.equal(userAsks.status, 403, 'a person cannot ask as an agent');
    t.match(userAsks.body, /only the agent's service account/);
  },
);

// Reading the agents' reports into the cluster's findings: which objects are trusted, what the
// index answers, which objects an agent is told are its own, and when the API may serve.
import t from 'tap';
import { FINDINGS } from '../../test/kit/http/fake-view.ts';
import { findingJson, type FindingJson } from '../http/findings-json.ts';
import type { ListWatchStatus } from '../kube/list-watch.ts';
import { err, ok } from '../result.ts';
import {
  availabilityOf,
  indexFindings,
  reportsOfNode,
  watchReport,
  type DecodeClusterReport,
  type WatchedReport,
} from './cluster-findings.ts';
import { collectionsOf } from './report-collections.ts';

const { cluster, namespaced } = collectionsOf('openreports');
const wgCluster = collectionsOf('wgpolicy').cluster;

const onNode = (node: string) =>
  FINDINGS.map((f) => findingJson({ ...f, node, id: `${f.id}@${node}` }));

/** A stand-in for agent/reports/decode.ts: the findings ride in the object as they are. */
const decode: DecodeClusterReport = (object) => {
  const findings = (object as { findings?: unknown }).findings;
  return Array.isArray(findings) ? ok(findings as FindingJson[]) : err('no results to read');
};

function reportObject(
  name: string,
  options: { namespace?: string; node?: string; findings?: readonly FindingJson[] } = {},
) {
  return {
    metadata: {
      name,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      labels: {
        'app.kubernetes.io/managed-by': 'pullwatch',
        ...(options.node === undefined ? {} : { 'pullwatch.dev/node': options.node }),
      },
    },
    ...(options.findings === undefined ? {} : { findings: options.findings }),
  };
}

t.test('which report objects are read, and which are skipped with a reason', async (t) => {
  const cases: {
    name: string;
    object: unknown;
    collection: typeof cluster;
    expect: Partial<WatchedReport>;
    problem?: RegExp;
  }[] = [
    {
      name: "node-1's ClusterReport with its findings",
      object: reportObject('pullwatch-node-node-1', { node: 'node-1', findings: onNode('node-1') }),
      collection: cluster,
      expect: {
        ok: true,
        node: 'node-1',
        ref: {
          apiVersion: 'openreports.io/v1alpha1',
          kind: 'ClusterReport',
          name: 'pullwatch-node-node-1',
        },
        findings: onNode('node-1'),
      },
    },
    {
      name: "node-1's ClusterPolicyReport under --reports wgpolicy",
      object: reportObject('pullwatch-node-node-1', { node: 'node-1', findings: [] }),
      collection: wgCluster,
      expect: {
        ok: true,
        ref: {
          apiVersion: 'wgpolicyk8s.io/v1alpha2',
          kind: 'ClusterPolicyReport',
          name: 'pullwatch-node-node-1',
        },
      },
    },
    {
      name: "node-1's namespaced Report: a reference, no findings read",
      object: reportObject('pullwatch-node-1', { namespace: 'tenant-b', node: 'node-1' }),
      collection: namespaced,
      expect: {
        ok: true,
        ref: {
          apiVersion: 'openreports.io/v1alpha1',
          kind: 'Report',
          namespace: 'tenant-b',
          name: 'pullwatch-node-1',
        },
        findings: [],
      },
    },
    {
      name: 'a report without the node label',
      object: reportObject('pullwatch-node-node-1', { findings: [] }),
      collection: cluster,
      expect: { ok: false, name: 'pullwatch-node-node-1' },
      problem: /no pullwatch\.dev\/node label/,
    },
    {
      name: "a ClusterReport labeled node-2 under node-1's name",
      object: reportObject('pullwatch-node-node-1', { node: 'node-2', findings: [] }),
      collection: cluster,
      expect: { ok: false },
      problem: /must be named pullwatch-node-node-2/,
    },
    {
      name: "node-1's report holding a finding that claims node-2",
      object: reportObject('pullwatch-node-node-1', {
        node: 'node-1',
        findings: [...onNode('node-1'), ...onNode('node-2').slice(0, 1)],
      }),
      collection: cluster,
      expect: { ok: false },
      problem: /names node node-2, not the report's node-1/,
    },
    {
      name: 'a ClusterReport the decoder cannot read',
      object: reportObject('pullwatch-node-node-1', { node: 'node-1' }),
      collection: cluster,
      expect: { ok: false },
      problem: /no results to read/,
    },
    {
      name: 'a namespaced Report is named with its namespace',
      object: reportObject('other', { namespace: 'tenant-b', node: 'node-1' }),
      collection: namespaced,
      expect: { ok: false, name: 'tenant-b/other' },
      problem: /must be named pullwatch-node-1/,
    },
    { name: 'not an object at all', object: 'junk', collection: cluster, expect: { ok: false } },
  ];
  for (const c of cases) {
    const report = watchReport(c.object, c.collection, decode);
    t.match(report, c.expect, c.name);
    if (c.problem !== undefined) t.match(!report.ok && report.problem, c.problem, `${c.name}: why`);
  }
});

t.test(
  'the index answers for every node, by id and with the tenants the agents mapped',
  async (t) => {
    const reports = ['node-1', 'node-2'].map((node) =>
      watchReport(
        reportObject(`pullwatch-node-${node}`, { node, findings: onNode(node) }),
        cluster,
        decode,
      ),
    );
    const skipped = watchReport(
      reportObject('x', { node: 'node-3', findings: onNode('node-3') }),
      cluster,
      decode,
    );
    const index = indexFindings([...reports, skipped]);
    t.equal(index.findings.length, 2 * FINDINGS.length, 'both nodes, not the skipped report');
    t.equal(index.finding('f-exposed@node-2')?.node, 'node-2');
    t.equal(index.finding('f-exposed@node-3'), undefined, 'nothing of a skipped report');
    t.equal(index.tenantOf('team-c-dev'), 'team-c', "a namespace's tenant as the agents named it");
    t.equal(indexFindings([]).findings.length, 0, 'no reports, no findings');
  },
);

t.test("an agent is told its own node's objects of both kinds, and only those", async (t) => {
  const reports = [
    watchReport(
      reportObject('pullwatch-node-node-1', { node: 'node-1', findings: [] }),
      cluster,
      decode,
    ),
    watchReport(
      reportObject('pullwatch-node-node-2', { node: 'node-2', findings: [] }),
      cluster,
      decode,
    ),
    watchReport(
      reportObject('pullwatch-node-1', { namespace: 'tenant-b', node: 'node-1' }),
      namespaced,
    ),
    watchReport(
      reportObject('pullwatch-node-1', { namespace: 'tenant-a', node: 'node-1' }),
      namespaced,
    ),
    watchReport(
      reportObject('pullwatch-node-2', { namespace: 'tenant-a', node: 'node-2' }),
      namespaced,
    ),
  ];
  t.same(reportsOfNode('node-1', reports), [
    { apiVersion: 'openreports.io/v1alpha1', kind: 'ClusterReport', name: 'pullwatch-node-node-1' },
    {
      apiVersion: 'openreports.io/v1alpha1',
      kind: 'Report',
      namespace: 'tenant-a',
      name: 'pullwatch-node-1',
    },
    {
      apiVersion: 'openreports.io/v1alpha1',
      kind: 'Report',
      namespace: 'tenant-b',
      name: 'pullwatch-node-1',
    },
  ]);
  t.same(reportsOfNode('node-9', reports), [], 'a node that wrote nothing owns nothing');
});

t.test('when the findings API may serve, and what it says when it may not', async (t) => {
  const status = (s: Partial<ListWatchStatus>): ListWatchStatus => ({
    synced: false,
    up: false,
    lastSync: undefined,
    lastError: undefined,
    relists: 0,
    watchRestarts: 0,
    ...s,
  });
  const cases = [
    {
      name: 'listed, watching',
      status: status({ synced: true, up: true }),
      crd: 'installed',
      expect: { serving: true, stale: false },
    },
    {
      name: 'listed once, the watch down since',
      status: status({ synced: true, up: false, lastError: 'watch: connect ECONNREFUSED' }),
      crd: 'installed',
      expect: { serving: true, stale: true },
    },
    {
      name: 'never listed: the CRD is not installed',
      status: status({ lastError: 'list: HTTP 404 NotFound' }),
      crd: 'missing',
      expect: {
        serving: false,
        reason: /ClusterReport CRD \(clusterreports\.openreports\.io\/v1alpha1\) is not installed/,
      },
    },
    {
      name: 'never listed: the API server is away',
      status: status({ lastError: 'list: connect ECONNREFUSED' }),
      crd: 'unknown',
      expect: {
        serving: false,
        reason: /waiting for the first list of clusterreports.*ECONNREFUSED/,
      },
    },
    {
      name: 'starting',
      status: status({}),
      crd: 'unknown',
      expect: {
        serving: false,
        reason: /^waiting for the first list of clusterreports\.openreports\.io\/v1alpha1$/,
      },
    },
  ] as const;
  for (const c of cases) t.match(availabilityOf(c.status, c.crd, cluster), c.expect, c.name);
});

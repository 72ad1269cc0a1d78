// The report objects pullwatch writes, built from findings that detect() made out of
// snapshots: the seed story, and a node where many tenants' images meet. Each namespaced Report
// is read by its namespace's tenant, so nothing in it may name another tenant; the node's
// ClusterReport, for admins, names the owners. Every object is checked against the OpenReports
// CRD schema from ../shared.
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import t from 'tap';
import { parse } from 'yaml';
import { detect } from '../detect/detect.ts';
import type { DetectedFinding, Finding } from '../detect/finding.ts';
import { findingJson } from '../http/findings-json.ts';
import type { SnapshotParts } from '../../test/kit/snapshot-builder.ts';
import {
  cachedImage,
  container,
  credential,
  MINUTE,
  owner,
  seedStoryParts,
  pod,
  secret,
  snapshotOf,
  T0,
} from '../../test/kit/snapshot-builder.ts';
import { openReportsCrdsPresent, openReportsDir } from '../../test/kit/report-crds.ts';
import { findingsOfClusterReport } from './decode.ts';
import type { ReportObject } from './desired.ts';
import {
  capResults,
  desiredReports,
  MAX_RESULT_BYTES_PER_REPORT,
  RESULTS_CAPPED_RULE,
  stampWrittenAt,
} from './desired.ts';
import type { ReportResult } from './results.ts';
import { clusterResult, namespacedResult } from './results.ts';

const REG = 'registry.example.com';
const NAME = `${REG}/team-a/super-secret-image-1`;
const IMAGE = `${NAME}:v1`;
const NODE = 'node-1';
const NODE_UID = 'b6f1c0de-node-1';
const FIRST_SEEN = '2026-11-01T00:10:00.250Z';
const LAST_SEEN = '2026-11-01T02:00:00.000Z';

const seedStory: SnapshotParts = { ...seedStoryParts(), node: NODE };

// Two private images of two teams (one of them under a tenant label spanning two namespaces),
// a guessed owner, and four other namespaces whose pods run them from the cache, some in init
// and ephemeral containers, some in more than one pod.
const ANALYTICS = `${REG}/analytics/warehouse-loader:2.1`;
const ANALYTICS_NAME = `${REG}/analytics/warehouse-loader`;
const VAULT = `${REG}/platform-security/vault-agent:1.15`;
const VAULT_NAME = `${REG}/platform-security/vault-agent`;
const manyTenants: SnapshotParts = {
  node: NODE,
  images: [
    cachedImage('analytics', { tags: [ANALYTICS], digestRepos: [ANALYTICS_NAME] }),
    cachedImage('vault', { tags: [VAULT], digestRepos: [VAULT_NAME] }),
  ],
  pods: [
    pod('analytics-prod', 'loader-5d8b', [container(ANALYTICS)], {
      pullSecrets: ['analytics-registry'],
      createdAt: T0 - MINUTE,
    }),
    pod('sec-platform', 'vault-0', [container(VAULT, { name: 'vault' })], {
      pullSecrets: ['secops-pull'],
      createdAt: T0 - MINUTE,
    }),
    pod('retail-web', 'storefront-1', [
      container(ANALYTICS, { name: 'migrate', kind: 'init' }),
      container(VAULT, { name: 'sidecar' }),
    ]),
    pod('retail-web', 'storefront-2', [container(VAULT, { name: 'sidecar' })]),
    pod('data-science', 'jupyter-7', [container(ANALYTICS, { name: 'probe', kind: 'ephemeral' })]),
    pod('intern-sandbox', 'scratch', [container('docker.io/library/busybox:1.36')]),
  ],
  secrets: [
    secret('analytics-prod', 'analytics-registry', [credential(REG, 'ana')]),
    secret('sec-platform', 'secops-pull', [credential(REG, 'sec')]),
  ],
  provenance: [
    {
      seed: 'analytics',
      owners: [
        owner('analytics-prod', 'analytics-registry', 'ana', { tenant: 'acme-analytics' }),
        owner('data-lake', undefined, undefined, { source: 'unverified-bootstrap' }),
      ],
      cachedSince: T0,
    },
    { seed: 'vault', owners: [owner('sec-platform', 'secops-pull', 'sec')], cachedSince: T0 },
  ],
  namespaceLabels: { 'analytics-prod': { 'example.com/tenant': 'acme-analytics' } },
  tenantLabel: 'example.com/tenant',
  visibility: { [ANALYTICS_NAME]: 'private', [VAULT_NAME]: 'private' },
};

function findingsOf(
  parts: SnapshotParts,
  times = { firstSeen: FIRST_SEEN, lastSeen: LAST_SEEN },
): Finding[] {
  return detect(snapshotOf(parts)).map((f: DetectedFinding) => ({ ...f, ...times }));
}

function reportsOf(parts: SnapshotParts, flavor: 'openreports' | 'wgpolicy' = 'openreports') {
  return desiredReports({ flavor, node: NODE, nodeUid: NODE_UID, findings: findingsOf(parts) });
}

/** Every name of the cluster that is not the report's own namespace's, as the story has them. */
function foreignStrings(
  parts: SnapshotParts,
  namespace: string,
  findings: readonly Finding[],
): string[] {
  const strings = new Set<string>();
  for (const f of findings) {
    if (f.rule === 'always-pull-images-not-enforced') continue;
    const owners =
      f.rule === 'unauthorized-cached-image-use' ? [...f.owners, ...f.possibleOwners] : f.owners;
    for (const o of owners) {
      strings.add(o.tenant);
      strings.add(o.namespace);
      if (o.secret !== null) strings.add(o.secret);
    }
  }
  for (const p of parts.pods) {
    if (p.namespace === namespace) continue;
    strings.add(p.namespace);
    strings.add(p.name);
    strings.add(p.uid);
    for (const s of p.pullSecretNames) strings.add(s);
  }
  for (const s of parts.secrets ?? []) if (s.namespace !== namespace) strings.add(s.name);
  strings.delete(namespace);
  return [...strings];
}

const stories = [
  {
    name: 'the seed story',
    parts: seedStory,
    namespaces: ['tenant-b'],
  },
  {
    name: 'six namespaces sharing one node',
    parts: manyTenants,
    namespaces: ['data-science', 'retail-web'],
  },
];

for (const story of stories) {
  t.test(`${story.name}: no namespaced Report names another tenant`, async (t) => {
    const findings = findingsOf(story.parts);
    const objects = reportsOf(story.parts);
    const namespaced = objects.filter((o) => o.metadata.namespace !== undefined);
    t.same(
      namespaced.map((o) => o.metadata.namespace),
      story.namespaces,
      'one Report per namespace with a flagged pod',
    );
    for (const report of namespaced) {
      const namespace = report.metadata.namespace ?? '';
      const text = JSON.stringify(report);
      const foreign = foreignStrings(story.parts, namespace, findings);
      t.ok(foreign.length > 0, 'the story has other tenants to hide');
      for (const other of foreign)
        t.notOk(text.includes(other), `${namespace}'s Report does not contain "${other}"`);
    }
    // The ClusterReport does name them: the test would notice if the builders mixed up.
    const cluster = objects.find((o) => o.metadata.namespace === undefined);
    const owners = findings.flatMap((f) =>
      f.rule === 'always-pull-images-not-enforced' ? [] : f.owners,
    );
    t.ok(owners.length > 0);
    for (const o of owners)
      t.ok(
        JSON.stringify(cluster).includes(`"${o.namespace}"`),
        `the ClusterReport names ${o.namespace}`,
      );
  });
}

t.test('the seed story: tenant-b Report and the node ClusterReport', async (t) => {
  const [report, cluster, ...rest] = reportsOf(seedStory);
  t.equal(rest.length, 0, 'two objects');
  const labels = { 'app.kubernetes.io/managed-by': 'pullwatch', 'pullwatch.dev/node': NODE };
  const ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: NODE_UID }];
  const [use] = findingsOf(seedStory).filter((f) => f.rule === 'unauthorized-cached-image-use');
  t.strictSame(report, {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    metadata: { name: 'pullwatch-node-1', namespace: 'tenant-b', labels, ownerReferences },
    summary: { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 },
    results: [
      {
        source: 'pullwatch',
        policy: 'unauthorized-cached-image-use',
        rule: 'unauthorized-cached-image-use',
        category: 'Multi-Tenancy',
        severity: 'critical',
        result: 'fail',
        scored: true,
        timestamp: { seconds: Date.parse(FIRST_SEEN) / 1000 - 0.25, nanos: 250_000_000 },
        resources: [
          {
            apiVersion: 'v1',
            kind: 'Pod',
            namespace: 'tenant-b',
            name: 'admin2-pod',
            uid: 'uid-tenant-b-admin2-pod',
          },
        ],
        message:
          `Container app runs ${IMAGE} from the image cache of node node-1. The image is private and was ` +
          `pulled onto the node with credentials this namespace does not hold; the kubelet started it ` +
          `without checking this pod's own credentials.`,
        properties: {
          findingId: use?.id,
          confidence: 'confirmed',
          node: NODE,
          container: 'app',
          containerKind: 'regular',
          image: IMAGE,
          imageId: use?.imageId,
          registry: REG,
          repository: 'team-a/super-secret-image-1',
          pullPolicy: 'IfNotPresent',
        },
      },
    ],
  });
  t.match(cluster, {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'ClusterReport',
    metadata: { name: 'pullwatch-node-node-1', labels, ownerReferences },
    scope: { apiVersion: 'v1', kind: 'Node', name: NODE, uid: NODE_UID },
    summary: { fail: 3 },
  });
  t.notOk(cluster !== undefined && 'namespace' in cluster.metadata, 'cluster-scoped');
  t.same(
    cluster?.results.map((r) => [r.rule, r.severity]),
    [
      ['unauthorized-cached-image-use', 'critical'],
      ['private-image-exposed', 'medium'],
      ['always-pull-images-not-enforced', 'low'],
    ],
    'most severe first',
  );
  t.match(cluster?.results[0], {
    message:
      /^Pod tenant-b\/admin2-pod \(container app\) runs .* credentials of tenant-a \(secret tenant-a\/image-pull-secret-1\)\.$/,
    properties: {
      'owners.0.tenant': 'tenant-a',
      'owners.0.namespace': 'tenant-a',
      'owners.0.secret': 'image-pull-secret-1',
    },
  });
});

t.test(
  'decoding the seed story ClusterReport gives the agent finding JSON, text for text',
  async (t) => {
    const findings = findingsOf(seedStory, { firstSeen: FIRST_SEEN, lastSeen: LAST_SEEN });
    const cluster = reportsOf(seedStory).find((o) => o.kind === 'ClusterReport');
    if (cluster === undefined) throw new Error('the seed story has a ClusterReport');
    const decoded = findingsOfClusterReport(
      JSON.parse(JSON.stringify(stampWrittenAt(cluster, LAST_SEEN))),
    );
    if (!decoded.ok) throw new Error(decoded.error);
    const expected = findings.map(findingJson).sort((a, b) => (a.id < b.id ? -1 : 1));
    const got = [...decoded.value].sort((a, b) => (a.id < b.id ? -1 : 1));
    t.equal(
      JSON.stringify(got),
      JSON.stringify(expected),
      'the same text, fields in the same order',
    );
  },
);

t.test("a result's resources hold the pod and, when known, its workload", async (t) => {
  const replicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    namespace: 'tenant-b',
    name: 'admin2-7d4b9',
    uid: 'uid-rs',
  };
  const objects = desiredReports({
    flavor: 'openreports',
    node: NODE,
    nodeUid: NODE_UID,
    findings: findingsOf(seedStory),
    workloadOf: ({ podUid }) => (podUid === 'uid-tenant-b-admin2-pod' ? replicaSet : undefined),
  });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: 'tenant-b',
    name: 'admin2-pod',
    uid: 'uid-tenant-b-admin2-pod',
  };
  for (const object of objects) {
    const uses = object.results.filter((r) => r.rule === 'unauthorized-cached-image-use');
    t.equal(uses.length, 1);
    t.strictSame(uses[0]?.resources, [pod, replicaSet], `in the ${object.kind}`);
  }
});

t.test('a report changes only when its findings do, not with every reconcile', async (t) => {
  const first = reportsOf(seedStory);
  const later = desiredReports({
    flavor: 'openreports',
    node: NODE,
    nodeUid: NODE_UID,
    findings: findingsOf(seedStory, {
      firstSeen: FIRST_SEEN,
      lastSeen: '2026-11-02T00:00:00.000Z',
    }).reverse(),
  });
  t.strictSame(later, first, 'a later lastSeen and another order give the same objects');
});

t.test('a node without findings calls for no report', async (t) => {
  t.same(
    desiredReports({ flavor: 'openreports', node: NODE, nodeUid: NODE_UID, findings: [] }),
    [],
  );
});

t.test(
  '--reports wgpolicy: PolicyReport and ClusterPolicyReport with the same names',
  async (t) => {
    t.same(
      reportsOf(seedStory, 'wgpolicy').map((o) => [
        o.apiVersion,
        o.kind,
        o.metadata.namespace,
        o.metadata.name,
      ]),
      [
        ['wgpolicyk8s.io/v1alpha2', 'PolicyReport', 'tenant-b', 'pullwatch-node-1'],
        ['wgpolicyk8s.io/v1alpha2', 'ClusterPolicyReport', undefined, 'pullwatch-node-node-1'],
      ],
    );
  },
);

t.test('every object validates against the OpenReports CRD schema', async (t) => {
  if (!(await openReportsCrdsPresent())) {
    if (process.env.CI === 'true') throw new Error('../shared/reference/openreports is missing');
    t.comment('skipped: ../shared/reference/openreports is not on this machine');
    return;
  }
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { int32: true, int64: true } });
  const validators = new Map<string, ReturnType<Ajv['compile']>>();
  for (const [kind, file] of [
    ['Report', 'openreports.io_reports.yaml'],
    ['ClusterReport', 'openreports.io_clusterreports.yaml'],
  ] as const) {
    const crd = parse(await readFile(`${openReportsDir}${file}`, 'utf8')) as {
      spec: { versions: { schema: { openAPIV3Schema: object } }[] };
    };
    const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
    if (schema === undefined) throw new Error(`${file} has no schema`);
    validators.set(kind, ajv.compile(schema));
  }
  const capped = capResults(
    findingsOf(manyTenants).map((f) => clusterResult(f)),
    NODE,
    { count: 2, bytes: MAX_RESULT_BYTES_PER_REPORT },
  );
  const seedCluster = reportsOf(seedStory).find((o) => o.kind === 'ClusterReport');
  if (seedCluster === undefined) throw new Error('the seed story has a ClusterReport');
  const objects: ReportObject[] = [
    ...reportsOf(seedStory),
    ...reportsOf(manyTenants),
    { ...seedCluster, results: capped },
  ];
  for (const object of objects) {
    const validate = validators.get(object.kind);
    const stamped = JSON.parse(JSON.stringify(stampWrittenAt(object, LAST_SEEN))) as unknown;
    t.ok(
      validate?.(stamped),
      `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`,
      {
        errors: validate?.errors,
      },
    );
  }
});

/** An unauthorized use as large as Kubernetes names allow, with twenty owners. */
function worstCaseUse(index: number): Finding {
  const long = (c: string) => c.repeat(253);
  const [seed] = findingsOf(seedStory).filter((f) => f.rule === 'unauthorized-cached-image-use');
  if (seed?.rule !== 'unauthorized-cached-image-use') throw new Error('the seed story flags a pod');
  const owners = Array.from({ length: 20 }, (_, i) => ({
    tenant: seed.tenant,
    namespace: `${long('o').slice(0, 60)}-${i}`,
    secret: long('s'),
  }));
  return {
    ...seed,
    id: `${seed.id.slice(0, 14)}${String(index).padStart(6, '0')}`,
    namespace: long('n').slice(0, 63),
    pod: long('p'),
    container: long('c').slice(0, 63),
    image: `${REG}/${long('i')}/${long('j')}:${'t'.repeat(128)}`.slice(0, 512),
    owners,
    possibleOwners: owners.slice(0, 5),
    evidence: [...seed.evidence, ...seed.evidence].map((line) => `${line} ${long('e')}`),
  };
}

t.test('a worst-case result, and what the cap leaves of 2,000 of them', async (t) => {
  const worst = worstCaseUse(0);
  const clusterBytes = Buffer.byteLength(JSON.stringify(clusterResult(worst)));
  const namespacedBytes =
    worst.rule === 'unauthorized-cached-image-use'
      ? Buffer.byteLength(JSON.stringify(namespacedResult(worst)))
      : 0;
  t.comment(
    `worst-case result: ${clusterBytes} bytes in a ClusterReport, ${namespacedBytes} in a Report`,
  );
  t.ok(clusterBytes < 32_000, 'a worst-case result is some tens of kilobytes');

  const many = Array.from({ length: 2000 }, (_, i) => worstCaseUse(i));
  const [cluster] = desiredReports({
    flavor: 'openreports',
    node: NODE,
    nodeUid: NODE_UID,
    findings: many,
  }).filter((o) => o.kind === 'ClusterReport');
  if (cluster === undefined) throw new Error('findings make a ClusterReport');
  const size = Buffer.byteLength(JSON.stringify(stampWrittenAt(cluster, LAST_SEEN)));
  t.comment(
    `ClusterReport of 2,000 worst-case findings: ${cluster.results.length - 1} results kept, ${size} bytes`,
  );
  t.ok(size < 1.5 * 1024 * 1024, 'the object stays under etcd 1.5 MiB');
  const summary = cluster.results.at(-1);
  t.match(summary, {
    rule: RESULTS_CAPPED_RULE,
    result: 'warn',
    severity: 'info',
    properties: { omitted: String(2000 - (cluster.results.length - 1)) },
  });
  t.match(cluster.summary, { fail: cluster.results.length - 1, warn: 1 });
});

const result = (severity: ReportResult['severity'], id: string): ReportResult => ({
  source: 'pullwatch',
  policy: 'unauthorized-cached-image-use',
  rule: 'unauthorized-cached-image-use',
  category: 'Multi-Tenancy',
  severity,
  result: 'fail',
  scored: true,
  timestamp: { seconds: 0, nanos: 0 },
  message: id,
  properties: { findingId: id },
});

const capCases: readonly {
  readonly name: string;
  readonly results: readonly ReportResult[];
  readonly limits: { count: number; bytes: number };
  readonly kept: readonly string[];
  readonly omitted?: number;
}[] = [
  {
    name: 'under both caps: every result, no summary',
    results: [result('critical', 'a'), result('low', 'b')],
    limits: { count: 2, bytes: 10_000 },
    kept: ['a', 'b'],
  },
  {
    name: 'over the count: the first (most severe) results and a summary of the rest',
    results: [result('critical', 'a'), result('high', 'b'), result('low', 'c')],
    limits: { count: 1, bytes: 10_000 },
    kept: ['a'],
    omitted: 2,
  },
  {
    name: 'over the bytes: as many as fit',
    results: [result('critical', 'a'), result('high', 'b'), result('low', 'c')],
    limits: { count: 100, bytes: 2 * (JSON.stringify(result('critical', 'a')).length + 1) },
    kept: ['a', 'b'],
    omitted: 1,
  },
];

for (const c of capCases) {
  t.test(`cap: ${c.name}`, async (t) => {
    const capped = capResults(c.results, NODE, c.limits);
    const kept = capped.filter((r) => r.rule !== RESULTS_CAPPED_RULE);
    t.same(
      kept.map((r) => r.message),
      c.kept,
    );
    const summary = capped.find((r) => r.rule === RESULTS_CAPPED_RULE);
    if (c.omitted === undefined) t.equal(summary, undefined, 'no summary');
    else {
      t.equal(summary?.properties['omitted'], String(c.omitted));
      t.match(summary?.message, new RegExp(`^${c.omitted} more results? (is|are) left out`));
      t.equal(capped.at(-1), summary, 'the summary comes last');
    }
  });
}

// What the decoder makes of ClusterReports it did not write, or that were changed: an error
// naming why, never a throw and never a made-up finding.
import t from 'tap';
import { findingsOfClusterReport } from './decode.ts';

const finding = {
  source: 'pullwatch',
  policy: 'always-pull-images-not-enforced',
  rule: 'always-pull-images-not-enforced',
  severity: 'low',
  result: 'fail',
  timestamp: { seconds: 1_800_000_000, nanos: 123_000_000 },
  properties: {
    findingId: 'f1',
    confidence: 'confirmed',
    node: 'node-1',
    'containersByPolicy.Always': '1',
    'containersByPolicy.IfNotPresent': '2',
    'containersByPolicy.Never': '0',
    'evidence.0': 'two containers may start from the cache',
    remediation: 'enable AlwaysPullImages',
  },
};

const report = (results: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'openreports.io/v1alpha1',
  kind: 'ClusterReport',
  metadata: {
    name: 'pullwatch-node-node-1',
    annotations: { 'pullwatch.dev/written-at': '2027-01-15T08:00:00.000Z' },
  },
  results,
  ...extra,
});

const cases: readonly {
  readonly name: string;
  readonly object: unknown;
  readonly findings?: readonly object[];
  readonly error?: RegExp;
}[] = [
  {
    name: 'a node finding, seen first at its timestamp and last when the report was written',
    object: report([finding]),
    findings: [
      {
        rule: 'always-pull-images-not-enforced',
        id: 'f1',
        severity: 'low',
        confidence: 'confirmed',
        node: 'node-1',
        containersByPolicy: { Always: 1, IfNotPresent: 2, Never: 0 },
        evidence: ['two containers may start from the cache'],
        remediation: 'enable AlwaysPullImages',
        firstSeen: '2027-01-15T08:00:00.123Z',
        lastSeen: '2027-01-15T08:00:00.000Z',
        image: null,
        owners: [],
      },
    ],
  },
  {
    name: 'a ClusterPolicyReport (wgpolicyk8s.io) reads the same',
    object: {
      ...report([finding]),
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'ClusterPolicyReport',
    },
    findings: [{ id: 'f1' }],
  },
  {
    name: 'without the written-at annotation, lastSeen is the first-seen time',
    object: { ...report([finding]), metadata: { name: 'pullwatch-node-node-1' } },
    findings: [{ id: 'f1', lastSeen: '2027-01-15T08:00:00.123Z' }],
  },
  {
    name: 'results of other sources and the capped-results summary are no findings',
    object: report([
      { ...finding, source: 'kyverno' },
      {
        source: 'pullwatch',
        policy: 'results-capped',
        rule: 'results-capped',
        properties: { omitted: '3' },
      },
      finding,
    ]),
    findings: [{ id: 'f1' }],
  },
  { name: 'a report without results holds no findings', object: report([]), findings: [] },
  { name: 'not an object', object: 'ClusterReport', error: /not a report object/ },
  {
    name: 'a namespaced Report',
    object: { ...report([finding]), kind: 'Report' },
    error: /Report is not a cluster report kind/,
  },
  {
    name: 'an unknown rule',
    object: report([{ ...finding, rule: 'no-such-rule' }]),
    error: /results\[0\]: rule no-such-rule is not a pullwatch rule/,
  },
  {
    name: 'a severity off pullwatch scale',
    object: report([{ ...finding, severity: 'info' }]),
    error: /severity info is unknown/,
  },
  {
    name: 'a missing property',
    object: report([{ ...finding, properties: { ...finding.properties, remediation: undefined } }]),
    error: /results\[0\]/,
  },
  {
    name: 'a count that is no count',
    object: report([
      { ...finding, properties: { ...finding.properties, 'containersByPolicy.Never': '-1' } },
    ]),
    error: /property containersByPolicy.Never is not a count/,
  },
  {
    name: 'a confidence off the scale',
    object: report([{ ...finding, properties: { ...finding.properties, confidence: 'sure' } }]),
    error: /property confidence is not one of possible, likely, confirmed/,
  },
  {
    name: 'no timestamp',
    object: report([{ ...finding, timestamp: undefined }]),
    error: /results\[0\] has no timestamp/,
  },
  {
    name: 'a timestamp no date holds',
    object: report([{ ...finding, timestamp: { seconds: 1e15, nanos: 0 } }]),
    error: /out of range/,
  },
  {
    name: 'a result that is not an object',
    object: report([42]),
    error: /results\[0\] is not a report result/,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const decoded = findingsOfClusterReport(JSON.parse(JSON.stringify(c.object)) as unknown);
    if (c.error !== undefined) {
      t.notOk(decoded.ok, 'refused');
      if (!decoded.ok) t.match(decoded.error, c.error);
      return;
    }
    if (!decoded.ok) throw new Error(decoded.error);
    t.match(decoded.value, c.findings);
    t.equal(decoded.value.length, c.findings?.length);
  });
}

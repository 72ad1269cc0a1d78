// The controller's cluster API is built from ClusterReports alone: whatever findings an agent
// holds, decoding the ClusterReport it writes gives back exactly the finding JSON the agent
// serves (lastSeen being the time the report was written).
import fc from 'fast-check';
import t from 'tap';
import type { Finding, OwnerRef } from '../detect/finding.ts';
import { CONFIDENCES, SEVERITIES } from '../detect/finding.ts';
import { findingJson } from '../http/findings-json.ts';
import type { TenantId } from '../model/snapshot.ts';
import { findingsOfClusterReport } from './decode.ts';
import { desiredReports, stampWrittenAt } from './desired.ts';
import { REPORT_FLAVORS } from './kinds.ts';

const text = fc.string({ maxLength: 30 });
const time = fc
  .integer({ min: Date.parse('1970-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59.999Z') })
  .map((ms) => new Date(ms).toISOString());
const owner: fc.Arbitrary<OwnerRef> = fc.record({
  tenant: text.map((s) => s as TenantId),
  namespace: text,
  secret: fc.option(text, { nil: null }),
});
const base = {
  id: fc.string({
    unit: fc.constantFrom(...'0123456789abcdef'.split('')),
    minLength: 20,
    maxLength: 20,
  }),
  severity: fc.constantFrom(...SEVERITIES),
  confidence: fc.constantFrom(...CONFIDENCES),
  evidence: fc.array(text, { maxLength: 4 }),
  remediation: text,
  firstSeen: time,
};
const image = {
  image: text,
  imageId: text,
  repoDigest: fc.option(text, { nil: null }),
  registry: text,
  repository: text,
  owners: fc.array(owner, { maxLength: 3 }),
};
const pullPolicy = fc.constantFrom('Always', 'IfNotPresent', 'Never' as const);

function findings(node: string, lastSeen: string): fc.Arbitrary<Finding[]> {
  const use = fc.record({
    rule: fc.constant('unauthorized-cached-image-use' as const),
    ...base,
    tenant: text.map((s) => s as TenantId),
    namespace: text,
    pod: text,
    podUid: text,
    container: text,
    containerKind: fc.constantFrom('init', 'regular', 'ephemeral' as const),
    ...image,
    pullPolicy,
    possibleOwners: fc.array(owner, { maxLength: 2 }),
  });
  const exposed = fc.record({
    rule: fc.constant('private-image-exposed' as const),
    ...base,
    ...image,
    exposedTenants: fc.array(
      text.map((s) => s as TenantId),
      { maxLength: 3 },
    ),
  });
  const alwaysPull = fc.record({
    rule: fc.constant('always-pull-images-not-enforced' as const),
    ...base,
    containersByPolicy: fc.record({
      Always: fc.nat(),
      IfNotPresent: fc.nat(),
      Never: fc.nat(),
    }),
  });
  return fc
    .array(fc.oneof(use, exposed, alwaysPull), { maxLength: 8 })
    .map((list) => list.map((f) => ({ ...f, node, lastSeen })));
}

t.test('decoding a ClusterReport gives back the findings it was built from', async (t) => {
  const node = 'node-1';
  fc.assert(
    fc.property(
      fc.constantFrom(...REPORT_FLAVORS),
      time.chain((lastSeen) => fc.tuple(fc.constant(lastSeen), findings(node, lastSeen))),
      (flavor, [lastSeen, list]) => {
        const objects = desiredReports({ flavor, node, nodeUid: 'uid-node-1', findings: list });
        const cluster = objects.find((o) => o.metadata.namespace === undefined);
        if (list.length === 0) return cluster === undefined;
        if (cluster === undefined) return false;
        const decoded = findingsOfClusterReport(
          JSON.parse(JSON.stringify(stampWrittenAt(cluster, lastSeen))),
        );
        if (!decoded.ok) throw new Error(decoded.error);
        const byId = (a: { id: string }, b: { id: string }) =>
          a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
        const got = [...decoded.value].sort(byId);
        // Through JSON, as the API serves it (fast-check may make null-prototype records).
        const expected = (JSON.parse(JSON.stringify(list.map(findingJson))) as typeof got).sort(
          byId,
        );
        // Deep equality: the order of fields is pinned on detect()'s findings (desired.test.ts).
        t.strictSame(got, expected);
        return true;
      },
    ),
    { numRuns: 300 },
  );
});

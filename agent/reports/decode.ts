// A node's ClusterReport (or ClusterPolicyReport) read back into the findings its agent serves:
// what the controller's cluster API is built from. Each pullwatch result carries its finding
// in `properties` (finding-properties.ts), its rule and severity in the result's own fields
// and its first-seen time as `timestamp`. lastSeen is the time the agent last wrote the report
// (annotation pullwatch.dev/written-at): the agent rewrites a report whenever its findings
// change and deletes it when they are gone, so every finding in a standing report was seen
// then and still holds. Never throws: what cannot be read is an error naming why.
import { z } from 'zod';
import type { FindingJson } from '../http/findings-json.ts';
import { findingJson } from '../http/findings-json.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import { RESULTS_CAPPED_RULE, WRITTEN_AT_ANNOTATION } from './desired.ts';
import { findingOfProperties } from './finding-properties.ts';
import { REPORT_KINDS } from './kinds.ts';
import { isoOfTimestamp, SOURCE } from './results.ts';

const CLUSTER_KINDS = new Set(
  Object.values(REPORT_KINDS).map((k) => `${k.apiVersion}/${k.cluster.kind}`),
);

const resultShape = z.object({
  source: z.string().optional(),
  rule: z.string().optional(),
  severity: z.string().optional(),
  timestamp: z
    .object({ seconds: z.number().int(), nanos: z.number().int().min(0).max(999_999_999) })
    .optional(),
  properties: z.record(z.string(), z.string()).optional(),
});

const reportShape = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.object({
    name: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  results: z.array(z.unknown()).optional(),
});

function isTime(text: string | undefined): text is string {
  return text !== undefined && !Number.isNaN(Date.parse(text));
}

/** The findings a ClusterReport holds (none from results of other sources), or why not. */
export function findingsOfClusterReport(obj: unknown): Result<readonly FindingJson[], string> {
  const report = reportShape.safeParse(obj);
  if (!report.success) return err('not a report object');
  const { apiVersion, kind, metadata, results = [] } = report.data;
  if (!CLUSTER_KINDS.has(`${apiVersion}/${kind}`))
    return err(`${apiVersion} ${kind} is not a cluster report kind pullwatch writes`);
  const writtenAt = metadata.annotations?.[WRITTEN_AT_ANNOTATION];
  const findings: FindingJson[] = [];
  for (const [index, raw] of results.entries()) {
    const parsed = resultShape.safeParse(raw);
    if (!parsed.success) return err(`results[${index}] is not a report result`);
    const result = parsed.data;
    if (result.source !== SOURCE || result.rule === RESULTS_CAPPED_RULE) continue;
    if (result.timestamp === undefined) return err(`results[${index}] has no timestamp`);
    const firstSeen = isoOfTimestamp(result.timestamp);
    if (firstSeen === undefined) return err(`results[${index}] has a timestamp out of range`);
    const finding = findingOfProperties(result.properties ?? {}, {
      rule: result.rule ?? '',
      severity: result.severity ?? '',
      firstSeen,
      lastSeen: isTime(writtenAt) ? writtenAt : firstSeen,
    });
    if (!finding.ok) return err(`results[${index}]: ${finding.error}`);
    findings.push(findingJson(finding.value));
  }
  return ok(findings);
}

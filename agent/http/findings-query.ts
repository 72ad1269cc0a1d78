// GET /api/v1/findings: which findings a query selects, and in what order. Pure functions over
// the view's findings, so the filter table tests need no server.
import type { Confidence, Finding, Rule, Severity } from '../detect/finding.ts';
import { CONFIDENCES, RULES, SEVERITIES, placeOf, severityRank } from '../detect/finding.ts';
import type { Result } from '../result.ts';
import { ok } from '../result.ts';
import type { ParameterError } from './query.ts';
import { oneOf, parseQuery } from './query.ts';

export const FINDINGS_PARAMETERS = [
  'namespace',
  'tenant',
  'rule',
  'severity',
  'confidence',
] as const;

export interface FindingsFilter {
  readonly namespace?: string;
  readonly tenant?: string;
  readonly rule?: Rule;
  /** At least this severe. */
  readonly severity?: Severity;
  /** At least this certain. */
  readonly confidence?: Confidence;
}

export function parseFindingsFilter(query: string): Result<FindingsFilter, ParameterError> {
  const parsed = parseQuery(query, FINDINGS_PARAMETERS);
  return parsed.ok ? findingsFilterOf(parsed.value) : parsed;
}

/**
 * The filter named by parsed query parameters; parameters it does not know are the caller's
 * (the controller's cluster API adds `node`).
 */
export function findingsFilterOf(
  params: ReadonlyMap<string, string>,
): Result<FindingsFilter, ParameterError> {
  const namespace = params.get('namespace');
  const tenant = params.get('tenant');
  const ruleText = params.get('rule');
  const severityText = params.get('severity');
  const confidenceText = params.get('confidence');
  const rule = ruleText === undefined ? undefined : oneOf('rule', ruleText, RULES);
  if (rule && !rule.ok) return rule;
  const severity =
    severityText === undefined ? undefined : oneOf('severity', severityText, SEVERITIES);
  if (severity && !severity.ok) return severity;
  const confidence =
    confidenceText === undefined ? undefined : oneOf('confidence', confidenceText, CONFIDENCES);
  if (confidence && !confidence.ok) return confidence;
  return ok({
    ...(namespace === undefined ? {} : { namespace }),
    ...(tenant === undefined ? {} : { tenant }),
    ...(rule ? { rule: rule.value } : {}),
    ...(severity ? { severity: severity.value } : {}),
    ...(confidence ? { confidence: confidence.value } : {}),
  });
}

/**
 * The tenants a finding concerns: the tenant of the namespace it was found in (as the agent maps
 * namespaces to tenants now), the tenants an image is exposed to, and the tenants whose
 * credentials brought the image. A security team asking about a tenant wants all three.
 */
export function tenantsOf(finding: Finding, tenantOf: (namespace: string) => string): Set<string> {
  const tenants = new Set<string>();
  const place = placeOf(finding);
  if (place.namespace !== null) tenants.add(tenantOf(place.namespace));
  if (place.tenant !== null) tenants.add(place.tenant);
  if (
    finding.rule === 'private-image-exposed' ||
    finding.rule === 'preloaded-private-image-exposed'
  ) {
    for (const t of finding.exposedTenants) tenants.add(t);
  }
  for (const owner of place.owners) tenants.add(owner.tenant);
  return tenants;
}

export function matchesFilter(
  finding: Finding,
  filter: FindingsFilter,
  tenantOf: (namespace: string) => string,
): boolean {
  if (filter.namespace !== undefined && placeOf(finding).namespace !== filter.namespace)
    return false;
  if (filter.rule !== undefined && finding.rule !== filter.rule) return false;
  if (
    filter.severity !== undefined &&
    severityRank(finding.severity) < severityRank(filter.severity)
  ) {
    return false;
  }
  if (
    filter.confidence !== undefined &&
    CONFIDENCES.indexOf(finding.confidence) < CONFIDENCES.indexOf(filter.confidence)
  ) {
    return false;
  }
  if (filter.tenant !== undefined && !tenantsOf(finding, tenantOf).has(filter.tenant)) return false;
  return true;
}

/**
 * Most severe first; among equals, the longest-standing first; then by id, for a stable order.
 * Sorts in place. firstSeen is parsed once per finding, not twice per comparison (a sort of
 * 1,000 findings makes about 10,000).
 */
function sortFindings<F extends Finding>(findings: F[]): F[] {
  const keyed = findings.map((finding) => ({
    finding,
    rank: severityRank(finding.severity),
    firstSeen: Date.parse(finding.firstSeen),
  }));
  keyed.sort(
    (a, b) =>
      b.rank - a.rank ||
      a.firstSeen - b.firstSeen ||
      (a.finding.id < b.finding.id ? -1 : a.finding.id > b.finding.id ? 1 : 0),
  );
  for (const [i, { finding }] of keyed.entries()) findings[i] = finding;
  return findings;
}

export function selectFindings<F extends Finding>(
  findings: readonly F[],
  filter: FindingsFilter,
  tenantOf: (namespace: string) => string,
): F[] {
  return sortFindings(findings.filter((f) => matchesFilter(f, filter, tenantOf)));
}

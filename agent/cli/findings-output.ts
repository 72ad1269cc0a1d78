import { byCodeUnits } from '../code-unit-order.ts';
import type { Finding } from '../detect/finding.ts';
import { placeOf, severityRank } from '../detect/finding.ts';
import { renderTable } from './table.ts';

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      byCodeUnits(a.rule, b.rule) ||
      byCodeUnits(placeOf(a).namespace ?? '', placeOf(b).namespace ?? '') ||
      byCodeUnits(placeOf(a).pod ?? '', placeOf(b).pod ?? ''),
  );
}

function where(f: Finding): string {
  switch (f.rule) {
    case 'unauthorized-cached-image-use':
      return `${f.namespace}/${f.pod}/${f.container}`;
    case 'private-image-exposed':
    case 'preloaded-private-image-exposed':
      return `exposed: ${f.exposedTenants.join(', ')}`;
    case 'always-pull-images-not-enforced':
      return `node ${f.node}`;
  }
}

export function renderFindingsTable(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'No findings.\n';
  const rows = sortFindings(findings).map((f) => [
    f.severity.toUpperCase(),
    f.rule,
    where(f),
    placeOf(f).image ?? '',
    placeOf(f)
      .owners.map((o) => o.tenant)
      .join(', '),
  ]);
  return renderTable(['SEVERITY', 'RULE', 'WHERE', 'IMAGE', 'OWNERS'], rows);
}

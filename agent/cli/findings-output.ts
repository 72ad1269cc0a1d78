import type { Finding } from '../detect/finding.ts';
import { severityRank } from '../detect/finding.ts';
import { renderTable } from './table.ts';

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.rule.localeCompare(b.rule) ||
      (a.namespace ?? '').localeCompare(b.namespace ?? '') ||
      (a.pod ?? '').localeCompare(b.pod ?? ''),
  );
}

function where(f: Finding): string {
  if (f.pod !== null) return `${f.namespace ?? ''}/${f.pod}/${f.container ?? ''}`;
  if (f.rule === 'private-image-exposed') return `exposed: ${f.exposedTenants.join(', ')}`;
  return `node ${f.node}`;
}

export function renderFindingsTable(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'No findings.\n';
  const rows = sortFindings(findings).map((f) => [
    f.severity.toUpperCase(),
    f.rule,
    where(f),
    f.image ?? '',
    f.owners.map((o) => o.tenant).join(', '),
  ]);
  return renderTable(['SEVERITY', 'RULE', 'WHERE', 'IMAGE', 'OWNERS'], rows);
}

// pullwatch_finding_info: one constant-1 series per active finding, carrying what a dashboard
// table or an alert needs to name it (kube-state-metrics' `_info` pattern; the label names
// join with kube_pod_info and kube_pod_container_info). Series come and go with findings, so
// their number is capped: past the cap the least severe, newest findings are left out and
// counted in pullwatch_finding_info_dropped.
import { Gauge } from 'prom-client';
import { byCodeUnits } from '../code-unit-order.ts';
import type { Finding } from '../detect/finding.ts';
import { CONFIDENCES, placeOf, severityRank } from '../detect/finding.ts';
import type { RegisterCollector } from './collector.ts';

export const DEFAULT_MAX_FINDING_INFO_SERIES = 500;

const labelNames = [
  'rule',
  'severity',
  'confidence',
  'namespace',
  'pod',
  'container',
  'image',
  'image_id',
  'owner_tenants',
] as const;

type FindingInfoLabels = Record<(typeof labelNames)[number], string>;

export function findingInfoLabels(finding: Finding): FindingInfoLabels {
  const place = placeOf(finding);
  const tenants = [...new Set(place.owners.map((o) => o.tenant))].sort();
  return {
    rule: finding.rule,
    severity: finding.severity,
    confidence: finding.confidence,
    namespace: place.namespace ?? '',
    pod: place.pod ?? '',
    container: place.container ?? '',
    image: place.image ?? '',
    image_id: place.imageId ?? '',
    owner_tenants: tenants.join(','),
  };
}

/** Which findings keep their series when there are too many: most severe, most certain, oldest. */
function byImportance(a: Finding, b: Finding): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    CONFIDENCES.indexOf(b.confidence) - CONFIDENCES.indexOf(a.confidence) ||
    byCodeUnits(a.firstSeen, b.firstSeen) ||
    byCodeUnits(a.id, b.id)
  );
}

export const register: RegisterCollector = (registry, view, { findingInfo }) => {
  if (!findingInfo.enabled) return;
  new Gauge({
    name: 'pullwatch_finding_info',
    help: 'Always 1; one series per active finding, labels naming the rule, the workload and the image.',
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      const findings = [...view.findings()].sort(byImportance);
      const kept = findings.slice(0, findingInfo.maxSeries);
      // Two findings can share every label (same image, pod and container seen by one rule at
      // two times): set() keeps them as one series, which is what an info metric means.
      for (const finding of kept) this.set(findingInfoLabels(finding), 1);
    },
  });
  // collect() reads only the findings (and the fixed cap): rendered again when they change.
  registry.renderOncePer('pullwatch_finding_info', () => view.findings());
  new Gauge({
    name: 'pullwatch_finding_info_dropped',
    help: 'Active findings left out of pullwatch_finding_info because of its series cap.',
    registers: [registry],
    collect() {
      this.set(Math.max(0, view.findings().length - findingInfo.maxSeries));
    },
  });
};

// The findings as counts: how many are open now by rule and severity, and how many have been
// detected since the agent started.
import { Counter, Gauge } from 'prom-client';
import { RULES, SEVERITIES } from '../detect/finding.ts';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_findings',
    help: 'Findings currently active on the node, by rule and severity (every combination, zeros included).',
    labelNames: ['rule', 'severity'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // Zeros keep every series present, so alerts on a count see it fall back to 0.
      for (const rule of RULES) {
        for (const severity of SEVERITIES) this.set({ rule, severity }, 0);
      }
      for (const finding of view.findings()) {
        this.inc({ rule: finding.rule, severity: finding.severity });
      }
    },
  });
  // collect() reads only the findings: rendered again when they change.
  registry.renderOncePer('pullwatch_findings', () => view.findings());
  new Counter({
    name: 'pullwatch_findings_detected_total',
    help: 'Findings newly detected since the agent started, by rule.',
    labelNames: ['rule'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const totals = view.findingsDetectedTotal();
      for (const rule of RULES) this.inc({ rule }, totals.get(rule) ?? 0);
    },
  });
};

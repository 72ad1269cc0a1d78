// The report objects the agent writes (README "Reports"): every write by object kind,
// operation and result, and the writer's state, so that a missing CRD or a refusing API server
// shows on a dashboard and in an alert. The write counter carries every label value of the
// configured report kinds from the start; with --reports off it has no series and the state
// is `off`.
import { Counter, Gauge } from 'prom-client';
import { REPORT_OPERATIONS, REPORT_WRITE_RESULTS, writeCountKey } from '../reports/reconciler.ts';
import type { RegisterCollector } from './collector.ts';

export const REPORT_STATES = ['off', 'starting', 'waiting', 'writing', 'kind-not-served'] as const;

export const register: RegisterCollector = (registry, _view, options) => {
  new Counter({
    name: 'pullwatch_report_writes_total',
    help: 'Report object writes (server-side apply) and deletes since the agent started, by object kind, operation and result.',
    labelNames: ['kind', 'operation', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const reports = options.reports?.();
      if (reports === undefined) return;
      for (const kind of reports.kinds)
        for (const operation of REPORT_OPERATIONS)
          for (const result of REPORT_WRITE_RESULTS)
            this.inc(
              { kind, operation, result },
              reports.counts.get(writeCountKey(kind, operation, result)) ?? 0,
            );
    },
  });
  new Gauge({
    name: 'pullwatch_reports_state',
    help: "1 for the report writer's current state: off, starting, waiting (agent not ready), writing, or kind-not-served (the report CRDs are not installed).",
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const state = options.reports?.().status.state ?? 'off';
      for (const s of REPORT_STATES) this.set({ state: s }, s === state ? 1 : 0);
    },
  });
};

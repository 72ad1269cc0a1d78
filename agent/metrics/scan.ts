// How long the agent's reconcile (snapshot -> detect -> findings store) takes, and when it
// last ran. The view keeps only the latest scan: each scrape observes it once if it is new,
// so with scans more frequent than scrapes the histogram samples them (one per scrape).
import { Gauge, Histogram } from 'prom-client';
import type { RegisterCollector } from './collector.ts';
import { secondsSinceEpoch } from './collector.ts';

/** From 1 ms (a handful of pods) to 5 s (a busy node with a slow API server). */
export const SCAN_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export const register: RegisterCollector = (registry, view) => {
  let observedAt: number | undefined;
  new Histogram({
    name: 'pullwatch_scan_duration_seconds',
    help: 'Time a reconcile of the node (snapshot, detection, findings update) took.',
    buckets: [...SCAN_DURATION_BUCKETS],
    registers: [registry],
    collect() {
      // Cumulative: never reset; only a scan not seen by an earlier scrape is observed.
      const scan = view.lastScan();
      if (scan === undefined || scan.at === observedAt) return;
      observedAt = scan.at;
      // A clock step can make a duration negative; prom-client would count it in every bucket.
      if (Number.isFinite(scan.durationSeconds) && scan.durationSeconds >= 0) {
        this.observe(scan.durationSeconds);
      }
    },
  });
  new Gauge({
    name: 'pullwatch_last_scan_timestamp_seconds',
    help: 'Unix time the last reconcile of the node finished; 0 before the first.',
    registers: [registry],
    collect() {
      const scan = view.lastScan();
      this.set(scan === undefined ? 0 : secondsSinceEpoch(scan.at));
    },
  });
};

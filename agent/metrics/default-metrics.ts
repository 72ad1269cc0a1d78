// process_* and nodejs_* metrics from prom-client, without the three gauges it names like
// counters (nodejs_active_{handles,requests,resources}_total). Each of them is the sum of
// its `{type}` sibling (sum(nodejs_active_handles) gives the same number), and keeping them
// would make `promtool check metrics` fail on our /metrics. See docs/metrics.md.
import { collectDefaultMetrics } from 'prom-client';
import type { RegisterCollector } from './collector.ts';

export const DROPPED_DEFAULT_METRICS: readonly string[] = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export const register: RegisterCollector = (registry) => {
  // prom-client samples event-loop delay every 10 ms by default: a wake-up 100 times a second,
  // most of an idle agent's CPU. Once a second still shows a stalled loop.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  // This family's collect() reads the event-loop delay histogram for all nodejs_eventloop_lag_*
  // gauges, and its mean and stddev walk every bucket (about 0.3 ms, more than the rest of a
  // scrape): scrapes within the same second share one reading.
  registry.renderOncePer('nodejs_eventloop_lag_seconds', () => [Math.floor(Date.now() / 1000)]);
};

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
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
};

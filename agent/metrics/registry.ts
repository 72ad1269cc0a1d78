// The agent's metrics registry: its own prom-client Registry (never the global one, so nothing
// a dependency registers leaks into /metrics), filled by one module per metric family group.
// Adding a group means adding a module and naming it in COLLECTORS.
import { buildInfo as currentBuild } from '../version.ts';
import type { BuildInfo } from '../version.ts';
import type { EventCounts } from '../events/writer.ts';
import type { AgentView } from '../view.ts';
import * as buildInfoMetrics from './build-info.ts';
import type { Collector, CollectorOptions, ReportsMetrics } from './collector.ts';
import * as defaultMetrics from './default-metrics.ts';
import * as events from './events.ts';
import * as findingInfo from './finding-info.ts';
import { DEFAULT_MAX_FINDING_INFO_SERIES } from './finding-info.ts';
import * as findings from './findings.ts';
import * as images from './images.ts';
import { MemoRegistry } from './memo-registry.ts';
import * as prevention from './prevention.ts';
import * as protection from './protection.ts';
import * as registryProbes from './registry-probes.ts';
import * as reports from './reports.ts';
import * as scan from './scan.ts';
import * as sources from './sources.ts';

/** The pullwatch_* groups, in the order they appear in /metrics. */
export const COLLECTORS: readonly Collector[] = [
  buildInfoMetrics,
  sources,
  scan,
  images,
  findings,
  findingInfo,
  prevention,
  registryProbes,
  protection,
  events,
  reports,
];

export interface MetricsOptions {
  /** Expose pullwatch_finding_info (default true). */
  readonly findingInfo?: boolean;
  /** At most this many pullwatch_finding_info series (default 500). */
  readonly maxFindingInfoSeries?: number;
  /** process_* and nodejs_* metrics (default true). */
  readonly defaultMetrics?: boolean;
  /** What the Event writer has done (pullwatch_events_*); absent with --events off. */
  readonly events?: (() => EventCounts) | undefined;
  /** What the report writer has done (pullwatch_report_*); absent with --reports off. */
  readonly reports?: (() => ReportsMetrics) | undefined;
  /** For tests: the build to report instead of the running one. */
  readonly buildInfo?: BuildInfo;
}

export function createMetricsRegistry(view: AgentView, options: MetricsOptions = {}): MemoRegistry {
  const maxSeries = options.maxFindingInfoSeries ?? DEFAULT_MAX_FINDING_INFO_SERIES;
  if (!Number.isInteger(maxSeries) || maxSeries < 0) {
    throw new RangeError(`maxFindingInfoSeries must be a non-negative integer, got ${maxSeries}`);
  }
  const collectorOptions: CollectorOptions = {
    buildInfo: options.buildInfo ?? currentBuild,
    findingInfo: { enabled: options.findingInfo ?? true, maxSeries },
    events: options.events,
    reports: options.reports,
  };
  const registry = new MemoRegistry();
  for (const collector of COLLECTORS) collector.register(registry, view, collectorOptions);
  if (options.defaultMetrics ?? true) defaultMetrics.register(registry, view, collectorOptions);
  return registry;
}

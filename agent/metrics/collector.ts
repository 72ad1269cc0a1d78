// What every metric family group gets: the registry to put its metrics in, the agent's read
// model, and the few options a group may need. A group is one module exporting `register`.
import type { EventCounts } from '../events/writer.ts';
import type { ReportsStatus, ReportWriteCounts } from '../reports/reconciler.ts';
import type { BuildInfo } from '../version.ts';
import type { AgentView } from '../view.ts';
import type { MemoRegistry } from './memo-registry.ts';

export interface CollectorOptions {
  readonly buildInfo: BuildInfo;
  /** pullwatch_finding_info: one series per active finding, up to maxSeries. */
  readonly findingInfo: { readonly enabled: boolean; readonly maxSeries: number };
  /** What the Event writer has done; absent with --events off. */
  readonly events?: (() => EventCounts) | undefined;
  /** What the report writer has done and is doing; absent with --reports off. */
  readonly reports?: (() => ReportsMetrics) | undefined;
}

export interface ReportsMetrics {
  /** The object kinds written (Report and ClusterReport, or the wgpolicyk8s.io pair). */
  readonly kinds: readonly string[];
  readonly counts: ReportWriteCounts;
  readonly status: ReportsStatus;
}

export type RegisterCollector = (
  registry: MemoRegistry,
  view: AgentView,
  options: CollectorOptions,
) => void;

/** A metric family group: one module of agent/metrics. */
export interface Collector {
  readonly register: RegisterCollector;
}

/** Prometheus timestamps are seconds; the view keeps milliseconds since the epoch. */
export function secondsSinceEpoch(ms: number): number {
  return ms / 1000;
}

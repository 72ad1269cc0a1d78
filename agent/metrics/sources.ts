// Health of the agent's inputs (the container runtime over CRI, the Kubernetes API, and the
// controller when pull secrets come from it): whether
// each answers, when it last did, whether we serve an older picture, and how often it failed.
import { Counter, Gauge } from 'prom-client';
import { presentSources } from '../view.ts';
import type { RegisterCollector } from './collector.ts';
import { secondsSinceEpoch } from './collector.ts';

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_up',
    help: 'Whether the source answered its last read (1) or not (0).',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, health] of presentSources(view.sources()))
        this.set({ source }, health.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pullwatch_source_last_sync_timestamp_seconds',
    help: 'Unix time of the last complete, successful read of the source; 0 before the first.',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // 0 for "never", so `time() - x > threshold` also catches a source never read.
      for (const [source, { lastSync }] of presentSources(view.sources()))
        this.set({ source }, lastSync === undefined ? 0 : secondsSinceEpoch(lastSync));
    },
  });
  new Gauge({
    name: 'pullwatch_source_stale',
    help: 'Whether the agent serves an older picture of the source because reading it fails now (1) or not (0).',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, health] of presentSources(view.sources()))
        this.set({ source }, health.stale ? 1 : 0);
    },
  });
  new Counter({
    name: 'pullwatch_errors_total',
    help: 'Failed reads of a source since the agent started.',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // Every source is present from the start, so rate() sees the first error as an increase.
      for (const [source] of presentSources(view.sources())) this.inc({ source }, 0);
      for (const [source, count] of view.errorsTotal()) this.inc({ source }, count);
    },
  });
};

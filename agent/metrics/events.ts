// The Warning Events the agent writes on flagged pods: how many went out, and how many a rate
// limit, a refusal or a long outage kept back. Both families are present with every label
// value from the start, also with --events off (then all zeros).
import { Counter } from 'prom-client';
import { EVENT_DROPS, EVENT_WRITES } from '../events/writer.ts';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, _view, options) => {
  new Counter({
    name: 'pullwatch_events_written_total',
    help: 'Kubernetes Events written on flagged pods since the agent started: created, or a series continued.',
    labelNames: ['operation'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const written = options.events?.().written;
      for (const operation of EVENT_WRITES) this.inc({ operation }, written?.[operation] ?? 0);
    },
  });
  new Counter({
    name: 'pullwatch_events_dropped_total',
    help: 'Kubernetes Event writes not made since the agent started, by why: a rate limit, a refusal, or retries run out.',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const dropped = options.events?.().dropped;
      for (const reason of EVENT_DROPS) this.inc({ reason }, dropped?.[reason] ?? 0);
    },
  });
};

// pullwatch_events_*: what the Event writer reports, every label value present.
import t from 'tap';
import { fakeView } from '../../test/kit/http/fake-view.ts';
import { sampleValue } from '../../test/kit/metrics.ts';
import type { EventCounts } from '../events/writer.ts';
import { createMetricsRegistry } from './registry.ts';

const counts: EventCounts = {
  written: { create: 7, series: 3 },
  dropped: { 'pod-rate-limit': 2, 'agent-rate-limit': 1, rejected: 0, 'retries-exhausted': 4 },
};

t.test('pullwatch_events_*', async (t) => {
  const cases = [
    {
      name: 'the writer counts what it wrote and dropped',
      events: () => counts,
      want: [
        ['pullwatch_events_written_total', { operation: 'create' }, 7],
        ['pullwatch_events_written_total', { operation: 'series' }, 3],
        ['pullwatch_events_dropped_total', { reason: 'pod-rate-limit' }, 2],
        ['pullwatch_events_dropped_total', { reason: 'agent-rate-limit' }, 1],
        ['pullwatch_events_dropped_total', { reason: 'rejected' }, 0],
        ['pullwatch_events_dropped_total', { reason: 'retries-exhausted' }, 4],
      ],
    },
    {
      name: '--events off: every series at 0',
      events: undefined,
      want: [
        ['pullwatch_events_written_total', { operation: 'create' }, 0],
        ['pullwatch_events_dropped_total', { reason: 'pod-rate-limit' }, 0],
      ],
    },
  ] as const;
  for (const c of cases) {
    const registry = createMetricsRegistry(fakeView(), { events: c.events });
    for (const [name, labels, value] of c.want) {
      t.equal(
        await sampleValue(registry, name, labels),
        value,
        `${c.name}: ${name} ${JSON.stringify(labels)}`,
      );
    }
  }
});

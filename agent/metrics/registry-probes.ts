// Requests the agent made to registries to learn whether a repository is private and whether a
// tenant's credential can read an image, by outcome (readable, denied, not-found, error).
import { Counter } from 'prom-client';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, view) => {
  new Counter({
    name: 'pullwatch_registry_probes_total',
    help: 'Registry probes (anonymous and credentialed manifest requests) since the agent started, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [result, count] of view.registryProbesTotal()) this.inc({ result }, count);
    },
  });
};

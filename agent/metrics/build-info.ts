// pullwatch_build_info: the constant-1 info metric that dashboards join on for the version.
import { Gauge } from 'prom-client';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, _view, { buildInfo }) => {
  const gauge = new Gauge({
    name: 'pullwatch_build_info',
    help: 'Always 1; labels name the running pullwatch build and the Node.js version.',
    labelNames: ['version', 'revision', 'nodejs_version'] as const,
    registers: [registry],
  });
  // Constant for the life of the process: set once instead of on every scrape.
  gauge.set(
    {
      version: buildInfo.version,
      revision: buildInfo.revision,
      nodejs_version: buildInfo.nodejsVersion,
    },
    1,
  );
};

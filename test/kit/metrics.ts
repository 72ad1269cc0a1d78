// Helpers for the metrics tests: read one family's samples, or the pullwatch_* part of the
// exposition text.
import type { Registry } from 'prom-client';

export interface Sample {
  readonly labels: Readonly<Partial<Record<string, string | number>>>;
  readonly value: number;
  readonly metricName?: string;
}

/** The samples of one family as prom-client computes them for a scrape (collect() included). */
export async function samples(registry: Registry, name: string): Promise<readonly Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name} in the registry`);
  const data = await metric.get();
  return data.values;
}

/** The value of the one sample whose labels include `labels`. */
export async function sampleValue(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number | undefined> {
  const matching = (await samples(registry, name)).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match`);
  return matching[0]?.value;
}

/** The HELP, TYPE and sample lines of the pullwatch_* families, in exposition order. */
export function pullwatchFamilies(exposition: string): string {
  const lines = exposition.split('\n').filter((line) => /^(# (HELP|TYPE) )?pullwatch_/.test(line));
  return `${lines.join('\n')}\n`;
}

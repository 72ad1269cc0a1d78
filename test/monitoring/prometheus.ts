// A real Prometheus (Debian's `prometheus`) for tests: its own config, storage and port in a
// temp dir, stopped at teardown, and the few HTTP API calls the tests make.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { freePort } from '../helpers/ports.ts';
import type { ManagedProcess } from '../helpers/process.ts';
import { startProcess } from '../helpers/process.ts';
import { toolPath } from '../helpers/real-parts.ts';
import type { TeardownHost } from '../helpers/tmp.ts';
import { safeTeardown } from '../helpers/tmp.ts';

export interface ScrapeTarget {
  readonly job: string;
  /** `host:port`. */
  readonly address: string;
  /** Target labels, as Prometheus' relabeling would add them in a cluster. */
  readonly labels: Readonly<Record<string, string>>;
}

export interface PrometheusOptions {
  readonly dir: string;
  readonly targets: readonly ScrapeTarget[];
  readonly ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval (default 1s). */
  readonly interval?: string;
}

export interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  /** [unix seconds, value as Prometheus writes it: "1", "NaN", "+Inf"]. */
  readonly value: readonly [number, string];
}

export interface ActiveAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing';
}

export class PrometheusApiError extends Error {}

export interface PrometheusServer {
  readonly url: string;
  readonly process: ManagedProcess;
  /** An instant query at the current time; rejects with the API's error for a bad query. */
  query(expr: string): Promise<Sample[]>;
  /** What Grafana's `label_values(match, label)` lists. */
  labelValues(label: string, match: string): Promise<string[]>;
  alerts(): Promise<ActiveAlert[]>;
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
}

export async function startPrometheus(
  t: TeardownHost,
  o: PrometheusOptions,
): Promise<PrometheusServer> {
  const interval = o.interval ?? '1s';
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: o.ruleFiles ?? [],
    scrape_configs: [...new Set(o.targets.map((target) => target.job))].map((job) => ({
      job_name: job,
      static_configs: o.targets
        .filter((target) => target.job === job)
        .map((target) => ({ targets: [target.address], labels: target.labels })),
    })),
  };
  const configFile = join(o.dir, 'prometheus.yml');
  await writeFile(configFile, YAML.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess(
    toolPath('prometheus'),
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(o.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { name: 'prometheus', logPath: join(o.dir, 'prometheus.log'), cwd: o.dir },
  );
  safeTeardown(t, 'prometheus', async () => {
    await proc.stop(5_000);
  });

  const get = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const query = new URLSearchParams(params).toString();
    const res = await fetch(`${url}${path}${query === '' ? '' : `?${query}`}`, {
      signal: AbortSignal.timeout(5000),
    });
    const answer = (await res.json()) as ApiAnswer<T>;
    if (answer.status !== 'success' || answer.data === undefined) {
      throw new PrometheusApiError(
        `${path} ${JSON.stringify(params)}: ${answer.errorType ?? res.status}: ${answer.error ?? ''}`,
      );
    }
    return answer.data;
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.hasExited()) throw new Error(`prometheus exited at start:\n${await proc.logTail()}`);
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`prometheus not ready:\n${await proc.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    process: proc,
    query: async (expr) => {
      const data = await get<{ resultType: string; result: Sample[] }>('/api/v1/query', {
        query: expr,
      });
      if (data.resultType !== 'vector') {
        throw new PrometheusApiError(`${expr}: a ${data.resultType}, not an instant vector`);
      }
      return data.result;
    },
    labelValues: (label, match) =>
      get<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match }),
    alerts: async () => (await get<{ alerts: ActiveAlert[] }>('/api/v1/alerts')).alerts,
  };
}

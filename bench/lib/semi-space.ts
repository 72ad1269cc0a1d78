// NODE_OPTIONS' `--max-semi-space-size` traded against what it costs (issue 16): the build run
// with each setting, and a table of its memory, CPU and detection latency under pod updates.
// V8's young generation is made of semi-spaces of this size: a small one keeps RSS down and is
// collected (scavenged) more often, which costs CPU and may delay work when pods churn.
import type { DeployedRun } from './deployed-agent.ts';
import type { ProcSample } from './proc.ts';
import { MiB } from './proc.ts';
import { fmt, summarize } from './stats.ts';

const FLAG = /--max-semi-space-size[= ](\d+)/;

/** NODE_OPTIONS' `--max-semi-space-size` (MiB) in `env`, undefined when not set (V8's default). */
export function semiSpaceOf(env: Readonly<Record<string, string>>): number | undefined {
  const value = FLAG.exec(env['NODE_OPTIONS'] ?? '')?.[1];
  return value === undefined ? undefined : Number(value);
}

/**
 * `env` with NODE_OPTIONS' `--max-semi-space-size` set to `mib` (left out for undefined: V8's
 * default), the rest unchanged.
 */
export function withSemiSpace(
  env: Readonly<Record<string, string>>,
  mib: number | undefined,
): Record<string, string> {
  const others = (env['NODE_OPTIONS'] ?? '').replace(FLAG, '').trim().replace(/\s+/g, ' ');
  const flag = mib === undefined ? '' : `--max-semi-space-size=${mib}`;
  return { ...env, NODE_OPTIONS: [flag, others].filter((o) => o !== '').join(' ') };
}

export interface SemiSpaceRun {
  /** MiB; undefined: no flag, V8 sizes the semi-spaces from the memory it sees. */
  readonly semiSpace: number | undefined;
  readonly run: DeployedRun;
}

export const semiSpaceLabel = (mib: number | undefined): string =>
  mib === undefined ? "V8's default (no flag)" : `${mib} MiB`;

/** The figures of one run the table and the verdict compare. */
interface RunFigures {
  readonly semiSpace: number | undefined;
  readonly atReady: number;
  readonly afterUpdates: number;
  readonly afterBursts: number;
  /** The larger of the two readings after updates: what counts against a memory limit. */
  readonly afterWorst: number;
  /** Median over the bursts, ms. */
  readonly cpuUntilServed: number;
  readonly cpuSettled: number;
  readonly served: ReturnType<typeof summarize>;
  readonly notServed: number;
}

const rssMedian = (xs: readonly ProcSample[]): number =>
  summarize(xs.map((x) => x.rssBytes)).median;

function figuresOf({ semiSpace, run }: SemiSpaceRun): RunFigures {
  const afterUpdates = rssMedian(run.afterUpdates);
  const afterBursts = run.afterBursts?.rssBytes ?? afterUpdates;
  const served = run.bursts.flatMap((b) => (b.servedMs === undefined ? [] : [b.servedMs]));
  return {
    semiSpace,
    atReady: run.atReady.rssBytes,
    afterUpdates,
    afterBursts,
    afterWorst: Math.max(afterUpdates, afterBursts),
    cpuUntilServed: summarize(run.bursts.map((b) => b.agentCpuMs)).median,
    cpuSettled: summarize(run.bursts.map((b) => b.settledCpuMs)).median,
    served: summarize(served),
    notServed: run.bursts.length - served.length,
  };
}

const mib = (bytes: number): string => `${fmt(bytes / MiB, 1)} MiB`;
const signed = (value: number, text: string): string => `${value >= 0 ? '+' : '−'}${text}`;

/**
 * What one setting's RSS after the updates moved between two runs on this machine (5 %, about
 * 10 MiB): a smaller difference between settings is not counted. CPU (10 ms ticks) and latency
 * count as worse beyond 10 % and 20 ms.
 */
const RSS_NOISE_SHARE = 0.05;
const worse = (value: number, reference: number): boolean =>
  value > reference * 1.1 && value > reference + 20;

/**
 * The table, then a sentence comparing each setting with the image's and one saying whether
 * the numbers support the image's setting: they do unless another setting used less memory
 * after the updates without more CPU or latency.
 */
export function semiSpaceSection(
  runs: readonly SemiSpaceRun[],
  imageSemiSpace: number | undefined,
): string[] {
  const figures = runs.map(figuresOf);
  const rows = figures.map(
    (f) =>
      `| ${semiSpaceLabel(f.semiSpace)}${f.semiSpace === imageSemiSpace ? " (the Dockerfile's)" : ''} | ${mib(f.atReady)} | ${mib(f.afterUpdates)} | ${mib(f.afterBursts)} | ${fmt(f.cpuUntilServed)} | ${fmt(f.cpuSettled)} | ${fmt(f.served.median)} (${fmt(f.served.min)}–${fmt(f.served.max)}) | ${f.notServed} |`,
  );
  const table = [
    '| `--max-semi-space-size` | RSS at ready | RSS after 1,000 pod updates | RSS after the last burst | agent CPU, updates → offending pod served (ms) | agent CPU, updates → settled (ms) | offending pod served after the updates, median (min–max) ms | not served in 15 s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
  const image = figures.find((f) => f.semiSpace === imageSemiSpace);
  if (image === undefined) return table;
  const rssNoise = RSS_NOISE_SHARE * image.afterWorst;
  const others = figures.filter((f) => f !== image);
  const comparisons = others.map(
    (f) =>
      `${semiSpaceLabel(f.semiSpace)}: ${signed(f.afterWorst - image.afterWorst, mib(Math.abs(f.afterWorst - image.afterWorst)))} RSS after the updates, ${signed(f.cpuSettled - image.cpuSettled, `${Math.round(Math.abs(f.cpuSettled - image.cpuSettled))} ms`)} CPU for them, ${signed(f.served.median - image.served.median, `${fmt(Math.abs(f.served.median - image.served.median))} ms`)} to serve the offending pod`,
  );
  const better = others.filter(
    (f) =>
      f.afterWorst < image.afterWorst - rssNoise &&
      !worse(f.cpuSettled, image.cpuSettled) &&
      !worse(f.served.median, image.served.median) &&
      f.notServed <= image.notServed,
  );
  const imageLabel = semiSpaceLabel(image.semiSpace);
  const conclusion =
    better.length === 0
      ? `No other setting used less memory after the updates by more than ${mib(rssNoise)} (5 %, about what one setting moved between two runs here) without more CPU or latency (by more than 10 % and 20 ms): the numbers support the Dockerfile's ${imageLabel}.`
      : `${better.map((f) => semiSpaceLabel(f.semiSpace)).join(' and ')} used less memory after the updates by more than ${mib(rssNoise)} with no more CPU or latency (within 10 % or 20 ms) in this run: the numbers do not support the Dockerfile's ${imageLabel} (one agent per setting: measure again before changing it).`;
  return [
    ...table,
    '',
    `Against the Dockerfile's ${imageLabel} (RSS: the larger of a setting's two readings after updates; CPU: until settled; latency: the median served): ${comparisons.join('; ')}. ${conclusion}`,
  ];
}

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

/** `env` with NODE_OPTIONS' `--max-semi-space-size` set to `mib`, the rest unchanged. */
export function withSemiSpace(
  env: Readonly<Record<string, string>>,
  mib: number,
): Record<string, string> {
  const others = (env['NODE_OPTIONS'] ?? '').replace(FLAG, '').trim().replace(/\s+/g, ' ');
  return {
    ...env,
    NODE_OPTIONS: [`--max-semi-space-size=${mib}`, others].filter((o) => o !== '').join(' '),
  };
}

export interface SemiSpaceRun {
  readonly semiSpace: number;
  readonly run: DeployedRun;
}

/** The figures of one run the table and the verdict compare. */
interface RunFigures {
  readonly semiSpace: number;
  readonly atReady: number;
  readonly afterUpdates: number;
  /** Median over the bursts, ms. */
  readonly cpuUntilServed: number;
  readonly cpuSettled: number;
  readonly served: ReturnType<typeof summarize>;
  readonly notServed: number;
}

const rssMedian = (xs: readonly ProcSample[]): number =>
  summarize(xs.map((x) => x.rssBytes)).median;

function figuresOf({ semiSpace, run }: SemiSpaceRun): RunFigures {
  const served = run.bursts.flatMap((b) => (b.servedMs === undefined ? [] : [b.servedMs]));
  return {
    semiSpace,
    atReady: run.atReady.rssBytes,
    afterUpdates: rssMedian(run.afterUpdates),
    cpuUntilServed: summarize(run.bursts.map((b) => b.agentCpuMs)).median,
    cpuSettled: summarize(run.bursts.map((b) => b.settledCpuMs)).median,
    served: summarize(served),
    notServed: run.bursts.length - served.length,
  };
}

const mib = (bytes: number): string => `${fmt(bytes / MiB, 1)} MiB`;
const signed = (value: number, text: string): string => `${value >= 0 ? '+' : '−'}${text}`;

/** Memory is counted as lower beyond this, CPU and latency as higher beyond 10 %. */
const RSS_NOISE = 2 * MiB;
const worse = (value: number, reference: number): boolean => value > reference * 1.1;

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
      `| ${f.semiSpace} MiB${f.semiSpace === imageSemiSpace ? " (the Dockerfile's)" : ''} | ${mib(f.atReady)} | ${mib(f.afterUpdates)} | ${fmt(f.cpuUntilServed)} | ${fmt(f.cpuSettled)} | ${fmt(f.served.median)} (${fmt(f.served.min)}–${fmt(f.served.max)}) | ${f.notServed} |`,
  );
  const table = [
    '| `--max-semi-space-size` | RSS at ready | RSS after 1,000 pod updates | agent CPU, updates → offending pod served (ms) | agent CPU, updates → settled (ms) | offending pod served after the updates, median (min–max) ms | not served in 15 s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
  const image = figures.find((f) => f.semiSpace === imageSemiSpace);
  if (image === undefined) {
    return [
      ...table,
      '',
      'The Dockerfile sets no `--max-semi-space-size` of those measured: V8 sizes the young generation itself.',
    ];
  }
  const others = figures.filter((f) => f !== image);
  const comparisons = others.map(
    (f) =>
      `${f.semiSpace} MiB: ${signed(f.afterUpdates - image.afterUpdates, mib(Math.abs(f.afterUpdates - image.afterUpdates)))} RSS after the updates, ${signed(f.cpuSettled - image.cpuSettled, `${fmt(Math.abs(f.cpuSettled - image.cpuSettled))} ms`)} CPU for them, ${signed(f.served.median - image.served.median, `${fmt(Math.abs(f.served.median - image.served.median))} ms`)} to serve the offending pod`,
  );
  const better = others.filter(
    (f) =>
      f.afterUpdates < image.afterUpdates - RSS_NOISE &&
      !worse(f.cpuSettled, image.cpuSettled) &&
      !worse(f.served.median, image.served.median) &&
      f.notServed <= image.notServed,
  );
  const conclusion =
    better.length === 0
      ? `No other setting used less memory after the updates (by more than ${mib(RSS_NOISE)}) without more CPU or latency (by more than 10 %): the numbers support the Dockerfile's \`--max-semi-space-size=${image.semiSpace}\`.`
      : `${better.map((f) => `\`--max-semi-space-size=${f.semiSpace}\``).join(' and ')} used less memory after the updates with no more CPU or latency (within 10 %) in this run: the numbers do not support the Dockerfile's \`--max-semi-space-size=${image.semiSpace}\` (one agent per setting: measure again before changing it).`;
  return [
    ...table,
    '',
    `Against the Dockerfile's ${image.semiSpace} MiB: ${comparisons.join('; ')}. ${conclusion}`,
  ];
}

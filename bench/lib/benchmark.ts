// What every benchmark module exports, and what run.ts hands it.

export interface BenchContext {
  /** --quick: shorter windows (the idle-CPU window is 60 s instead of 5 min). */
  readonly quick: boolean;
  /** Which container runtime backs the CRI ListImages comparison. */
  readonly runtime: 'auto' | 'real' | 'embedded';
  /** Rebuild the cached containerd image store instead of reusing it. */
  readonly freshContainerd: boolean;
  log(line: string): void;
  /** Results one benchmark leaves for a later one in the same run (footprint -> kube-load). */
  readonly shared: Map<string, unknown>;
}

export interface Benchmark {
  /** The name used on the command line and in BENCHMARKS.md's section markers. */
  readonly name: string;
  readonly title: string;
  readonly summary: string;
  run(context: BenchContext): Promise<BenchResult>;
}

/** One figure with a target, for the summary table at the top of BENCHMARKS.md. */
export interface TargetCheck {
  readonly figure: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

export interface BenchResult {
  /** The section's Markdown body (without its heading). */
  readonly body: string;
  readonly targets: readonly TargetCheck[];
}

export type Verdict = 'met' | 'missed';

export function verdict(ok: boolean): string {
  return ok ? '**met**' : '**missed**';
}

/** The Markdown table every section ends with: each figure, its target and the verdict. */
export function targetTable(targets: readonly TargetCheck[]): string[] {
  return [
    '| figure | target | measured | verdict |',
    '| --- | --- | --- | --- |',
    ...targets.map((t) => `| ${t.figure} | ${t.target} | ${t.measured} | ${verdict(t.met)} |`),
  ];
}

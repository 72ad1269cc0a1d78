// `npm run bench [-- NAME... ] [--quick] [--runtime auto|real|embedded] [--fresh-containerd]`:
// runs the benchmarks (all, or those named) and writes their figures into BENCHMARKS.md.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiLoadBenchmark } from './api-load.ts';
import { controllerBenchmark } from './controller.ts';
import { footprintBenchmark } from './footprint.ts';
import { kubeLoadBenchmark } from './kube-load.ts';
import { latencyBenchmark } from './latency.ts';
import type { BenchContext, Benchmark, BenchResult } from './lib/benchmark.ts';
import { describeMachine, machineLine, sourceRevision, watchLoad } from './lib/machine.ts';
import { writeReport } from './lib/report.ts';
import { reconcileBenchmark } from './reconcile.ts';
import { reportsBenchmark } from './reports.ts';
import { webhookBenchmark } from './webhook.ts';

/** In BENCHMARKS.md order; footprint runs before kube-load, which reuses its idle window. */
const BENCHMARKS: readonly Benchmark[] = [
  reconcileBenchmark,
  latencyBenchmark,
  footprintBenchmark,
  apiLoadBenchmark,
  kubeLoadBenchmark,
  controllerBenchmark,
  webhookBenchmark,
  reportsBenchmark,
];

const usage = `Usage: npm run bench -- [NAME...] [flags]

Benchmarks (default: all, in this order):
${BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.summary}`).join('\n')}

Flags:
  --quick              shorter windows: idle CPU over 60 s instead of 5 min, fewer iterations
  --runtime MODE       auto (default): the real containerd when root and containerd are there,
                       else the embedded runtime; real: fail without it; embedded: never use it
  --fresh-containerd   rebuild the cached 5,000-image containerd store (/var/tmp/pullwatch-bench)
  --out FILE           where to write the report (default BENCHMARKS.md at the repository root)
  --no-write           print the sections instead of writing the report
  -h, --help
`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        runtime: { type: 'string', default: 'auto' },
        'fresh-containerd': { type: 'boolean', default: false },
        out: { type: 'string' },
        'no-write': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const runtime = values.runtime;
  if (runtime !== 'auto' && runtime !== 'real' && runtime !== 'embedded') {
    process.stderr.write(`--runtime must be auto, real or embedded (got "${runtime}")\n`);
    return 2;
  }
  const unknown = positionals.filter((p) => !BENCHMARKS.some((b) => b.name === p));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}\n\n${usage}`);
    return 2;
  }
  const selected =
    positionals.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => positionals.includes(b.name));
  const started = performance.now();
  const context: BenchContext = {
    quick: values.quick,
    runtime,
    freshContainerd: values['fresh-containerd'],
    log: (line) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
      process.stderr.write(`[bench ${seconds}s] ${line}\n`);
    },
    shared: new Map(),
  };
  const machine = describeMachine();
  const revision = sourceRevision();
  context.log(
    `${machineLine(machine)}; ${values.quick ? 'quick' : 'full'} run of ${selected.map((b) => b.name).join(', ')}`,
  );
  const results = new Map<string, BenchResult>();
  const out = values.out ?? fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  const header = (): string =>
    [
      '# Benchmarks',
      '',
      'Written by `npm run bench` (bench/run.ts); every figure below was measured by it on the machine its section names. ' +
        'Run one benchmark with `npm run bench -- NAME` (names: ' +
        BENCHMARKS.map((b) => `\`${b.name}\``).join(', ') +
        '); `--quick` shortens the windows; `npm run bench -- --help` lists the flags. ' +
        'A run replaces the sections it measured and keeps the others.',
      '',
      `Last run: ${machineLine(machine)} · ${revision} · ${values.quick ? '`--quick`' : 'full'} · ${selected.map((b) => b.name).join(', ')} · ${((performance.now() - started) / 60_000).toFixed(1)} min.`,
    ].join('\n');

  let failed = 0;
  for (const benchmark of selected) {
    context.log(`== ${benchmark.title}`);
    const load = watchLoad();
    const before = sourceRevision();
    try {
      const measured = await benchmark.run(context);
      const after = sourceRevision();
      // This process loaded the agent's modules at its start; agent processes load them when
      // they are spawned, from whatever is on disk then.
      const onDisk = before === after ? before : `${before}, later ${after}`;
      const code =
        onDisk === revision
          ? revision
          : `in-process measurements ran ${revision} (loaded at the start of the run); agent processes started from ${onDisk}`;
      const result = {
        ...measured,
        body: `${measured.body.trim()}\n\nAgent code: ${code}. ${load()}`,
      };
      results.set(benchmark.name, result);
      // Written after every benchmark, so that a run stopped half-way keeps what it measured.
      if (!values['no-write']) await writeReport(out, BENCHMARKS, results, header());
      for (const t of result.targets) {
        context.log(
          `   ${t.met ? 'met   ' : 'MISSED'} ${t.figure}: ${t.measured} (target ${t.target})`,
        );
      }
    } catch (error) {
      failed += 1;
      context.log(
        `${benchmark.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
  }
  if (values['no-write']) {
    for (const [name, result] of results) process.stdout.write(`\n## ${name}\n\n${result.body}\n`);
  } else {
    await writeReport(out, BENCHMARKS, results, header());
    context.log(`wrote ${out}`);
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();

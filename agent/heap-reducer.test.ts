import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { setTimeout } from 'node:timers/promises';
import { pino } from 'pino';
import {
  HeapReducer,
  startHeapReductions,
  type Activity,
  type HeapPort,
  type Reduction,
} from './heap-reducer.ts';

const MiB = 1024 * 1024;

/** A heap whose committed size the test sets, and that drops to `afterCollect` when collected. */
function fakeHeap(afterCollect: number): HeapPort & { bytes: number; collections: number } {
  const heap = {
    bytes: 100 * MiB,
    collections: 0,
    committedBytes: () => heap.bytes,
    collect: () => {
      heap.collections += 1;
      heap.bytes = afterCollect;
    },
  };
  return heap;
}

/** A call at a time; heapMiB sets the committed heap first (else it is what the last left). */
type Step =
  | { readonly do: 'ready'; readonly at: number; readonly heapMiB?: number }
  | { readonly do: Activity; readonly at: number; readonly heapMiB?: number };

// Each case: steps on one reducer (growth 8 MiB, interval 10 s, heap back to 50 MiB when
// collected), and which of them collected.
const CASES: readonly { name: string; steps: readonly Step[]; collected: readonly boolean[] }[] = [
  {
    name: 'nothing before ready: the first sync is still growing the heap',
    steps: [
      { do: 'busy', at: 10_000, heapMiB: 300 },
      { do: 'quiet', at: 70_000 },
    ],
    collected: [false, false],
  },
  {
    name: 'ready collects once, whatever the heap',
    steps: [
      { do: 'ready', at: 0, heapMiB: 51 },
      { do: 'ready', at: 1_000, heapMiB: 200 },
    ],
    collected: [true, false],
  },
  {
    name: 'a burst that grew the heap 8 MiB collects once it is over, and resets the baseline',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'busy', at: 20_000, heapMiB: 55 },
      { do: 'busy', at: 22_000, heapMiB: 58 },
      { do: 'quiet', at: 24_000 },
      { do: 'quiet', at: 40_000, heapMiB: 59 },
    ],
    collected: [true, false, false, true, false],
  },
  {
    name: 'a burst that grew the heap less is left to V8',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'busy', at: 20_000, heapMiB: 57.9 },
      { do: 'quiet', at: 22_000 },
    ],
    collected: [true, false, false],
  },
  {
    name: 'an idle agent whose heap grows is left to V8',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'quiet', at: 60_000, heapMiB: 58 },
      { do: 'quiet', at: 120_000, heapMiB: 70 },
    ],
    collected: [true, false, false],
  },
  {
    name: 'a burst within the interval waits for it, while the agent stays quiet',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'busy', at: 2_000, heapMiB: 300 },
      { do: 'quiet', at: 9_999 },
      { do: 'quiet', at: 10_000 },
    ],
    collected: [true, false, false, true],
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const heap = fakeHeap(50 * MiB);
    let now = 0;
    const reducer = new HeapReducer(heap, {
      growthBytes: 8 * MiB,
      minIntervalMs: 10_000,
      now: () => now,
    });
    const collected = c.steps.map((step) => {
      now = step.at;
      if (step.heapMiB !== undefined) heap.bytes = step.heapMiB * MiB;
      const before = heap.bytes;
      const reduction = step.do === 'ready' ? reducer.ready() : reducer.check(step.do);
      if (reduction !== undefined) {
        t.equal(reduction.reason, step.do === 'ready' ? 'ready' : 'burst');
        t.same([reduction.beforeBytes, reduction.afterBytes], [before, 50 * MiB]);
        t.ok(reduction.pauseMs >= 0);
      }
      return reduction !== undefined;
    });
    t.same(collected, c.collected);
    t.equal(heap.collections, c.collected.filter(Boolean).length);
  });
}

t.test('startHeapReductions: at ready, then after a burst the loop was busy for', async (t) => {
  const logged: { reason: string; beforeMiB: number; afterMiB: number }[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as Reduction & {
          msg: string;
          beforeMiB: number;
          afterMiB: number;
        };
        if (entry.msg === 'heap reduced') logged.push(entry);
      },
    },
  );
  const heap = fakeHeap(50 * MiB);
  let share = 0; // the loop's busy share over each check interval
  let isReady = false;
  const reductions = startHeapReductions(() => isReady, logger, {
    heap,
    utilization: () => share,
    checkIntervalMs: 5,
    reducer: { minIntervalMs: 0 },
  });
  if (reductions === undefined) throw new Error('no reductions with a heap');
  t.teardown(() => {
    reductions.stop();
  });
  const until = async (what: string, done: () => boolean): Promise<void> => {
    const started = Date.now();
    while (!done()) {
      if (Date.now() - started > 5_000) throw new Error(`no ${what} within 5 s`);
      await setTimeout(5);
    }
  };

  reductions.published();
  await setTimeout(30);
  t.same(logged, [], 'nothing while the agent is not ready');
  isReady = true;
  heap.bytes = 90 * MiB;
  reductions.published();
  await until('reduction at ready', () => logged.length === 1);
  t.match(logged, [{ reason: 'ready', beforeMiB: 90, afterMiB: 50 }]);

  heap.bytes = 60 * MiB; // an idle agent's heap grows too
  await setTimeout(30);
  t.equal(logged.length, 1, 'growth alone, the loop quiet: nothing');
  share = 0.5; // a burst
  await setTimeout(30);
  t.equal(logged.length, 1, 'nothing while the loop is busy');
  share = 0.01; // over
  await until('reduction after the burst', () => logged.length === 2);
  t.match(logged[1], { reason: 'burst', beforeMiB: 60, afterMiB: 50 });
  reductions.published();
  await setTimeout(30);
  t.equal(logged.length, 2, 'the ready reduction runs once; quiet again, nothing more');
});

// The real collection, in processes of their own: with the flag the image sets and without.
const HERE = fileURLToPath(new URL('.', import.meta.url));
const PROBE = [
  "const { v8Heap } = await import('./heap-reducer.ts');",
  'const heap = v8Heap();',
  'if (heap === undefined) { console.log("undefined"); process.exit(0); }',
  // Old-space garbage with survivors spread over its pages, as a sync leaves it: every object is
  // held until it has been promoted, then all but one in fifty are let go.
  'let all = [];',
  'for (let i = 0; i < 400_000; i++) all.push({ i, s: "x".repeat(i % 64) });',
  'const keep = all.filter((_, i) => i % 50 === 0);',
  'all = undefined;',
  'const before = heap.committedBytes();',
  'heap.collect();',
  'console.log(JSON.stringify({ before, after: heap.committedBytes(), kept: keep.length }));',
].join('\n');

t.test('v8Heap: undefined without --expose-gc', async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', PROBE],
    { cwd: HERE, env: { ...process.env, NODE_OPTIONS: '' } },
  );
  t.equal(stdout.trim(), 'undefined');
});

t.test('v8Heap: with --expose-gc, a collection gives back what the garbage held', async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', PROBE],
    { cwd: HERE, env: { ...process.env, NODE_OPTIONS: '' } },
  );
  const { before, after, kept } = JSON.parse(stdout) as {
    before: number;
    after: number;
    kept: number;
  };
  t.equal(kept, 8000, 'what is still referenced survives');
  t.ok(after < before, `committed heap ${before} -> ${after} bytes`);
});

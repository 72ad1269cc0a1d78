import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { HeapReducer, type HeapPort } from './heap-reducer.ts';

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
interface Step {
  readonly do: 'ready' | 'check';
  readonly at: number;
  readonly heapMiB?: number;
}

// Each case: steps on one reducer (growth 16 MiB, interval 60 s, heap back to 50 MiB when
// collected), and which of them collected.
const CASES: readonly { name: string; steps: readonly Step[]; collected: readonly boolean[] }[] = [
  {
    name: 'nothing before ready: the first sync is still growing the heap',
    steps: [{ do: 'check', at: 70_000, heapMiB: 300 }],
    collected: [false],
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
    name: 'growth below 16 MiB since the last reduction is left to V8',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'check', at: 120_000, heapMiB: 50 + 15.9 },
    ],
    collected: [true, false],
  },
  {
    name: '16 MiB of growth after the interval collects, and resets the baseline',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'check', at: 60_000, heapMiB: 66 },
      { do: 'check', at: 130_000, heapMiB: 60 },
      { do: 'check', at: 200_000, heapMiB: 70 },
    ],
    collected: [true, true, false, true],
  },
  {
    name: 'growth within the interval waits for it',
    steps: [
      { do: 'ready', at: 0 },
      { do: 'check', at: 59_999, heapMiB: 300 },
      { do: 'check', at: 60_000, heapMiB: 300 },
    ],
    collected: [true, false, true],
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const heap = fakeHeap(50 * MiB);
    let now = 0;
    const reducer = new HeapReducer(heap, {
      growthBytes: 16 * MiB,
      minIntervalMs: 60_000,
      now: () => now,
    });
    const collected = c.steps.map((step) => {
      now = step.at;
      if (step.heapMiB !== undefined) heap.bytes = step.heapMiB * MiB;
      const before = heap.bytes;
      const reduction = step.do === 'ready' ? reducer.ready() : reducer.check();
      if (reduction !== undefined) {
        t.equal(reduction.reason, step.do === 'ready' ? 'ready' : 'grown');
        t.same([reduction.beforeBytes, reduction.afterBytes], [before, 50 * MiB]);
        t.ok(reduction.pauseMs >= 0);
      }
      return reduction !== undefined;
    });
    t.same(collected, c.collected);
    t.equal(heap.collections, c.collected.filter(Boolean).length);
  });
}

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

// The reconcile after a new listing (bench/reconcile.ts measureListingReconcile) in a process of
// its own, so that it runs with the Node flags it is given: the agent's pauses depend on
// NODE_OPTIONS' young generation size (--max-semi-space-size), which the benchmark's own
// process does not have. Prints the Measured as JSON on stdout.
import { measureListingReconcile } from '../reconcile.ts';
import type { MeasureOptions } from './measure.ts';
import { buildScenario } from './scenario.ts';

const [images, pods, options] = JSON.parse(process.argv[2] ?? '[]') as [
  number,
  number,
  MeasureOptions,
];
const measured = await measureListingReconcile(buildScenario({ images, pods }), options);
process.stdout.write(JSON.stringify(measured));

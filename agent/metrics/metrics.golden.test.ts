// The whole pullwatch_* part of /metrics for the fixture node, compared with a golden file so
// every metric change shows up as a plain diff in review (node_exporter's e2e-output.txt).
// Regenerate with: UPDATE_GOLDEN=1 npx tap agent/metrics/metrics.golden.test.ts
import { readFile, writeFile } from 'node:fs/promises';
import t from 'tap';
import { fakeView } from '../../test/kit/http/fake-view.ts';
import { createMetricsRegistry } from './registry.ts';
import { pullwatchFamilies } from '../../test/kit/metrics.ts';

const goldenFile = new URL('./testdata/metrics.golden.txt', import.meta.url);
const fixedBuild = { version: '1.2.3', revision: 'abc1234', nodejsVersion: 'v24.0.0' };

t.test('the fixture node exposes exactly the golden pullwatch_* families', async (t) => {
  const registry = createMetricsRegistry(fakeView(), { buildInfo: fixedBuild });
  const actual = pullwatchFamilies(await registry.metrics());
  if (process.env['UPDATE_GOLDEN'] === '1') {
    await writeFile(goldenFile, actual);
    t.comment(`wrote ${goldenFile.pathname}`);
  }
  const golden = await readFile(goldenFile, 'utf8');
  t.equal(actual, golden, 'differs from testdata/metrics.golden.txt (UPDATE_GOLDEN=1 rewrites it)');
});

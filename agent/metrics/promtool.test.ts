// `promtool check metrics` (Prometheus' own linter) on the real /metrics output: names,
// units, HELP texts, counter suffixes. Skipped when promtool is not installed, except in CI.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import t from 'tap';
import { fakeView } from '../../test/kit/http/fake-view.ts';
import { createMetricsRegistry } from './registry.ts';

async function findPromtool(): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat('/usr/bin')) {
    const candidate = `${dir}/promtool`;
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function checkMetrics(
  promtool: string,
  exposition: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, output });
    });
    child.stdin.end(exposition);
  });
}

const promtool = await findPromtool();
const inCi = process.env['CI'] === 'true';

const skip =
  promtool === undefined && !inCi
    ? 'promtool is not installed (Debian package prometheus); with CI=true this fails'
    : false;

t.test('promtool finds nothing to object to in the whole /metrics output', { skip }, async (t) => {
  if (promtool === undefined) {
    t.fail('promtool is missing and CI=true: install the Debian package prometheus');
    return;
  }
  const registry = createMetricsRegistry(fakeView());
  const result = await checkMetrics(promtool, await registry.metrics());
  t.equal(result.code, 0, `promtool check metrics exit code (output: ${result.output})`);
  t.equal(result.output.trim(), '', 'no lint messages');
});

t.test('promtool does flag a gauge named like a counter', { skip }, async (t) => {
  if (promtool === undefined) return;
  const result = await checkMetrics(
    promtool,
    '# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 1\n',
  );
  t.not(result.code, 0, 'a lint problem is a non-zero exit');
  t.match(result.output, /non-counter metrics should not have "_total" suffix/);
});

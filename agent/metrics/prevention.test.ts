// pullwatch_unprevented_pods: the pods the admission webhook did not prevent, by namespace.
import t from 'tap';
import type { Finding } from '../detect/finding.ts';
import { FINDINGS, fakeView } from '../../test/kit/http/fake-view.ts';
import { unpreventedPods } from './prevention.ts';
import { createMetricsRegistry } from './registry.ts';
import { samples } from '../../test/kit/metrics.ts';

const use = FINDINGS.find((f) => f.rule === 'unauthorized-cached-image-use');
const exposed = FINDINGS.find((f) => f.rule === 'private-image-exposed');
if (use?.rule !== 'unauthorized-cached-image-use' || exposed === undefined)
  throw new Error('the fixture lacks a finding');
const at = (
  namespace: string,
  podUid: string,
  container: string,
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never' = 'IfNotPresent',
): Finding => ({ ...use, id: `${podUid}/${container}`, namespace, podUid, container, pullPolicy });

const cases: readonly { name: string; findings: Finding[]; expected: [string, number][] }[] = [
  { name: 'no finding: no series', findings: [], expected: [] },
  {
    name: 'two containers of one pod count one pod',
    findings: [at('team-b', 'p1', 'app'), at('team-b', 'p1', 'sidecar')],
    expected: [['team-b', 1]],
  },
  {
    name: 'pods are counted per namespace',
    findings: [
      at('team-b', 'p1', 'app'),
      at('team-b', 'p2', 'app'),
      at('team-c', 'p3', 'app', 'Never'),
    ],
    expected: [
      ['team-b', 2],
      ['team-c', 1],
    ],
  },
  {
    name: 'an Always container is one the webhook forced (or its owner chose): not counted',
    findings: [at('team-b', 'p1', 'app', 'Always')],
    expected: [],
  },
  { name: 'other rules are not admissions', findings: [exposed], expected: [] },
];

t.test('unprevented pods, case by case', async (t) => {
  for (const c of cases) t.same([...unpreventedPods(c.findings)], c.expected, c.name);
});

t.test('the fixture node exposes them by namespace', async (t) => {
  const registry = createMetricsRegistry(fakeView());
  const series = await samples(registry, 'pullwatch_unprevented_pods');
  t.same(series.map((s) => [s.labels['namespace'], s.value]).sort(), [
    ['team-b', 2],
    ['team-c-dev', 1],
  ]);
});

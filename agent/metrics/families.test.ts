// What each metric family reports for a given state of the node, one named case at a time.
import { register as globalRegistry } from 'prom-client';
import t from 'tap';
import type { Finding } from '../detect/finding.ts';
import { RULES, SEVERITIES } from '../detect/finding.ts';
import type { TenantId } from '../model/snapshot.ts';
import { FAKE_PROTECTION, FINDINGS, FIXED_NOW, fakeView } from '../../test/kit/http/fake-view.ts';
import { DROPPED_DEFAULT_METRICS } from './default-metrics.ts';
import { createMetricsRegistry } from './registry.ts';
import { sampleValue, samples } from '../../test/kit/metrics.ts';

t.test('metrics live in their own registry, never in prom-client’s global one', async (t) => {
  const before = globalRegistry.getMetricsAsArray().length;
  const registry = createMetricsRegistry(fakeView());
  t.equal(globalRegistry.getMetricsAsArray().length, before);
  t.ok(registry.getSingleMetric('pullwatch_up'));
  t.ok(registry.getSingleMetric('process_cpu_seconds_total'), 'process metrics are included');
  t.ok(registry.getSingleMetric('nodejs_heap_size_used_bytes'), 'Node.js metrics are included');
});

t.test('two registries can coexist (one per test, one per agent)', async (t) => {
  const a = createMetricsRegistry(fakeView());
  const b = createMetricsRegistry(fakeView());
  t.not(a, b);
  t.equal(await sampleValue(b, 'pullwatch_up', { source: 'cri' }), 1);
});

t.test(
  'the gauges prom-client names like counters are left out; their per-type gauges stay',
  async (t) => {
    const registry = createMetricsRegistry(fakeView());
    for (const name of DROPPED_DEFAULT_METRICS) {
      t.equal(registry.getSingleMetric(name), undefined, `${name} is not exposed`);
    }
    t.ok(registry.getSingleMetric('nodejs_active_handles'));
    t.ok(registry.getSingleMetric('nodejs_active_resources'));
  },
);

t.test('no series carries a node label: Prometheus adds it by relabeling', async (t) => {
  const text = await createMetricsRegistry(fakeView()).metrics();
  t.notMatch(text, /[{,]node="/);
});

t.test('a node without findings reports every rule and severity as zero', async (t) => {
  const registry = createMetricsRegistry(fakeView({ findings: [] }));
  const all = await samples(registry, 'pullwatch_findings');
  t.equal(all.length, RULES.length * SEVERITIES.length);
  t.ok(all.every((s) => s.value === 0));
});

t.test('findings are counted by rule and severity', async (t) => {
  const registry = createMetricsRegistry(fakeView());
  const value = (rule: string, severity: string) =>
    sampleValue(registry, 'pullwatch_findings', { rule, severity });
  t.equal(await value('unauthorized-cached-image-use', 'high'), 2);
  t.equal(await value('unauthorized-cached-image-use', 'critical'), 1);
  t.equal(await value('private-image-exposed', 'medium'), 1);
  t.equal(await value('always-pull-images-not-enforced', 'low'), 1);
  t.equal(await value('always-pull-images-not-enforced', 'high'), 0);
});

t.test('a finding that goes away leaves its info series and its count', async (t) => {
  const view = fakeView();
  const registry = createMetricsRegistry(view);
  t.equal((await samples(registry, 'pullwatch_finding_info')).length, FINDINGS.length);
  view.state.findings = FINDINGS.filter((f) => f.rule !== 'private-image-exposed');
  t.equal((await samples(registry, 'pullwatch_finding_info')).length, FINDINGS.length - 1);
  t.equal(
    await sampleValue(registry, 'pullwatch_findings', {
      rule: 'private-image-exposed',
      severity: 'medium',
    }),
    0,
  );
});

t.test('finding info names the workload, the image and the owning tenants', async (t) => {
  const tenant = (name: string) => name as TenantId;
  const first = FINDINGS[0];
  if (first?.rule !== 'unauthorized-cached-image-use') throw new Error('fixture');
  const twoOwners: Finding = {
    ...first,
    owners: [
      { tenant: tenant('team-z'), namespace: 'team-z', secret: 'z' },
      { tenant: tenant('team-a'), namespace: 'team-a', secret: 'a' },
      { tenant: tenant('team-z'), namespace: 'team-z-2', secret: null },
    ],
  };
  const registry = createMetricsRegistry(fakeView({ findings: [twoOwners] }));
  const [series] = await samples(registry, 'pullwatch_finding_info');
  t.same(series?.labels, {
    rule: 'unauthorized-cached-image-use',
    severity: 'high',
    confidence: 'confirmed',
    namespace: 'team-b',
    pod: 'reports-6d5f',
    container: 'main',
    image: 'registry.example.com/team-a/billing:1.4',
    image_id: twoOwners.imageId,
    owner_tenants: 'team-a,team-z',
  });
  t.equal(series?.value, 1);
});

t.test('finding info is capped, keeping the most severe and certain findings', async (t) => {
  const registry = createMetricsRegistry(fakeView(), { maxFindingInfoSeries: 2 });
  const kept = await samples(registry, 'pullwatch_finding_info');
  t.same(
    kept.map((s) => [s.labels['severity'], s.labels['confidence']]),
    [
      ['critical', 'likely'],
      ['high', 'confirmed'],
    ],
  );
  t.equal(await sampleValue(registry, 'pullwatch_finding_info_dropped'), FINDINGS.length - 2);
});

t.test('below the cap nothing is dropped, and the dropped gauge says 0', async (t) => {
  const registry = createMetricsRegistry(fakeView());
  t.equal(await sampleValue(registry, 'pullwatch_finding_info_dropped'), 0);
});

t.test('finding info can be turned off entirely', async (t) => {
  const registry = createMetricsRegistry(fakeView(), { findingInfo: false });
  t.equal(registry.getSingleMetric('pullwatch_finding_info'), undefined);
  t.equal(registry.getSingleMetric('pullwatch_finding_info_dropped'), undefined);
  t.ok(registry.getSingleMetric('pullwatch_findings'), 'the counts stay');
});

t.test('a cap that is not a non-negative integer is refused', async (t) => {
  t.throws(() => createMetricsRegistry(fakeView(), { maxFindingInfoSeries: -1 }), RangeError);
  t.throws(() => createMetricsRegistry(fakeView(), { maxFindingInfoSeries: 1.5 }), RangeError);
});

t.test('a failing, stale source shows as down and stale, with its last good sync', async (t) => {
  const view = fakeView();
  view.setSource('cri', { up: false, stale: true, lastError: 'connection refused' });
  const registry = createMetricsRegistry(view);
  t.equal(await sampleValue(registry, 'pullwatch_up', { source: 'cri' }), 0);
  t.equal(await sampleValue(registry, 'pullwatch_source_stale', { source: 'cri' }), 1);
  t.equal(await sampleValue(registry, 'pullwatch_up', { source: 'kubernetes' }), 1);
  t.equal(
    await sampleValue(registry, 'pullwatch_source_last_sync_timestamp_seconds', { source: 'cri' }),
    (FIXED_NOW - 5_000) / 1000,
  );
});

t.test('a source never read reports its last sync as 0', async (t) => {
  const view = fakeView();
  view.setSource('kubernetes', { up: false, lastSync: undefined });
  const registry = createMetricsRegistry(view);
  const series = await samples(registry, 'pullwatch_source_last_sync_timestamp_seconds');
  t.same(
    series.map((s) => [s.labels['source'], s.value]),
    [
      ['cri', (FIXED_NOW - 5_000) / 1000],
      ['kubernetes', 0],
    ],
  );
});

t.test('error counters start at zero for every source', async (t) => {
  const registry = createMetricsRegistry(fakeView({ errorsTotal: new Map() }));
  t.same(
    (await samples(registry, 'pullwatch_errors_total')).map((s) => [s.labels['source'], s.value]),
    [
      ['cri', 0],
      ['kubernetes', 0],
    ],
  );
});

t.test('cached images and bytes are summed by visibility', async (t) => {
  const registry = createMetricsRegistry(fakeView({ images: [] }));
  t.same(
    (await samples(registry, 'pullwatch_cached_images')).map((s) => s.value),
    [0, 0, 0],
    'an empty cache still reports every visibility',
  );
  const full = createMetricsRegistry(fakeView());
  t.equal(await sampleValue(full, 'pullwatch_cached_image_bytes', { visibility: 'public' }), 72e6);
  t.equal(await sampleValue(full, 'pullwatch_cached_images', { visibility: 'private' }), 1);
});

t.test('each new scan is observed once, however often it is scraped', async (t) => {
  const view = fakeView({ lastScan: undefined });
  const registry = createMetricsRegistry(view);
  const histogramCount = async () =>
    (await samples(registry, 'pullwatch_scan_duration_seconds')).find(
      (s) => s.metricName === 'pullwatch_scan_duration_seconds_count',
    )?.value;
  t.equal(await histogramCount(), 0, 'no scan yet: no observations');
  t.equal(await sampleValue(registry, 'pullwatch_last_scan_timestamp_seconds'), 0, 'never: 0');

  view.state.lastScan = { at: FIXED_NOW, durationSeconds: 0.2 };
  t.equal(await histogramCount(), 1);
  t.equal(await histogramCount(), 1, 'a second scrape of the same scan observes nothing');
  view.state.lastScan = { at: FIXED_NOW + 1_000, durationSeconds: 3 };
  t.equal(await histogramCount(), 2);
  t.equal(
    await sampleValue(registry, 'pullwatch_last_scan_timestamp_seconds'),
    FIXED_NOW / 1000 + 1,
  );
});

t.test('build info is 1 with the version, revision and Node.js version', async (t) => {
  const registry = createMetricsRegistry(fakeView(), {
    buildInfo: { version: '9.9.9', revision: 'deadbeef', nodejsVersion: 'v24.1.0' },
  });
  t.same(await samples(registry, 'pullwatch_build_info'), [
    { labels: { version: '9.9.9', revision: 'deadbeef', nodejs_version: 'v24.1.0' }, value: 1 },
  ]);
});

t.test('node protection is one info series with the current posture', async (t) => {
  const view = fakeView();
  const registry = createMetricsRegistry(view);
  view.state.protection = {
    ...FAKE_PROTECTION,
    alwaysPullImages: 'enforced',
    kubeletPolicy: 'AlwaysVerify',
    protectedBy: 'always-pull-images',
  };
  t.same(await samples(registry, 'pullwatch_node_protection_info'), [
    {
      labels: {
        protected_by: 'always-pull-images',
        always_pull_images: 'enforced',
        kubelet_verification: 'on',
        kubelet_policy: 'AlwaysVerify',
        webhook: 'unknown',
      },
      value: 1,
    },
  ]);
});

t.test('counters copy the view’s totals, and registry probes by result', async (t) => {
  const registry = createMetricsRegistry(fakeView());
  t.equal(
    await sampleValue(registry, 'pullwatch_findings_detected_total', {
      rule: 'unauthorized-cached-image-use',
    }),
    7,
  );
  t.equal(await sampleValue(registry, 'pullwatch_registry_probes_total', { result: 'denied' }), 4);
});

t.test('a scan with a negative duration (the clock stepped) is not observed', async (t) => {
  const view = fakeView({ lastScan: { at: FIXED_NOW, durationSeconds: -0.5 } });
  const registry = createMetricsRegistry(view);
  const all = await samples(registry, 'pullwatch_scan_duration_seconds');
  t.equal(all.find((s) => s.metricName === 'pullwatch_scan_duration_seconds_count')?.value, 0);
  t.equal(await sampleValue(registry, 'pullwatch_last_scan_timestamp_seconds'), FIXED_NOW / 1000);
});

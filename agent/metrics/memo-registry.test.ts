// Families rendered once per input: reused while the inputs are the same objects, rendered
// again on the first scrape after any of them changes, and laid out as prom-client lays out
// a registry.
import { Gauge, Registry } from 'prom-client';
import { sleep } from '../../test/helpers/wait.ts';
import t from 'tap';
import { placeOf, type Finding } from '../detect/finding.ts';
import { FINDINGS, IMAGES, fakeView } from '../../test/kit/http/fake-view.ts';
import type { FakeView } from '../../test/kit/http/fake-view.ts';
import type { ImageView } from '../view.ts';
import { MemoRegistry } from './memo-registry.ts';
import { createMetricsRegistry } from './registry.ts';
import { pullwatchFamilies } from '../../test/kit/metrics.ts';

/** A registry with one memoized family over `inputs` and one plain family; counts renders. */
function twoFamilies(inputs: () => readonly unknown[]) {
  const registry = new MemoRegistry();
  const renders = { memoized: 0, plain: 0 };
  new Gauge({
    name: 'memoized',
    help: 'm',
    registers: [registry],
    collect() {
      renders.memoized += 1;
      this.set(inputs().length);
    },
  });
  new Gauge({
    name: 'plain',
    help: 'p',
    registers: [registry],
    collect() {
      renders.plain += 1;
      this.set(renders.plain);
    },
  });
  registry.renderOncePer('memoized', inputs);
  return { registry, renders };
}

t.test('a memoized family is rendered again exactly when its inputs change', async (t) => {
  const a = { name: 'a' };
  const b = { name: 'b' };
  const cases: { name: string; next: readonly unknown[]; renders: boolean }[] = [
    { name: 'a new array with the same elements', next: [a, b], renders: false },
    { name: 'one element replaced by an equal copy', next: [a, { ...b }], renders: true },
    { name: 'the same elements in another order', next: [b, a], renders: true },
    { name: 'one element fewer', next: [a], renders: true },
    { name: 'one element more', next: [a, b, a], renders: true },
    { name: 'no elements', next: [], renders: true },
  ];
  for (const c of cases) {
    let current: readonly unknown[] = [a, b];
    const { registry, renders } = twoFamilies(() => current);
    await registry.metrics();
    t.equal(renders.memoized, 1, `${c.name}: first scrape renders`);
    await registry.metrics();
    t.equal(renders.memoized, 1, `${c.name}: same inputs, not rendered again`);
    current = c.next;
    const text = await registry.metrics();
    t.equal(renders.memoized, c.renders ? 2 : 1, c.name);
    t.match(text, new RegExp(`^memoized ${String(c.next.length)}$`, 'm'), `${c.name}: served`);
    t.equal(renders.plain, 3, `${c.name}: the plain family is rendered on every scrape`);
  }
});

t.test('inputs that change in place are seen: elements are compared, not the array', async (t) => {
  const a = { name: 'a' };
  const inputs: unknown[] = [a];
  const { registry, renders } = twoFamilies(() => inputs);
  await registry.metrics();
  inputs.push({ name: 'b' });
  t.match(await registry.metrics(), /^memoized 2$/m);
  t.equal(renders.memoized, 2);
});

t.test('the text is laid out exactly as prom-client lays out a registry', async (t) => {
  const { registry } = twoFamilies(() => [1, 2, 3]);
  const memoized = await registry.metrics();
  // prom-client's own metrics() on the same registry renders every family itself.
  const byPromClient = await Registry.prototype.metrics.call(registry);
  // The plain family counts its renders: the second rendering shows 2 where the first showed 1.
  t.equal(byPromClient.replace(/^plain 2$/m, 'plain 1'), memoized);
});

/** The pullwatch_* text of a registry built now, which has never rendered anything. */
async function freshlyRendered(view: FakeView): Promise<string> {
  return pullwatchFamilies(await createMetricsRegistry(view, { defaultMetrics: false }).metrics());
}

const changedFinding = (index: number, change: Partial<Finding>): readonly Finding[] =>
  FINDINGS.map((f, i) => (i === index ? ({ ...f, ...change } as Finding) : f));

t.test('a scrape right after a change shows it, as a fresh registry would', async (t) => {
  const cases: { name: string; change: (view: FakeView) => void; shows: RegExp }[] = [
    {
      name: 'a finding retired',
      change: (view) => (view.state.findings = FINDINGS.slice(1)),
      shows: /^pullwatch_findings\{rule="unauthorized-cached-image-use",severity="high"\} 1$/m,
    },
    {
      name: 'a finding detected',
      change: (view) =>
        (view.state.findings = [...FINDINGS, { ...(FINDINGS[0] as Finding), id: 'f-new' }]),
      shows: /^pullwatch_findings\{rule="unauthorized-cached-image-use",severity="high"\} 3$/m,
    },
    {
      name: 'a finding whose severity changed (same id, new object)',
      change: (view) => (view.state.findings = changedFinding(0, { severity: 'low' })),
      shows: /^pullwatch_finding_info\{rule="unauthorized-cached-image-use",severity="low",/m,
    },
    {
      name: 'a finding whose pod changed',
      change: (view) => (view.state.findings = changedFinding(0, { pod: 'renamed' })),
      shows: /,pod="renamed",/,
    },
    {
      name: 'no findings at all',
      change: (view) => (view.state.findings = []),
      shows: /^pullwatch_finding_info_dropped 0$/m,
    },
    {
      name: 'an image left the cache',
      change: (view) => (view.state.images = IMAGES.slice(1)),
      shows: /^pullwatch_cached_images\{visibility="private"\} 0$/m,
    },
    {
      name: 'an image judged private now',
      change: (view) =>
        (view.state.images = IMAGES.map((image): ImageView => ({
          ...image,
          visibility: 'private',
        }))),
      shows: /^pullwatch_cached_images\{visibility="private"\} 3$/m,
    },
  ];
  for (const c of cases) {
    const view = fakeView();
    const registry = createMetricsRegistry(view, { defaultMetrics: false });
    const before = pullwatchFamilies(await registry.metrics());
    t.equal(pullwatchFamilies(await registry.metrics()), before, `${c.name}: unchanged before`);
    c.change(view);
    const after = pullwatchFamilies(await registry.metrics());
    t.not(after, before, c.name);
    t.match(after, c.shows, c.name);
    t.equal(after, await freshlyRendered(view), `${c.name}: what a fresh registry renders`);
  }
});

t.test('an agent handing out a new array of the same findings: not rendered again', async (t) => {
  let ownerReads = 0;
  // Rendering a finding's info series reads its owners; comparing inputs does not.
  const counted = FINDINGS.map((finding) => {
    const copy = { ...finding };
    return Object.defineProperty(copy, 'owners', {
      get: () => {
        ownerReads += 1;
        return placeOf(finding).owners;
      },
    });
  });
  const view = fakeView({ findings: counted });
  view.findings = () => [...counted];
  const registry = createMetricsRegistry(view, { defaultMetrics: false });
  const first = await registry.metrics();
  const readsForOneRendering = ownerReads;
  t.ok(readsForOneRendering > 0);
  t.equal(await registry.metrics(), first);
  t.equal(ownerReads, readsForOneRendering, 'the second scrape rendered no finding');
});

t.test('the event-loop lag summary is read at most once a second', async (t) => {
  const registry = createMetricsRegistry(fakeView());
  const lag = registry.getSingleMetric('nodejs_eventloop_lag_seconds') as unknown as {
    collect: () => void;
  };
  let reads = 0;
  const collect = lag.collect.bind(lag);
  lag.collect = () => {
    reads += 1;
    collect();
  };
  const untilNextSecond = () => sleep(1000 - (Date.now() % 1000) + 5);
  await untilNextSecond();
  await registry.metrics();
  await registry.metrics();
  t.equal(reads, 1, 'two scrapes in one second, one reading');
  await untilNextSecond();
  await registry.metrics();
  t.equal(reads, 2, 'a scrape in the next second reads again');
});

// The Grafana dashboard: its shape (uid, variables, the $datasource variable everywhere, a
// description on every panel), its kustomize component, and every one of its queries run by a
// real Prometheus that scrapes the real agent through the seed story. Each panel's expectation
// (data or no data) is stated in EXPECTED below; the alert rules are loaded into the same
// Prometheus and must fire on the story's finding.
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { requireTools, toolPath } from '../helpers/real-parts.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import type { PrometheusServer, Sample } from './prometheus.ts';
import { startPrometheus } from './prometheus.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import {
  NODE,
  playSeedStory,
  prepareSeed,
  TOOLS as SEED_STORY_TOOLS,
  waitFor,
} from '../helpers/seed-scenario.ts';
import { DASHBOARD, REPO, RULE_FILE, runTool } from './tools.ts';

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
  instant?: boolean;
  format?: string;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  definition?: string;
  datasource?: { uid?: string };
  allValue?: string;
}

interface Dashboard {
  uid: string;
  title: string;
  tags: string[];
  schemaVersion: number;
  __inputs?: unknown;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;

function queryPanels(panels: readonly Panel[] = dashboard.panels): Panel[] {
  return panels.flatMap((p) => (p.type === 'row' ? queryPanels(p.panels ?? []) : [p]));
}

/**
 * What each panel shows after the seed story (one agent on node-1, cluster "test", no
 * kube-state-metrics): `true` when every query returns series, `false` when none may, or per
 * query (refId). Every panel of the dashboard must be listed here.
 */
const EXPECTED: Readonly<Record<string, boolean | Readonly<Record<string, boolean>>>> = {
  'Unauthorized cached-image uses now': true,
  'Unauthorized uses detected in range': true,
  'Exposed private images': true,
  'Nodes without AlwaysPullImages': true,
  'Agents down': true,
  // kube_node_info comes from kube-state-metrics, which the scenario does not run.
  'Nodes without an agent': false,
  'Stalest source': true,
  'Unauthorized cached-image uses over time': true,
  'Findings detected': true,
  'Unauthorized uses by node, namespace and pod': true,
  'Unauthorized uses by tenant namespace': true,
  'Unauthorized uses by node': true,
  'Exposed private images by node': true,
  'Exposed private images over time': true,
  'Protection posture per node': true,
  'Posture across the fleet': true,
  'Cached images by visibility': true,
  'Cached image bytes by visibility': true,
  'Private images per node': true,
  'Agents and sources up': { A: true, B: true },
  'Scan duration p50 / p99': { A: true, B: true },
  'Source read errors': true,
  'Time since last successful read': true,
  'Registry probes': true,
  'Agent versions': true,
  'Findings left out of the tables': true,
};

function expectsData(panel: Panel, target: Target): boolean {
  const expected = EXPECTED[panel.title];
  if (typeof expected === 'boolean') return expected;
  const perQuery = expected?.[target.refId];
  if (perQuery === undefined) throw new Error(`EXPECTED lacks "${panel.title}" ${target.refId}`);
  return perQuery;
}

/** Grafana's variables as the test scenario sets them. */
const SCENARIO_VARIABLES: Readonly<Record<string, string>> = {
  datasource: 'prometheus',
  cluster: 'test',
  node: NODE,
  namespace: '.*',
  __rate_interval: '15s',
  __interval: '1s',
  __range: '5m',
};

/** Replaces `$name` and `${name}`; an unknown variable is a test failure, not a silent pass. */
function substitute(expr: string, variables: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? '';
    const value = variables[name];
    if (value === undefined) throw new Error(`the dashboard uses an unknown variable $${name}`);
    return value;
  });
}

t.test(
  'the dashboard has a stable uid, tags and a current schema, and no import inputs',
  async (t) => {
    t.equal(dashboard.uid, 'pullwatch-overview');
    t.equal(dashboard.title, 'pullwatch');
    t.ok(dashboard.tags.includes('pullwatch'));
    t.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
    t.equal(dashboard.__inputs, undefined, 'no __inputs: the data source is a variable');
    const ids = queryPanels().map((p) => p.id);
    t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const titles = queryPanels().map((p) => p.title);
    t.equal(new Set(titles).size, titles.length, 'panel titles are unique');
  },
);

t.test('the data source, cluster, node and namespace are variables', async (t) => {
  const byName = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  t.match(byName.get('datasource'), { type: 'datasource', query: 'prometheus' });
  for (const name of ['cluster', 'node', 'namespace']) {
    const variable = byName.get(name);
    t.equal(variable?.type, 'query', `${name} is a query variable`);
    t.equal(variable?.datasource?.uid, '${datasource}', `${name} asks the chosen data source`);
    t.match(variable?.definition, new RegExp(`^label_values\\(.*, ${name}\\)$`), name);
    t.equal(variable?.allValue, '.*', `${name}'s All matches series without the label too`);
  }
});

t.test('every panel queries the $datasource variable and says what it shows', async (t) => {
  for (const panel of queryPanels()) {
    t.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: panel data source`);
    t.ok((panel.description ?? '').length > 20, `${panel.title}: has a description`);
    t.ok((panel.targets ?? []).length > 0, `${panel.title}: has queries`);
    for (const target of panel.targets ?? []) {
      t.equal(target.datasource?.uid, '${datasource}', `${panel.title} ${target.refId}`);
    }
  }
});

t.test('rates and increases use $__rate_interval, or $__range for a total', async (t) => {
  for (const panel of queryPanels()) {
    for (const target of panel.targets ?? []) {
      const windows = [...target.expr.matchAll(/\b(?:rate|increase|irate)\([^[]*\[([^\]]+)\]/g)];
      for (const [, window] of windows) {
        t.ok(
          window === '$__rate_interval' || window === '$__range',
          `${panel.title} ${target.refId}: window ${window}`,
        );
      }
    }
  }
});

t.test('every panel has a stated expectation, and every expectation a panel', async (t) => {
  const titles = queryPanels().map((p) => p.title);
  t.same([...titles].sort(), Object.keys(EXPECTED).sort());
});

t.test('the kustomize component renders the dashboard as a sidecar ConfigMap', async (t) => {
  if (!requireTools(t, ['kubectl'])) return;
  const dir = await makeTempDir(t, 'kustomize');
  await writeFile(
    join(dir, 'kustomization.yaml'),
    YAML.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      components: [relative(dir, join(REPO, 'dashboards'))],
    }),
  );
  const result = await runTool(toolPath('kubectl'), [
    'kustomize',
    '--load-restrictor=LoadRestrictionsNone',
    dir,
  ]);
  t.equal(result.code, 0, result.output);
  const configMap = YAML.parse(result.output) as {
    kind: string;
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    data: Record<string, string>;
  };
  t.equal(configMap.kind, 'ConfigMap');
  t.same(configMap.metadata, {
    name: 'pullwatch-dashboard',
    namespace: 'pullwatch',
    labels: { grafana_dashboard: '1' },
  });
  t.equal(configMap.data['pullwatch.json'], await readFile(DASHBOARD, 'utf8'));
});

const first = (samples: readonly Sample[]) => samples[0];
const value = (sample: Sample | undefined) => Number(sample?.value[1]);

t.test(
  'every dashboard query runs on a real Prometheus scraping the agent through the seed story',
  async (t) => {
    if (!requireTools(t, [...SEED_STORY_TOOLS, 'prometheus', 'promtool'])) return;
    const dir = await makeTempDir(t, 'monitoring');
    const seed = await prepareSeed(t);
    const agent = await startAgentProcess(t, seed.agentOptions());
    const story = { agent, agentAddress: new URL(agent.url).host, image: seed.image };
    const prometheus: PrometheusServer = await startPrometheus(t, {
      dir,
      targets: [
        {
          job: 'pullwatch',
          address: story.agentAddress,
          labels: { node: NODE, cluster: 'test' },
        },
      ],
      ruleFiles: [RULE_FILE],
    });
    await waitFor(
      'Prometheus to scrape the agent',
      async () => value(first(await prometheus.query('up{job="pullwatch"}'))) === 1 || undefined,
      10_000,
    );

    const finding = await playSeedStory(seed, [agent]);
    t.match(finding, { namespace: 'tenant-b', pod: 'admin2-pod', severity: 'critical' });
    await waitFor(
      'the finding in Prometheus, with 5 s of scrapes for the rates',
      async () => {
        const info = await prometheus.query(
          'pullwatch_finding_info{rule="unauthorized-cached-image-use",namespace="tenant-b"}',
        );
        const scrapes = await prometheus.query('count_over_time(up{job="pullwatch"}[15s])');
        return info.length > 0 && value(first(scrapes)) >= 5 ? true : undefined;
      },
      15_000,
    );

    t.test('the variables list the scenario’s cluster, node and namespace', async (t) => {
      const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
      const listed = async (name: string) => {
        const definition = substitute(variables.get(name)?.definition ?? '', {
          cluster: '.*',
          node: '.*',
        });
        const m = /^label_values\((.*), (\w+)\)$/.exec(definition);
        return prometheus.labelValues(m?.[2] ?? '', m?.[1] ?? '');
      };
      t.same(await listed('cluster'), ['test']);
      t.same(await listed('node'), [NODE]);
      t.ok((await listed('namespace')).includes('tenant-b'), 'tenant-b has a finding');
    });

    const results = new Map<string, Sample[]>();
    for (const panel of queryPanels()) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr, SCENARIO_VARIABLES);
        const samples = await prometheus.query(expr).catch((error: unknown) => {
          t.fail(`${panel.title} ${target.refId}: ${String(error)}`);
          return [];
        });
        results.set(`${panel.title}/${target.refId}`, samples);
        const expected = expectsData(panel, target);
        t.equal(
          samples.length > 0,
          expected,
          `${panel.title} ${target.refId} ${expected ? 'returns data' : 'returns no data'}: ${expr}`,
        );
        if (target.expr.includes('$namespace')) {
          const forTenantB = await prometheus.query(
            substitute(target.expr, { ...SCENARIO_VARIABLES, namespace: 'tenant-b' }),
          );
          t.equal(forTenantB.length > 0, expected, `${panel.title}: namespace tenant-b`);
          const forTenantA = await prometheus.query(
            substitute(target.expr, { ...SCENARIO_VARIABLES, namespace: 'tenant-a' }),
          );
          t.same(forTenantA, [], `${panel.title}: tenant-a owns the image and uses nothing`);
        }
      }
    }

    t.test('the panels show the story: one use, by tenant-b, of tenant-a’s image', async (t) => {
      const samples = (key: string) => results.get(key) ?? [];
      t.equal(value(first(samples('Unauthorized cached-image uses now/A'))), 1);
      t.ok(value(first(samples('Unauthorized uses detected in range/A'))) >= 1);
      t.match(samples('Unauthorized uses by node, namespace and pod/A'), [
        {
          metric: {
            node: NODE,
            cluster: 'test',
            namespace: 'tenant-b',
            pod: 'admin2-pod',
            container: 'app',
            image: story.image,
            owner_tenants: 'tenant-a',
            severity: 'critical',
            confidence: 'confirmed',
          },
        },
      ]);
      t.match(samples('Unauthorized uses by tenant namespace/A'), [
        { metric: { namespace: 'tenant-b' }, value: [Number, '1'] },
      ]);
      t.ok(value(first(samples('Exposed private images/A'))) >= 1, 'an exposed image');
      t.match(samples('Exposed private images by node/A'), [
        { metric: { node: NODE, image: story.image, owner_tenants: 'tenant-a' } },
      ]);
      t.match(first(samples('Protection posture per node/A'))?.metric, {
        node: NODE,
        always_pull_images: 'not-enforced',
      });
      t.equal(value(first(samples('Nodes without AlwaysPullImages/A'))), 1);
      t.equal(value(first(samples('Agents down/A'))), 0);
      t.ok(value(first(samples('Private images per node/A'))) >= 1, 'the private image is cached');
      t.ok(value(first(samples('Stalest source/A'))) < 60, 'both sources read recently');
    });

    t.test('the alert rules fire on the story, and only the finding alerts', async (t) => {
      const alerts = await waitFor(
        'PullwatchUnauthorizedCachedImageUse to fire',
        async () => {
          const all = await prometheus.alerts();
          const fired = all.some(
            (a) =>
              a.labels['alertname'] === 'PullwatchUnauthorizedCachedImageUse' &&
              a.state === 'firing',
          );
          return fired ? all : undefined;
        },
        10_000,
      );
      const byName = (name: string) => alerts.filter((a) => a.labels['alertname'] === name);
      t.match(byName('PullwatchUnauthorizedCachedImageUse'), [
        {
          state: 'firing',
          labels: {
            severity: 'critical',
            node: NODE,
            namespace: 'tenant-b',
            pod: 'admin2-pod',
            container: 'app',
            image: story.image,
            owner_tenants: 'tenant-a',
          },
          annotations: {
            summary: `Pod tenant-b/admin2-pod runs another tenant's private image from the image cache of node ${NODE}`,
          },
        },
      ]);
      t.match(byName('PullwatchPrivateImageExposed'), [
        { state: 'pending', labels: { image: story.image, owner_tenants: 'tenant-a' } },
      ]);
      t.match(byName('PullwatchAlwaysPullImagesNotEnforced'), [
        { state: 'pending', labels: { node: NODE } },
      ]);
      const health = alerts.filter(
        (a) =>
          !/UnauthorizedCachedImageUse|PrivateImageExposed|AlwaysPullImagesNotEnforced/.test(
            a.labels['alertname'] ?? '',
          ),
      );
      t.same(health, [], 'no agent health alert: the agent and its sources are fine');
    });

    t.test('promtool check metrics finds nothing wrong in the agent’s real /metrics', async (t) => {
      const { status, body } = await story.agent.getText('/metrics');
      t.equal(status, 200);
      t.match(body, /pullwatch_finding_info\{/);
      const result = await runTool(toolPath('promtool'), ['check', 'metrics'], body);
      t.equal(result.code, 0, result.output);
      t.equal(result.output.trim(), '', 'no lint messages');
    });
  },
);

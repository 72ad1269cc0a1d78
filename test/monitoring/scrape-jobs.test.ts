// The scrape jobs the alert rules' promtool tests feed are the jobs a cluster has: each is the
// name of a Service (a ServiceMonitor's job, test/deploy/manifests.test.ts checks the selection)
// and a job of the plain scrape configs in docs/monitoring.md and docs/metrics.md, which carry
// the target labels the alerts group by. Issue 14: nothing scraped the controller, so its
// alerts never fired.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { REPO, readYaml } from './tools.ts';

interface ScrapeConfig {
  readonly job_name: string;
  readonly scheme?: string;
  readonly relabel_configs?: readonly {
    readonly source_labels?: readonly string[];
    readonly target_label?: string;
  }[];
}

/** `job` of every pullwatch_* input series of the promtool rule tests (not kube-state-metrics'). */
async function jobsTheRuleTestsFeed(): Promise<Set<string>> {
  const dir = join(REPO, 'test/monitoring/rules-tests');
  const jobs = new Set<string>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const [, job] of text.matchAll(/series: '?pullwatch_\w*\{[^}]*\bjob="([^"]+)"/g)) {
      if (job) jobs.add(job);
    }
  }
  return jobs;
}

/** The scrape configs in a page's YAML code blocks (a `scrape_configs:` file or a bare list). */
async function documentedScrapeConfigs(page: string): Promise<ScrapeConfig[]> {
  const text = await readFile(join(REPO, page), 'utf8');
  const documents = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap(([, block]) =>
    YAML.parseAllDocuments(block ?? '').map((d) => d.toJS() as unknown),
  );
  return documents.flatMap((parsed) => {
    const list = Array.isArray(parsed)
      ? parsed
      : ((parsed as { scrape_configs?: unknown[] } | null)?.scrape_configs ?? []);
    return (list as (Partial<ScrapeConfig> | null)[]).filter(
      (c): c is ScrapeConfig => typeof c?.job_name === 'string',
    );
  });
}

const relabelsInto = (config: ScrapeConfig | undefined, source: string, target: string) =>
  config?.relabel_configs?.some(
    (r) => r.source_labels?.includes(source) === true && r.target_label === target,
  ) === true;

t.test('the rule tests feed the agents’ and the controller’s jobs', async (t) => {
  t.same([...(await jobsTheRuleTestsFeed())].sort(), ['pullwatch', 'pullwatch-controller']);
});

t.test('each job is the name of a Service, the job a ServiceMonitor gives', async (t) => {
  const names = await Promise.all(
    ['service.yaml', 'controller-service.yaml'].map(async (file) => {
      const service = (await readYaml(join(REPO, 'manifests/base', file))) as {
        metadata: { name: string };
      };
      return service.metadata.name;
    }),
  );
  for (const job of await jobsTheRuleTestsFeed()) t.ok(names.includes(job), job);
});

for (const page of ['docs/monitoring.md', 'docs/metrics.md']) {
  t.test(`${page}: the plain scrape configs scrape every job the rules read`, async (t) => {
    const configs = await documentedScrapeConfigs(page);
    for (const job of await jobsTheRuleTestsFeed()) {
      t.ok(
        configs.some((c) => c.job_name === job),
        `a scrape job named ${job}`,
      );
    }
    const agents = configs.find((c) => c.job_name === 'pullwatch');
    t.ok(
      relabelsInto(agents, '__meta_kubernetes_pod_node_name', 'node'),
      'the agents’ targets name their node (every agent alert groups by it)',
    );
    const controller = configs.find((c) => c.job_name === 'pullwatch-controller');
    t.equal(controller?.scheme, 'https', 'the controller serves only HTTPS');
    t.ok(
      relabelsInto(controller, '__meta_kubernetes_namespace', 'namespace'),
      'the controller’s targets name its namespace (PullwatchWebhookRegistryErrors groups by it)',
    );
  });
}

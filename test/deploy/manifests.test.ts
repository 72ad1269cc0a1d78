// The install manifests as `kubectl apply -k` would send them: every kustomization under
// manifests/ is rendered by the real kustomize (bundled in kubectl), every object is checked
// against the Kubernetes schemas for its apiVersion and kind (and the prometheus-operator CRD
// schemas), and the properties the agent relies on are asserted on the rendered DaemonSet, RBAC,
// Service, NetworkPolicy and monitoring objects. The agent's own config loader parses the
// rendered args and ConfigMap, so the manifests and the code cannot drift apart.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as clientNode from '@kubernetes/client-node';
import t from 'tap';
import YAML from 'yaml';
import type { IIoK8sApiCoreV1Container as Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1Volume as Volume } from 'kubernetes-models/v1/Volume';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { loadConfig } from '../../agent/config.ts';
import { OPEN_PATHS } from '../../agent/http/auth.ts';
import { findTool, requireTools } from '../helpers/real-parts.ts';
import type { SkipOrFail } from '../helpers/real-parts.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
};

interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** What each installable kustomization must run: runtime socket, kubelet root. */
interface RuntimeExpectation {
  readonly criEndpoint: string;
  readonly kubeletRoot: string;
}

const CONTAINERD: RuntimeExpectation = {
  criEndpoint: 'unix:///run/containerd/containerd.sock',
  kubeletRoot: '/var/lib/kubelet',
};

const INSTALLS: Readonly<Record<string, RuntimeExpectation>> = {
  manifests: CONTAINERD,
  'manifests/overlays/crio': {
    criEndpoint: 'unix:///var/run/crio/crio.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  'manifests/overlays/k3s': {
    criEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
    kubeletRoot: '/var/lib/kubelet',
  },
  'manifests/overlays/microk8s': {
    criEndpoint: 'unix:///var/snap/microk8s/common/run/containerd.sock',
    kubeletRoot: '/var/snap/microk8s/common/var/lib/kubelet',
  },
  'manifests/overlays/monitoring': CONTAINERD,
};

const EXAMPLES = ['manifests/examples/prometheus-rbac', 'manifests/examples/security-team-rbac'];

const NAMESPACE = 'pullwatch';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
const STANDARD_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
];

// ---------------------------------------------------------------------------------------------
// kubectl and kustomize

/** kubectl's bundled kustomize must be v5: older ones reject `components` and `labels`. */
async function requireModernKustomize(t: SkipOrFail, kubectl: string): Promise<boolean> {
  const { stdout } = await exec(kubectl, ['version', '--client', '-o', 'json']);
  const info = JSON.parse(stdout) as {
    clientVersion?: { gitVersion?: string };
    kustomizeVersion?: string;
  };
  const major = Number(/^v(\d+)\./.exec(info.kustomizeVersion ?? '')?.[1] ?? 0);
  if (major >= 5) return true;
  const message =
    `kubectl ${info.clientVersion?.gitVersion ?? '?'} bundles kustomize ` +
    `${info.kustomizeVersion ?? 'v2 or older'}; the manifests need kustomize v5 ` +
    `(kubectl 1.27 or newer; Debian's kubernetes-client 1.20 is too old)`;
  if (process.env.CI === 'true') t.fail(`CI=true and the manifests cannot be rendered: ${message}`);
  else t.plan(0, `skipped: ${message}`);
  return false;
}

async function render(kubectl: string, dir: string): Promise<KubeObject[]> {
  const { stdout } = await exec(kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
  return YAML.parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as unknown)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

// ---------------------------------------------------------------------------------------------
// Schemas

interface ValidatingModel {
  validate(): void;
}
type ModelConstructor = new (data: unknown) => ValidatingModel;

/** The kubernetes-models class for an apiVersion/kind, or undefined when none ships. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelConstructor | undefined> {
  const specifier = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const model = module[kind];
  return typeof model === 'function' ? (model as ModelConstructor) : undefined;
}

/** The JSON schema errors of an object, as "path message" lines (empty when valid). */
async function schemaErrors(object: KubeObject): Promise<string[]> {
  const Model = await modelFor(object.apiVersion, object.kind);
  if (Model === undefined) return [`no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

interface AttributeType {
  readonly baseName: string;
  readonly type: string;
}
interface GeneratedModel {
  getAttributeTypeMap(): readonly AttributeType[];
}

function generatedModel(type: string): GeneratedModel | undefined {
  const candidate = (clientNode as unknown as Record<string, unknown>)[type];
  if (typeof candidate !== 'function') return undefined;
  const model = candidate as unknown as Partial<GeneratedModel>;
  return typeof model.getAttributeTypeMap === 'function' ? (model as GeneratedModel) : undefined;
}

/**
 * Fields the API server does not know. JSON schemas of the Kubernetes OpenAPI allow extra
 * properties, but `kubectl apply` (strict field validation) refuses them, and a misspelled
 * security field would otherwise be dropped silently. client-node's generated models list
 * every field of every built-in type.
 */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1] !== undefined) {
    const itemType = array[1];
    return Array.isArray(value)
      ? value.flatMap((item, i) => unknownFields(item, itemType, `${path}[${i}]`))
      : [];
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined) {
    const valueType = map[1];
    return typeof value === 'object'
      ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, valueType, `${path}.${k}`))
      : [];
  }
  const model = generatedModel(type);
  if (model === undefined || typeof value !== 'object') return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined
      ? [`${path}.${key} is not a field of ${type}`]
      : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

/** The client-node type of a built-in object (V1DaemonSet ...), undefined for CRDs. */
function builtInType(object: KubeObject): string | undefined {
  const version = object.apiVersion.split('/').at(-1) ?? '';
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
  return generatedModel(type) === undefined ? undefined : type;
}

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects

/** The object types the tests read, by kind. */
interface Kinds {
  ClusterRole: IClusterRole;
  ClusterRoleBinding: IClusterRoleBinding;
  ConfigMap: IConfigMap;
  DaemonSet: IDaemonSet;
  Namespace: INamespace;
  NetworkPolicy: INetworkPolicy;
  PrometheusRule: IPrometheusRule;
  Service: IService;
  ServiceAccount: IServiceAccount;
  ServiceMonitor: IServiceMonitor;
}

function only<K extends keyof Kinds>(
  objects: readonly KubeObject[],
  kind: K,
  name?: string,
): Kinds[K] {
  const found = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  }
  return found[0] as unknown as Kinds[K];
}

function agentContainer(ds: IDaemonSet): Container {
  const container = ds.spec?.template.spec?.containers.find((c) => c.name === 'pullwatch');
  if (container === undefined) throw new Error('the DaemonSet has no container "pullwatch"');
  return container;
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const prefix = `--${flag}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

interface HostMount {
  readonly volume: Volume;
  readonly hostPath: string;
  readonly hostPathType: string | undefined;
  readonly mountPath: string;
  readonly readOnly: boolean;
  readonly propagation: string | undefined;
}

function hostMounts(ds: IDaemonSet): HostMount[] {
  const volumes = ds.spec?.template.spec?.volumes ?? [];
  return (agentContainer(ds).volumeMounts ?? []).flatMap((mount) => {
    const volume = volumes.find((v) => v.name === mount.name);
    if (volume?.hostPath === undefined) return [];
    return [
      {
        volume,
        hostPath: volume.hostPath.path,
        hostPathType: volume.hostPath.type,
        mountPath: mount.mountPath,
        readOnly: mount.readOnly === true,
        propagation: mount.mountPropagation,
      },
    ];
  });
}

/** The host mount that contains `path` (a path inside the container), deepest first. */
function mountHolding(ds: IDaemonSet, path: string): HostMount | undefined {
  return hostMounts(ds)
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

/** Reads a file of the container from the ConfigMap volume mounted over it. */
function readMountedConfigMap(
  objects: readonly KubeObject[],
  ds: IDaemonSet,
  path: string,
): string {
  const volumes = ds.spec?.template.spec?.volumes ?? [];
  for (const mount of agentContainer(ds).volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    if (volume?.configMap === undefined || !path.startsWith(`${mount.mountPath}/`)) continue;
    const configMap = only(objects, 'ConfigMap', volume.configMap.name);
    const text = configMap.data?.[posix.relative(mount.mountPath, path)];
    if (text !== undefined) return text;
  }
  throw new Error(`${path} is not a key of a ConfigMap mounted into the agent`);
}

function ruleTriples(role: IClusterRole): string[] {
  return (role.rules ?? []).flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.map((verb) => `${group === '' ? 'core' : group}/${resource}: ${verb}`),
      ),
    ),
  );
}

function labelsMatch(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

// ---------------------------------------------------------------------------------------------

t.test('the install manifests', async (t) => {
  if (!requireTools(t, ['kubectl'], { root: false })) return;
  const kubectl = findTool('kubectl') ?? 'kubectl';
  if (!(await requireModernKustomize(t, kubectl))) return;

  const rendered = new Map<string, KubeObject[]>();
  for (const dir of [...Object.keys(INSTALLS), ...EXAMPLES]) {
    rendered.set(dir, await render(kubectl, join(REPO, dir)));
  }
  const renderedOf = (dir: string): KubeObject[] => rendered.get(dir) ?? [];
  const base = renderedOf('manifests');
  const baseDs = only(base, 'DaemonSet', 'pullwatch');

  t.test('every object is valid Kubernetes: schemas and no unknown fields', async (t) => {
    for (const [dir, objects] of rendered) {
      t.ok(objects.length > 0, `${dir} renders objects`);
      for (const object of objects) {
        const where = `${dir}: ${object.kind} ${object.metadata.name}`;
        t.same(await schemaErrors(object), [], `${where} matches its schema`);
        const type = builtInType(object);
        if (type !== undefined) {
          t.same(unknownFields(object, type, object.kind), [], `${where} has no unknown fields`);
        } else {
          // CRD schemas (prometheus-operator) come without a field list; built-ins all have one.
          t.match(object.apiVersion, /^monitoring\.coreos\.com\//, `${where} is a known CRD`);
        }
      }
    }
  });

  t.test('the schema check catches a wrong field, so its passes mean something', async (t) => {
    const broken = structuredClone(baseDs) as unknown as {
      spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
    };
    const port = broken.spec.template.spec.containers[0]?.ports[0];
    if (port) port.containerPort = 'http';
    t.not((await schemaErrors(broken as unknown as KubeObject)).length, 0);
    const misspelled = structuredClone(baseDs) as unknown as {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    const container = misspelled.spec.template.spec.containers[0];
    if (container) container.securityContext = { readOnlyRootFileSystem: true };
    t.match(unknownFields(misspelled, 'V1DaemonSet', 'DaemonSet'), [
      /readOnlyRootFileSystem is not a field of V1SecurityContext/,
    ]);
  });

  for (const [dir, runtime] of Object.entries(INSTALLS)) {
    const objects = renderedOf(dir);
    const ds = only(objects, 'DaemonSet', 'pullwatch');
    const container = agentContainer(ds);
    const podSpec = ds.spec?.template.spec;
    const args = container.args ?? [];

    t.test(`${dir}: everything namespaced lands in the pullwatch namespace`, async (t) => {
      for (const o of objects) {
        t.equal(
          o.metadata.namespace,
          CLUSTER_SCOPED.has(o.kind) ? undefined : NAMESPACE,
          `${o.kind} ${o.metadata.name}`,
        );
      }
      const ns = only(objects, 'Namespace');
      t.equal(ns.metadata?.name, NAMESPACE);
      // hostPath volumes and uid 0 are refused by baseline and restricted.
      t.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    });

    t.test(`${dir}: the DaemonSet runs on every node, tainted and control-plane too`, async (t) => {
      t.same(podSpec?.tolerations, [{ operator: 'Exists' }]);
      t.notOk(podSpec?.nodeSelector, 'no node selector');
      t.notOk(podSpec?.affinity, 'no affinity');
      t.same(ds.spec?.updateStrategy, {
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: '10%', maxSurge: 0 },
      });
    });

    t.test(`${dir}: the agent knows its node from the downward API`, async (t) => {
      const env = container.env?.find((e) => e.name === 'NODE_NAME');
      t.same(env?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    });

    t.test(`${dir}: the runtime socket is reached through its directory, read-only`, async (t) => {
      const endpoint = flagValue(args, 'cri-endpoint');
      t.equal(endpoint, runtime.criEndpoint);
      const socket = (endpoint ?? '').replace(/^unix:\/\//, '');
      const mount = mountHolding(ds, socket);
      if (mount === undefined) {
        t.fail(`no hostPath volume holds ${socket}`);
        return;
      }
      t.equal(mount.mountPath, posix.dirname(socket), 'the socket directory itself is mounted');
      t.not(mount.mountPath, socket, 'not the socket file (a stale inode after a restart)');
      t.equal(mount.hostPath, mount.mountPath, 'mounted at the same path as on the host');
      t.equal(mount.hostPathType, 'Directory');
      t.ok(mount.readOnly, 'read-only');
      t.equal(
        mount.propagation,
        'HostToContainer',
        "the host's unmounts of container filesystems below it reach the agent",
      );
    });

    t.test(`${dir}: the kubelet's pull records are mounted read-only`, async (t) => {
      t.equal(flagValue(args, 'kubelet-root'), runtime.kubeletRoot);
      const records = `${runtime.kubeletRoot}/image_manager`;
      const mount = mountHolding(ds, records);
      t.equal(mount?.mountPath, records, 'only image_manager, not the whole kubelet root');
      t.equal(mount?.hostPath, records);
      t.ok(mount?.readOnly, 'read-only');
    });

    t.test(`${dir}: only the state directory is writable on the host`, async (t) => {
      t.equal(flagValue(args, 'state-dir'), '/var/lib/pullwatch');
      const writable = hostMounts(ds).filter((m) => !m.readOnly);
      t.same(
        writable.map((m) => [m.hostPath, m.mountPath, m.hostPathType]),
        [['/var/lib/pullwatch', '/var/lib/pullwatch', 'DirectoryOrCreate']],
      );
    });

    t.test(`${dir}: the agent's own config loader accepts the args and ConfigMap`, async (t) => {
      t.equal(args[0], 'run', 'args replace the image CMD, so they start with the command');
      const plainEnv = Object.fromEntries(
        (container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
      );
      const config = loadConfig(args.slice(1), { ...plainEnv, NODE_NAME: 'node-a' }, (path) =>
        readMountedConfigMap(objects, ds, path),
      );
      if (!config.ok) {
        t.fail(config.error);
        return;
      }
      t.equal(config.value['node-name'], 'node-a');
      t.equal(config.value.auth, 'kubernetes', 'the API and /metrics need a token');
      t.equal(config.value['cri-endpoint'], runtime.criEndpoint);
      const port = container.ports?.find((p) => p.name === 'http');
      t.equal(port?.containerPort, config.value.listen.port, 'containerPort is where it listens');
    });

    t.test(`${dir}: probes use the unauthenticated health paths`, async (t) => {
      const probes = {
        liveness: container.livenessProbe,
        readiness: container.readinessProbe,
        startup: container.startupProbe,
      };
      t.equal(probes.liveness?.httpGet?.path, '/livez');
      t.equal(probes.readiness?.httpGet?.path, '/readyz');
      for (const [name, probe] of Object.entries(probes)) {
        const path = probe?.httpGet?.path ?? '';
        t.ok(OPEN_PATHS.has(path), `${name} probe ${path} needs no token (the kubelet has none)`);
        t.equal(probe?.httpGet?.port, 'http', `${name} probe targets the http port`);
      }
    });

    t.test(`${dir}: the container is locked down apart from running as root`, async (t) => {
      const sc = container.securityContext;
      t.equal(sc?.runAsUser, 0, 'uid 0: the runtime socket and kubelet records are root-only');
      t.equal(sc?.readOnlyRootFilesystem, true);
      t.equal(sc?.allowPrivilegeEscalation, false);
      t.not(sc?.privileged, true);
      t.same(sc?.capabilities, { drop: ['ALL'] });
      t.equal(
        (sc?.seccompProfile ?? podSpec?.securityContext?.seccompProfile)?.type,
        'RuntimeDefault',
      );
      for (const hostNamespace of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
        t.not(podSpec?.[hostNamespace], true, `no ${hostNamespace}`);
      }
    });

    t.test(`${dir}: resources follow the benchmark`, async (t) => {
      t.same(container.resources, {
        requests: { cpu: '10m', memory: '192Mi' },
        limits: { memory: '512Mi' },
      });
    });

    t.test(`${dir}: standard labels, and the version matches the image`, async (t) => {
      for (const labels of [ds.metadata?.labels, ds.spec?.template.metadata?.labels]) {
        for (const key of STANDARD_LABELS) t.ok(labels?.[key], `${key} is set`);
      }
      t.equal(ds.metadata?.labels?.['app.kubernetes.io/version'], PACKAGE.version);
      t.equal(container.image?.split(':').at(-1), PACKAGE.version, 'image tag');
      t.same(ds.spec?.selector.matchLabels, {
        'app.kubernetes.io/name': 'pullwatch',
        'app.kubernetes.io/instance': 'pullwatch',
      });
    });

    t.test(`${dir}: RBAC grants exactly what the agent uses`, async (t) => {
      const role = only(objects, 'ClusterRole', 'pullwatch');
      t.same(
        ruleTriples(role).sort(),
        [
          'authentication.k8s.io/tokenreviews: create',
          'authorization.k8s.io/subjectaccessreviews: create',
          'core/events: list',
          'core/namespaces: get',
          'core/namespaces: list',
          'core/namespaces: watch',
          'core/pods: get',
          'core/pods: list',
          'core/pods: watch',
          'core/secrets: get',
        ],
        'secrets: get only, never list or watch',
      );
      t.notOk(
        (role.rules ?? []).some((r) => r.nonResourceURLs ?? r.resourceNames),
        'no extra rules',
      );
      const binding = only(objects, 'ClusterRoleBinding', 'pullwatch');
      t.same(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'pullwatch',
      });
      t.same(binding.subjects, [
        { kind: 'ServiceAccount', name: podSpec?.serviceAccountName, namespace: NAMESPACE },
      ]);
      only(objects, 'ServiceAccount', podSpec?.serviceAccountName);
    });

    t.test(`${dir}: the Service exposes port 9746 as http`, async (t) => {
      const service = only(objects, 'Service', 'pullwatch');
      t.same(
        service.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
        [['http', 9746, 'http']],
      );
      t.ok(labelsMatch(service.spec?.selector, ds.spec?.template.metadata?.labels));
    });

    t.test(`${dir}: the network policy admits only labelled clients`, async (t) => {
      const policy = only(objects, 'NetworkPolicy', 'pullwatch');
      const spec = policy.spec;
      t.ok(labelsMatch(spec?.podSelector?.matchLabels, ds.spec?.template.metadata?.labels));
      t.same(spec?.policyTypes, ['Ingress', 'Egress']);
      for (const rule of spec?.ingress ?? []) {
        t.same(rule.ports, [{ port: 'http', protocol: 'TCP' }]);
        for (const peer of rule.from ?? []) {
          t.ok(
            Object.keys(peer.namespaceSelector?.matchLabels ?? {}).length > 0,
            'every source names a namespace label (none is open to all)',
          );
          t.notOk(peer.ipBlock, 'no address ranges');
        }
      }
      t.same(spec?.egress, [{}], 'egress open: API server, DNS, registries');
    });

    if (dir !== 'manifests') {
      t.test(`${dir}: differs from the base only in the runtime's paths`, async (t) => {
        const normalized = structuredClone(ds);
        const normalizedContainer = agentContainer(normalized);
        normalizedContainer.args = args.map((a) =>
          a.startsWith('--cri-endpoint=')
            ? `--cri-endpoint=${CONTAINERD.criEndpoint}`
            : a.startsWith('--kubelet-root=')
              ? `--kubelet-root=${CONTAINERD.kubeletRoot}`
              : a,
        );
        const toBase = (path: string) =>
          path
            .replace(posix.dirname(runtime.criEndpoint.slice('unix://'.length)), '/run/containerd')
            .replace(runtime.kubeletRoot, CONTAINERD.kubeletRoot);
        for (const m of normalizedContainer.volumeMounts ?? []) m.mountPath = toBase(m.mountPath);
        for (const v of normalized.spec?.template.spec?.volumes ?? []) {
          if (v.hostPath) v.hostPath.path = toBase(v.hostPath.path);
        }
        t.same(normalized, baseDs);
        t.same(
          objects.filter(
            (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('pullwatch-config'),
          ),
          base.filter((o) => o.kind === 'ConfigMap'),
          'same settings',
        );
      });
    }
  }

  t.test('monitoring: the ServiceMonitor scrapes every agent with a token', async (t) => {
    const objects = renderedOf('manifests/overlays/monitoring');
    const monitor = only(objects, 'ServiceMonitor', 'pullwatch');
    const service = only(objects, 'Service', 'pullwatch');
    t.ok(labelsMatch(monitor.spec.selector.matchLabels, service.metadata?.labels), 'selects it');
    t.notOk(monitor.spec.jobLabel, 'job is the Service name, as the alert rules expect');
    t.equal(service.metadata?.name, 'pullwatch');
    t.equal(monitor.spec.endpoints?.length, 1);
    const endpoint = monitor.spec.endpoints?.[0];
    t.ok(
      service.spec?.ports?.some((p) => p.name === endpoint?.port),
      'the endpoint port is a Service port',
    );
    t.equal(endpoint?.path, '/metrics');
    t.ok(
      endpoint?.bearerTokenFile !== undefined || endpoint?.authorization?.credentials !== undefined,
      'sends a bearer token (the agent refuses anonymous scrapes)',
    );
    t.ok(
      endpoint?.relabelings?.some(
        (r) =>
          r.sourceLabels?.includes('__meta_kubernetes_pod_node_name') && r.targetLabel === 'node',
      ),
      'puts the node name in a node label',
    );
    only(objects, 'PrometheusRule');
  });

  t.test('monitoring: the Grafana dashboard ConfigMap is picked up by the sidecar', async (t) => {
    const objects = renderedOf('manifests/overlays/monitoring');
    const dashboard = only(objects, 'ConfigMap', 'pullwatch-dashboard');
    t.equal(dashboard.metadata?.labels?.grafana_dashboard, '1');
    const json = JSON.parse(dashboard.data?.['pullwatch.json'] ?? 'null') as {
      panels?: unknown[];
    } | null;
    t.ok(Array.isArray(json?.panels), 'holds a dashboard with panels');
  });

  t.test('the RBAC examples grant the paths the agent checks', async (t) => {
    const rulesOf = (dir: string, name: string) => only(renderedOf(dir), 'ClusterRole', name).rules;
    t.same(rulesOf('manifests/examples/prometheus-rbac', 'pullwatch-metrics-reader'), [
      { nonResourceURLs: ['/metrics'], verbs: ['get'] },
    ]);
    t.same(rulesOf('manifests/examples/security-team-rbac', 'pullwatch-api-reader'), [
      { nonResourceURLs: ['/api/*'], verbs: ['get'] },
    ]);
    t.notOk(OPEN_PATHS.has('/metrics'), '/metrics is not open, so the reader role matters');
  });

  t.test('an overlay as docs/install.md writes it: namespace, image, resources', async (t) => {
    // kustomize takes directories at any relative path (not absolute ones), so a temp dir works.
    const dir = await makeTempDir(t, 'kustomize-overlay');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'kustomization.yaml'),
      YAML.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        namespace: 'security-tools',
        resources: [relative(dir, join(REPO, 'manifests/overlays/k3s'))],
        images: [
          { name: 'ghcr.io/pullwatch/pullwatch', newName: 'registry.example.com/pullwatch' },
        ],
        patches: [
          {
            target: { kind: 'DaemonSet', name: 'pullwatch' },
            patch: YAML.stringify([
              {
                op: 'replace',
                path: '/spec/template/spec/containers/0/resources/limits/memory',
                value: '256Mi',
              },
            ]),
          },
        ],
      }),
    );
    const objects = await render(kubectl, dir);
    for (const o of objects) {
      if (!CLUSTER_SCOPED.has(o.kind)) t.equal(o.metadata.namespace, 'security-tools', o.kind);
    }
    t.equal(only(objects, 'Namespace').metadata?.name, 'security-tools');
    t.same(
      only(objects, 'ClusterRoleBinding').subjects?.[0]?.namespace,
      'security-tools',
      'the binding follows the service account',
    );
    const container = agentContainer(only(objects, 'DaemonSet'));
    t.equal(container.image, `registry.example.com/pullwatch:${PACKAGE.version}`);
    t.equal(container.resources?.limits?.memory, '256Mi');
    t.equal(
      flagValue(container.args ?? [], 'cri-endpoint'),
      INSTALLS['manifests/overlays/k3s']?.criEndpoint,
    );
  });

  t.test('an overlay as docs/install.md writes it: settings and monitoring', async (t) => {
    const dir = await makeTempDir(t, 'kustomize-overlay');
    const config = readFileSync(join(REPO, 'manifests/base/config.yaml'), 'utf8').replace(
      '# tenant-label: example.com/tenant',
      'tenant-label: example.com/tenant',
    );
    await writeFile(join(dir, 'config.yaml'), config);
    const jsonPatch = (kind: string, operations: unknown[]) => ({
      target: { kind, name: 'pullwatch' },
      patch: YAML.stringify(operations),
    });
    await writeFile(
      join(dir, 'kustomization.yaml'),
      YAML.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(dir, join(REPO, 'manifests/overlays/monitoring'))],
        configMapGenerator: [
          { name: 'pullwatch-config', behavior: 'replace', files: ['config.yaml'] },
        ],
        patches: [
          jsonPatch('ServiceMonitor', [
            { op: 'add', path: '/metadata/labels/release', value: 'kube-prometheus-stack' },
            { op: 'remove', path: '/spec/endpoints/0/bearerTokenFile' },
            {
              op: 'add',
              path: '/spec/endpoints/0/authorization',
              value: {
                type: 'Bearer',
                credentials: { name: 'pullwatch-scraper-token', key: 'token' },
              },
            },
          ]),
          jsonPatch('PrometheusRule', [
            { op: 'add', path: '/metadata/labels/release', value: 'kube-prometheus-stack' },
          ]),
          jsonPatch('NetworkPolicy', [
            {
              op: 'add',
              path: '/spec/ingress/0/from/-',
              value: {
                namespaceSelector: {
                  matchLabels: { 'kubernetes.io/metadata.name': 'observability' },
                },
              },
            },
          ]),
          jsonPatch('DaemonSet', [
            {
              op: 'add',
              path: '/spec/template/spec/priorityClassName',
              value: 'system-node-critical',
            },
          ]),
        ],
      }),
    );
    const objects = await render(kubectl, dir);
    for (const object of objects) {
      t.same(await schemaErrors(object), [], `${object.kind} ${object.metadata.name} is valid`);
    }
    const ds = only(objects, 'DaemonSet');
    t.equal(ds.spec?.template.spec?.priorityClassName, 'system-node-critical');
    const loaded = loadConfig(agentContainer(ds).args?.slice(1) ?? [], { NODE_NAME: 'n' }, (path) =>
      readMountedConfigMap(objects, ds, path),
    );
    t.equal(loaded.ok && loaded.value['tenant-label'], 'example.com/tenant', 'the new settings');
    const monitor = only(objects, 'ServiceMonitor');
    t.equal(monitor.metadata?.labels?.release, 'kube-prometheus-stack');
    t.same(monitor.spec.endpoints?.[0]?.authorization, {
      type: 'Bearer',
      credentials: { name: 'pullwatch-scraper-token', key: 'token' },
    });
    t.equal(only(objects, 'PrometheusRule').metadata?.labels?.release, 'kube-prometheus-stack');
    t.equal(only(objects, 'NetworkPolicy').spec?.ingress?.[0]?.from?.length, 3);
  });
});

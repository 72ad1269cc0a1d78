// The install manifests as `kubectl apply -k` would send them: every kustomization under
// manifests/ (and the base with each component) is rendered by the real kustomize (bundled in
// kubectl), every object is checked against the Kubernetes schemas for its apiVersion and kind
// (and the prometheus-operator and cert-manager CRD schemas), and the properties the agent and
// the controller rely on are asserted on the rendered DaemonSet, Deployment, RBAC, Services,
// NetworkPolicies and monitoring objects. The agent's and the controller's own config loaders
// parse the rendered args, environment and ConfigMaps, so manifests and code cannot drift apart.

import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import YAML from 'yaml';
import type { IIoK8sApiCoreV1Container as Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1Volume as Volume } from 'kubernetes-models/v1/Volume';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IIoK8sApiRbacV1PolicyRule as PolicyRule } from 'kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IIoK8sApiCoreV1PodTemplateSpec as PodTemplate } from 'kubernetes-models/v1/PodTemplateSpec';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { loadConfig } from '../../agent/config.ts';
import { loadControllerConfig } from '../../agent/controller/config.ts';
import { serviceNames } from '../../agent/controller/serving-certificate.ts';
import { OPEN_PATHS } from '../../agent/http/auth.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { builtInType, crdGroup, schemaErrors, unknownFields } from './kube-schemas.ts';
import { kubectlForManifests, render } from './kustomize.ts';
import type { KubeObject } from './kustomize.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
};

/** What each installable kustomization must run: runtime socket, kubelet root. */
interface RuntimeExpectation {
  readonly criEndpoint: string;
  readonly kubeletRoot: string;
  /** The kubelet configuration file and drop-in directory mounted for --kubelet-config auto. */
  readonly kubeletConfig?: readonly string[];
}

/** kubeadm's file and the drop-in directory the kubelet's documentation uses. */
const KUBEADM_KUBELET_CONFIG = ['/var/lib/kubelet/config.yaml', '/etc/kubernetes/kubelet.conf.d'];

const CONTAINERD: RuntimeExpectation = {
  criEndpoint: 'unix:///run/containerd/containerd.sock',
  kubeletRoot: '/var/lib/kubelet',
  kubeletConfig: KUBEADM_KUBELET_CONFIG,
};

const INSTALLS: Readonly<Record<string, RuntimeExpectation>> = {
  manifests: CONTAINERD,
  'manifests/overlays/crio': {
    criEndpoint: 'unix:///var/run/crio/crio.sock',
    kubeletRoot: '/var/lib/kubelet',
    kubeletConfig: KUBEADM_KUBELET_CONFIG,
  },
  'manifests/overlays/k3s': {
    criEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
    kubeletRoot: '/var/lib/kubelet',
    kubeletConfig: ['/var/lib/rancher/k3s/agent/etc/kubelet.conf.d'],
  },
  // MicroK8s configures its kubelet with flags: no configuration file to mount.
  'manifests/overlays/microk8s': {
    criEndpoint: 'unix:///var/snap/microk8s/common/run/containerd.sock',
    kubeletRoot: '/var/snap/microk8s/common/var/lib/kubelet',
    kubeletConfig: [],
  },
  'manifests/overlays/monitoring': CONTAINERD,
  'manifests/overlays/cert-manager': CONTAINERD,
};

const EXAMPLES = ['manifests/examples/prometheus-rbac', 'manifests/examples/security-team-rbac'];

/** Every component, each rendered on top of the base (as an overlay of one's own would). */
const COMPONENTS = readdirSync(join(REPO, 'manifests/components'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `manifests/components/${entry.name}`)
  .sort();
/** The opt-in component that gives the agents `secrets: get` back (docs/security.md). */
const DIRECT_SECRETS = 'manifests/components/direct-secrets';
const withBase = (component: string) => `${component} (on the base)`;

const NAMESPACE = 'pullwatch';
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);
/**
 * Cluster-scoped kinds that kustomize takes for namespaced and gives the namespace of
 * `namespace:` (kubernetes-sigs/kustomize#6051: its scope table predates them; kubectl 1.32
 * bundles kustomize v5.5). The API
 * server clears the namespace of a cluster-scoped object it creates
 * (EnsureObjectNamespaceMatchesRequestNamespace in k8s.io/apiserver registry/rest), so
 * `kubectl apply -k` works all the same.
 */
const NAMESPACED_BY_KUSTOMIZE = new Set([
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);
/** The namespace kustomize writes on an object of `kind` when `namespace:` is `namespace`. */
const renderedNamespace = (kind: string, namespace: string): string | undefined =>
  CLUSTER_SCOPED.has(kind) && !NAMESPACED_BY_KUSTOMIZE.has(kind) ? undefined : namespace;
const CONTROLLER = 'pullwatch-controller';
/** The controller's --tls-secret default, which the cert-manager component fills. */
const CONTROLLER_TLS = 'pullwatch-controller-tls';
const STANDARD_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
];

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects

/** The object types the tests read, by kind. */
interface Kinds {
  Certificate: CertManagerObject;
  ClusterRole: IClusterRole;
  ClusterRoleBinding: IClusterRoleBinding;
  ConfigMap: IConfigMap;
  DaemonSet: IDaemonSet;
  Deployment: IDeployment;
  Issuer: CertManagerObject;
  Namespace: INamespace;
  NetworkPolicy: INetworkPolicy;
  PodDisruptionBudget: IPodDisruptionBudget;
  PrometheusRule: IPrometheusRule;
  Role: IRole;
  RoleBinding: IRoleBinding;
  Service: IService;
  ServiceAccount: IServiceAccount;
  ServiceMonitor: IServiceMonitor;
}

/** The fields of cert-manager's Issuer and Certificate the tests read. */
interface CertManagerObject extends KubeObject {
  readonly spec: {
    readonly selfSigned?: object;
    readonly ca?: { readonly secretName: string };
    readonly isCA?: boolean;
    readonly secretName?: string;
    readonly dnsNames?: readonly string[];
    readonly usages?: readonly string[];
    readonly issuerRef?: { readonly name: string; readonly kind?: string; readonly group?: string };
  };
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

function controllerContainer(deployment: IDeployment): Container {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'controller');
  if (container === undefined) throw new Error('the Deployment has no container "controller"');
  return container;
}

/**
 * The container's environment as the kubelet would set it on `node`: plain values and the
 * downward API fields the manifests use.
 */
function containerEnv(
  container: Container,
  pod: { readonly namespace: string; readonly node: string },
): Record<string, string> {
  const fields: Readonly<Record<string, string>> = {
    'metadata.namespace': pod.namespace,
    'spec.nodeName': pod.node,
  };
  return Object.fromEntries(
    (container.env ?? []).flatMap((e) => {
      const value = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''];
      if (value === undefined) throw new Error(`env ${e.name}: no value the test knows`);
      return [[e.name, value]];
    }),
  );
}

/** Where the file a container sees at `path` comes from: a ConfigMap's key or a projected token. */
type MountedSource =
  | { readonly kind: 'configMap'; readonly name: string; readonly key: string }
  | { readonly kind: 'token'; readonly audience: string | undefined; readonly seconds?: number };

function mountedSource(
  template: PodTemplate,
  container: Container,
  path: string,
): MountedSource | undefined {
  const volumes = template.spec?.volumes ?? [];
  for (const mount of container.volumeMounts ?? []) {
    if (!path.startsWith(`${mount.mountPath}/`)) continue;
    const file = posix.relative(mount.mountPath, path);
    const volume = volumes.find((v) => v.name === mount.name);
    if (volume?.configMap !== undefined) {
      const { name, items } = volume.configMap;
      const key = items === undefined ? file : items.find((i) => i.path === file)?.key;
      return key === undefined ? undefined : { kind: 'configMap', name: name ?? '', key };
    }
    const token = volume?.projected?.sources
      ?.map((s) => s.serviceAccountToken)
      .find((s) => s?.path === file);
    if (token !== undefined)
      return {
        kind: 'token',
        audience: token.audience,
        ...(token.expirationSeconds === undefined ? {} : { seconds: token.expirationSeconds }),
      };
  }
  return undefined;
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

/** Reads a file of the agent from the ConfigMap volume mounted over it. */
function readMountedConfigMap(
  objects: readonly KubeObject[],
  ds: IDaemonSet,
  path: string,
): string {
  return readConfigMapFile(objects, ds.spec?.template ?? {}, agentContainer(ds), path);
}

/** Reads a file of a container from the ConfigMap volume mounted over it. */
function readConfigMapFile(
  objects: readonly KubeObject[],
  template: PodTemplate,
  container: Container,
  path: string,
): string {
  const source = mountedSource(template, container, path);
  if (source?.kind === 'configMap') {
    const text = only(objects, 'ConfigMap', source.name).data?.[source.key];
    if (text !== undefined) return text;
  }
  throw new Error(`${path} is not a key of a ConfigMap mounted into ${container.name}`);
}

/** `group/resource: verb`, with ` [names]` when the rule is limited to names. */
function ruleTriples(role: { readonly rules?: readonly PolicyRule[] }): string[] {
  return (role.rules ?? []).flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.map(
          (verb) =>
            `${group === '' ? 'core' : group}/${resource}: ${verb}` +
            (rule.resourceNames === undefined ? '' : ` [${rule.resourceNames.join(', ')}]`),
        ),
      ),
    ),
  );
}

/** Whether a rule grants anything on Secrets (wildcards included). */
function namesSecrets(rule: PolicyRule): boolean {
  const groups = rule.apiGroups ?? [];
  const resources = rule.resources ?? [];
  return (
    (groups.includes('') || groups.includes('*')) &&
    (resources.includes('secrets') || resources.includes('*'))
  );
}

/** The API groups and resources of pullwatch's report kinds (OpenReports and wgpolicyk8s.io). */
const REPORT_KINDS: Readonly<Record<string, readonly string[]>> = {
  'openreports.io': ['reports', 'clusterreports'],
  'wgpolicyk8s.io': ['policyreports', 'clusterpolicyreports'],
};
const READ_VERBS = ['get', 'list', 'watch'];

/**
 * What a rule lets its holder read of reports, as `group/resource: verb` (wildcards in groups,
 * resources and verbs included, expanded to what they reach).
 */
function reportReads(rule: PolicyRule): string[] {
  const groups = rule.apiGroups ?? [];
  const resources = rule.resources ?? [];
  const verbs = rule.verbs.includes('*') ? READ_VERBS : rule.verbs;
  return Object.entries(REPORT_KINDS).flatMap(([group, kinds]) =>
    groups.includes(group) || groups.includes('*')
      ? kinds
          .filter((kind) => resources.includes(kind) || resources.includes('*'))
          .flatMap((kind) =>
            verbs.filter((v) => READ_VERBS.includes(v)).map((v) => `${group}/${kind}: ${v}`),
          )
      : [],
  );
}

interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

interface BoundRole {
  /** `ClusterRoleBinding x -> ClusterRole y`, for messages. */
  readonly via: string;
  /** The role's rules, or undefined when the role is not among the rendered objects. */
  readonly rules: readonly PolicyRule[] | undefined;
  readonly aggregated: boolean;
}

/**
 * Every Role and ClusterRole that any RoleBinding or ClusterRoleBinding among `objects` grants
 * to the service account: by name, through the groups every service account is in, or as the
 * user name the API server gives it.
 */
function rolesBoundTo(objects: readonly KubeObject[], account: ServiceAccountRef): BoundRole[] {
  const username = `system:serviceaccount:${account.namespace}:${account.name}`;
  const groups = [
    'system:serviceaccounts',
    `system:serviceaccounts:${account.namespace}`,
    'system:authenticated',
  ];
  const bindings = objects.filter(
    (o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding',
  ) as unknown as (KubeObject & (IClusterRoleBinding | IRoleBinding))[];
  return bindings.flatMap((binding) => {
    const bindingNamespace = binding.metadata.namespace;
    const grants = (binding.subjects ?? []).some((s) =>
      s.kind === 'ServiceAccount'
        ? s.name === account.name && (s.namespace ?? bindingNamespace) === account.namespace
        : s.kind === 'User'
          ? s.name === username
          : groups.includes(s.name),
    );
    if (!grants) return [];
    const { kind, name } = binding.roleRef;
    const role = objects.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === 'ClusterRole' || o.metadata.namespace === bindingNamespace),
    ) as (KubeObject & { rules?: PolicyRule[]; aggregationRule?: unknown }) | undefined;
    return [
      {
        via: `${binding.kind} ${binding.metadata.name} -> ${kind} ${name}`,
        rules: role?.rules ?? (role === undefined ? undefined : []),
        aggregated: role?.aggregationRule !== undefined,
      },
    ];
  });
}

function agentAccount(ds: IDaemonSet): ServiceAccountRef {
  return {
    namespace: ds.metadata?.namespace ?? '',
    name: ds.spec?.template.spec?.serviceAccountName ?? 'default',
  };
}

function labelsMatch(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

// ---------------------------------------------------------------------------------------------

t.test('the install manifests', async (t) => {
  const kubectl = await kubectlForManifests(t);
  if (kubectl === undefined) return;

  const rendered = new Map<string, KubeObject[]>();
  for (const dir of [...Object.keys(INSTALLS), ...EXAMPLES]) {
    rendered.set(dir, await render(kubectl, join(REPO, dir)));
  }
  /**
   * An overlay of the base with components of the repository and other fields, written into
   * `dir` (kustomize takes directories at any relative path, not absolute ones), rendered.
   */
  const renderOnBase = async (
    dir: string,
    components: readonly string[],
    fields: object = {},
  ): Promise<KubeObject[]> => {
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'kustomization.yaml'),
      YAML.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(dir, join(REPO, 'manifests/base'))],
        components: components.map((component) => relative(dir, join(REPO, component))),
        ...fields,
      }),
    );
    return render(kubectl, dir);
  };
  // Each component on the base, as an overlay of one's own adds it (docs/install.md).
  const componentsDir = await makeTempDir(t, 'kustomize-components');
  for (const component of COMPONENTS) {
    const dir = join(componentsDir, posix.basename(component));
    rendered.set(withBase(component), await renderOnBase(dir, [component]));
  }
  const renderedOf = (dir: string): KubeObject[] => rendered.get(dir) ?? [];
  const base = renderedOf('manifests');
  const baseDs = only(base, 'DaemonSet', 'pullwatch');

  t.test('every object is valid Kubernetes: schemas and no unknown fields', async (t) => {
    for (const [dir, objects] of rendered) {
      t.ok(objects.length > 0, `${dir} renders objects`);
      for (const object of objects) {
        const where = `${dir}: ${object.kind} ${object.metadata.name}`;
        const errors = await schemaErrors(object);
        if (
          crdGroup(object.apiVersion) === 'cert-manager.io' &&
          errors[0]?.startsWith('no schema')
        ) {
          // Until @kubernetes-models/cert-manager is a devDependency; the cert-manager tests
          // below still check every field pullwatch relies on.
          t.comment(
            `${where}: no cert-manager schema installed, only the fields pullwatch uses are checked`,
          );
          continue;
        }
        t.same(errors, [], `${where} matches its schema`);
        const type = builtInType(object);
        if (type !== undefined) {
          t.same(unknownFields(object, type, object.kind), [], `${where} has no unknown fields`);
        } else {
          // CRD schemas (prometheus-operator, cert-manager) come without a field list;
          // built-ins all have one.
          t.ok(crdGroup(object.apiVersion), `${where} is a known CRD`);
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
          renderedNamespace(o.kind, NAMESPACE),
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

    t.test(
      `${dir}: the kubelet's configuration is mounted read-only, as --kubelet-config auto finds it`,
      async (t) => {
        const mounts = hostMounts(ds).filter((m) => m.volume.name.startsWith('kubelet-config'));
        t.same(
          mounts.map((m) => m.mountPath),
          runtime.kubeletConfig ?? [],
        );
        for (const m of mounts) {
          t.equal(m.hostPath, m.mountPath, `${m.mountPath} at the same path as on the host`);
          t.ok(m.readOnly, `${m.mountPath} read-only`);
          t.match(
            m.hostPathType,
            /^(FileOrCreate|DirectoryOrCreate)$/,
            'a node without it still runs the agent',
          );
        }
        t.equal(flagValue(args, 'kubelet-config'), undefined, 'auto: the agent looks itself');
      },
    );

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
      const env = containerEnv(container, { namespace: NAMESPACE, node: 'node-a' });
      const config = loadConfig(args.slice(1), env, (path) =>
        readMountedConfigMap(objects, ds, path),
      );
      if (!config.ok) {
        t.fail(config.error);
        return;
      }
      t.equal(config.value['node-name'], 'node-a');
      t.equal(config.value.auth, 'kubernetes', 'the API and /metrics need a token');
      t.equal(config.value['cri-endpoint'], runtime.criEndpoint);
      t.equal(config.value['secrets-from'], 'controller', 'pull secrets come from the controller');
      const port = container.ports?.find((p) => p.name === 'http');
      t.equal(port?.containerPort, config.value.listen.port, 'containerPort is where it listens');
    });

    t.test(`${dir}: the agent reaches the controller with what the DaemonSet mounts`, async (t) => {
      const config = loadConfig(
        args.slice(1),
        containerEnv(container, { namespace: NAMESPACE, node: 'node-a' }),
        (path) => readMountedConfigMap(objects, ds, path),
      );
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const controller = loadControllerConfig(
        controllerContainer(deployment).args?.slice(1) ?? [],
        containerEnv(controllerContainer(deployment), { namespace: NAMESPACE, node: 'node-b' }),
        (path) =>
          readConfigMapFile(
            objects,
            deployment.spec?.template ?? {},
            controllerContainer(deployment),
            path,
          ),
      );
      if (!config.ok || !controller.ok) {
        t.fail(config.ok ? (controller.ok ? '' : controller.error) : config.error);
        return;
      }
      const service = only(objects, 'Service', CONTROLLER);
      const port = service.spec?.ports?.find((p) => p.name === 'https')?.port;
      t.equal(
        config.value['controller-url'],
        `https://${CONTROLLER}.${NAMESPACE}.svc:${port}`,
        "--controller-url names the controller's Service and port",
      );
      const template = ds.spec?.template ?? {};
      t.same(
        mountedSource(template, container, config.value['controller-ca-file']),
        { kind: 'configMap', name: controller.value['ca-configmap'], key: 'ca.crt' },
        '--controller-ca-file is the CA bundle the controller publishes',
      );
      const caVolume = template.spec?.volumes?.find(
        (v) => v.configMap?.name === controller.value['ca-configmap'],
      );
      t.equal(caVolume?.configMap?.optional, true, 'agents start before it is published');
      t.same(
        mountedSource(template, container, config.value['controller-token-file']),
        { kind: 'token', audience: controller.value.audience, seconds: 3600 },
        "--controller-token-file is a projected token for the controller's --audience, 1 h",
      );
      t.equal(controller.value.audience, 'pullwatch-controller', "the controller's default");
      t.equal(
        podSpec?.serviceAccountName,
        controller.value['agent-service-account'],
        'the agents run as the service account the controller answers',
      );
      t.equal(controller.value.namespace, NAMESPACE, 'in the namespace the controller looks in');
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
        requests: { cpu: '10m', memory: '160Mi' },
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
          'core/nodes: get',
          'core/pods: get',
          'core/pods: list',
          'core/pods: watch',
          'events.k8s.io/events: create',
          'events.k8s.io/events: get',
          'events.k8s.io/events: patch',
          'openreports.io/clusterreports: create',
          'openreports.io/clusterreports: delete',
          'openreports.io/clusterreports: patch',
          'openreports.io/reports: create',
          'openreports.io/reports: delete',
          'openreports.io/reports: patch',
          'wgpolicyk8s.io/clusterpolicyreports: create',
          'wgpolicyk8s.io/clusterpolicyreports: delete',
          'wgpolicyk8s.io/clusterpolicyreports: patch',
          'wgpolicyk8s.io/policyreports: create',
          'wgpolicyk8s.io/policyreports: delete',
          'wgpolicyk8s.io/policyreports: patch',
        ],
        'no secrets (they come from the controller); reports written, never read',
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

    t.test(`${dir}: the controller is two restricted replicas on different nodes`, async (t) => {
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const spec = deployment.spec;
      const pod = spec?.template.spec;
      const controller = controllerContainer(deployment);
      t.equal(spec?.replicas, 2);
      t.same(spec?.strategy, {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
      });
      t.equal(pod?.serviceAccountName, CONTROLLER);
      t.equal(controller.args?.[0], 'controller', 'the same image, its controller command');
      t.equal(controller.image, container.image, "the agent's image");
      const labels = spec?.template.metadata?.labels;
      t.equal(labels?.['app.kubernetes.io/component'], 'controller');
      const byHost = pod?.topologySpreadConstraints?.find(
        (c) => c.topologyKey === 'kubernetes.io/hostname',
      );
      t.equal(byHost?.maxSkew, 1);
      t.equal(byHost?.whenUnsatisfiable, 'DoNotSchedule', 'never both replicas on one node');
      t.equal(byHost?.nodeTaintsPolicy, 'Honor', 'nodes it cannot run on do not count');
      t.ok(labelsMatch(byHost?.labelSelector?.matchLabels, labels), 'spreads its own pods');
      t.notOk(
        labelsMatch(byHost?.labelSelector?.matchLabels, ds.spec?.template.metadata?.labels),
        "not the agents'",
      );
      // Pod Security `restricted` (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
      const sc = controller.securityContext;
      t.equal(sc?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot, true, 'runAsNonRoot');
      t.not(sc?.runAsUser ?? pod?.securityContext?.runAsUser, 0, 'not uid 0');
      t.equal(sc?.allowPrivilegeEscalation, false);
      t.equal(sc?.readOnlyRootFilesystem, true);
      t.same(sc?.capabilities, { drop: ['ALL'] });
      t.not(sc?.privileged, true);
      t.equal((sc?.seccompProfile ?? pod?.securityContext?.seccompProfile)?.type, 'RuntimeDefault');
      t.notOk(
        pod?.volumes?.some((v) => v.hostPath !== undefined),
        'no host paths (restricted forbids them)',
      );
      for (const hostNamespace of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
        t.not(pod?.[hostNamespace], true, `no ${hostNamespace}`);
      }
      t.same(controller.resources, {
        requests: { cpu: '50m', memory: '192Mi' },
        limits: { memory: '512Mi' },
      });
    });

    t.test(`${dir}: the controller's settings, port and probes`, async (t) => {
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const controller = controllerContainer(deployment);
      const env = containerEnv(controller, { namespace: NAMESPACE, node: 'node-b' });
      t.equal(env.POD_NAMESPACE, NAMESPACE, 'POD_NAMESPACE from the downward API');
      const config = loadControllerConfig(controller.args?.slice(1) ?? [], env, (path) =>
        readConfigMapFile(objects, deployment.spec?.template ?? {}, controller, path),
      );
      if (!config.ok) {
        t.fail(config.error);
        return;
      }
      t.equal(config.value.namespace, NAMESPACE);
      t.equal(config.value['tls-cert-file'], undefined, 'its certificate comes from the Secret');
      t.equal(config.value.service, CONTROLLER, 'the certificate names the Service');
      t.equal(config.value['tls-secret'], CONTROLLER_TLS);
      const port = controller.ports?.find((p) => p.name === 'https');
      t.equal(port?.containerPort, config.value.listen.port, 'containerPort is where it listens');
      const service = only(objects, 'Service', CONTROLLER);
      t.same(
        service.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
        [['https', 9747, 'https']],
      );
      t.ok(labelsMatch(service.spec?.selector, deployment.spec?.template.metadata?.labels));
      t.notOk(
        labelsMatch(service.spec?.selector, ds.spec?.template.metadata?.labels),
        'not the agents',
      );
      const probes = {
        liveness: controller.livenessProbe,
        readiness: controller.readinessProbe,
        startup: controller.startupProbe,
      };
      t.equal(probes.liveness?.httpGet?.path, '/livez');
      t.equal(probes.readiness?.httpGet?.path, '/readyz');
      for (const [name, probe] of Object.entries(probes)) {
        t.equal(probe?.httpGet?.scheme, 'HTTPS', `${name} probe speaks HTTPS`);
        t.equal(probe?.httpGet?.port, 'https', `${name} probe targets the https port`);
      }
      // The agents' registry settings apply only in direct mode; both start out the same.
      const agentConfig = loadConfig(
        args.slice(1),
        containerEnv(container, { namespace: NAMESPACE, node: 'node-a' }),
        (path) => readMountedConfigMap(objects, ds, path),
      );
      for (const key of [
        'public-registries',
        'node-credential-registries',
        'insecure-registries',
        'registry-probe',
        'verify-credentials',
      ] as const) {
        t.same(agentConfig.ok && agentConfig.value[key], config.value[key], `same ${key}`);
      }
    });

    t.test(`${dir}: the controller's RBAC is exactly what it uses`, async (t) => {
      t.same(
        ruleTriples(only(objects, 'ClusterRole', CONTROLLER)).sort(),
        [
          'admissionregistration.k8s.io/mutatingwebhookconfigurations: get [pullwatch-controller]',
          'admissionregistration.k8s.io/mutatingwebhookconfigurations: update [pullwatch-controller]',
          'authentication.k8s.io/tokenreviews: create',
          'authorization.k8s.io/subjectaccessreviews: create',
          'core/namespaces: get',
          'core/pods: get',
          'core/pods: list',
          'core/pods: watch',
          'core/secrets: get',
          'openreports.io/clusterreports: get',
          'openreports.io/clusterreports: list',
          'openreports.io/clusterreports: watch',
          'openreports.io/reports: get',
          'openreports.io/reports: list',
          'openreports.io/reports: watch',
          'wgpolicyk8s.io/clusterpolicyreports: get',
          'wgpolicyk8s.io/clusterpolicyreports: list',
          'wgpolicyk8s.io/clusterpolicyreports: watch',
          'wgpolicyk8s.io/policyreports: get',
          'wgpolicyk8s.io/policyreports: list',
          'wgpolicyk8s.io/policyreports: watch',
        ],
        'cluster-wide: secrets by name only, never list or watch; every report, read',
      );
      const role = only(objects, 'Role', CONTROLLER);
      t.equal(role.metadata?.namespace, NAMESPACE, 'writes only in its own namespace');
      t.same(
        ruleTriples(role).sort(),
        [
          'core/configmaps: create',
          'core/configmaps: get [pullwatch-controller-ca]',
          'core/configmaps: update [pullwatch-controller-ca]',
          'core/secrets: create',
        ],
        'creates its key and certificate Secrets, keeps the CA ConfigMap',
      );
      const subject = [{ kind: 'ServiceAccount', name: CONTROLLER, namespace: NAMESPACE }];
      const clusterBinding = only(objects, 'ClusterRoleBinding', CONTROLLER);
      t.same(clusterBinding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: CONTROLLER,
      });
      t.same(clusterBinding.subjects, subject);
      const binding = only(objects, 'RoleBinding', CONTROLLER);
      t.same(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: CONTROLLER,
      });
      t.same(binding.subjects, subject);
      only(objects, 'ServiceAccount', CONTROLLER);
      const deployment = only(objects, 'Deployment', CONTROLLER);
      t.equal(deployment.spec?.template.spec?.serviceAccountName, CONTROLLER);
    });

    t.test(`${dir}: the DaemonSet and the Deployment never select each other's pods`, async (t) => {
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const agentPods = ds.spec?.template.metadata?.labels;
      const controllerPods = deployment.spec?.template.metadata?.labels;
      t.ok(labelsMatch(ds.spec?.selector.matchLabels, agentPods), 'the DaemonSet selects its own');
      t.ok(
        labelsMatch(deployment.spec?.selector.matchLabels, controllerPods),
        'so does the Deployment',
      );
      t.notOk(labelsMatch(ds.spec?.selector.matchLabels, controllerPods), 'DaemonSet ∌ controller');
      t.notOk(labelsMatch(deployment.spec?.selector.matchLabels, agentPods), 'Deployment ∌ agents');
      t.notOk(ds.spec?.selector.matchExpressions, 'only matchLabels, which labelsMatch reads');
      t.notOk(deployment.spec?.selector.matchExpressions);
      t.equal(agentPods?.['app.kubernetes.io/component'], 'agent');
      t.equal(controllerPods?.['app.kubernetes.io/component'], 'controller');
      // The agents' Service and NetworkPolicy select by the DaemonSet's labels, not the controller.
      t.notOk(labelsMatch(only(objects, 'Service', 'pullwatch').spec?.selector, controllerPods));
      t.notOk(
        labelsMatch(
          only(objects, 'NetworkPolicy', 'pullwatch').spec?.podSelector?.matchLabels,
          controllerPods,
        ),
      );
    });

    t.test(`${dir}: the PodDisruptionBudget keeps one controller up`, async (t) => {
      const pdb = only(objects, 'PodDisruptionBudget', CONTROLLER);
      const deployment = only(objects, 'Deployment', CONTROLLER);
      t.equal(pdb.spec?.minAvailable, 1);
      t.ok(
        labelsMatch(pdb.spec?.selector?.matchLabels, deployment.spec?.template.metadata?.labels),
        'selects the controller pods',
      );
      t.notOk(
        labelsMatch(pdb.spec?.selector?.matchLabels, ds.spec?.template.metadata?.labels),
        'and no agent',
      );
      t.ok(
        (deployment.spec?.replicas ?? 1) > (pdb.spec?.minAvailable as number),
        'drains can go on',
      );
    });

    t.test(`${dir}: who may connect to the controller`, async (t) => {
      const policy = only(objects, 'NetworkPolicy', CONTROLLER);
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const spec = policy.spec;
      t.ok(labelsMatch(spec?.podSelector?.matchLabels, deployment.spec?.template.metadata?.labels));
      t.notOk(labelsMatch(spec?.podSelector?.matchLabels, ds.spec?.template.metadata?.labels));
      t.same(spec?.policyTypes, ['Ingress', 'Egress']);
      t.equal(spec?.ingress?.length, 2);
      // The API server calls the admission webhook from addresses no pod selector names.
      t.same(spec?.ingress?.[1], { ports: [{ port: 'https', protocol: 'TCP' }] }, 'the webhook');
      const rule = spec?.ingress?.[0];
      t.same(rule?.ports, [{ port: 'https', protocol: 'TCP' }]);
      t.equal(rule?.from?.length, 1);
      const peer = rule?.from?.[0];
      t.notOk(peer?.namespaceSelector, 'no namespaceSelector: this namespace only');
      t.notOk(peer?.ipBlock, 'no address ranges');
      t.ok(
        labelsMatch(peer?.podSelector?.matchLabels, ds.spec?.template.metadata?.labels),
        'the agents',
      );
      t.notOk(
        labelsMatch(peer?.podSelector?.matchLabels, deployment.spec?.template.metadata?.labels),
        'not the controller itself',
      );
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
        // Where the kubelet's configuration lives differs by distribution; its own test checks it.
        const withoutKubeletConfig = (d: IDaemonSet): IDaemonSet => {
          const copy = structuredClone(d);
          const spec = copy.spec?.template.spec;
          if (spec === undefined) return copy;
          const other = (name: string) => !name.startsWith('kubelet-config');
          spec.volumes = (spec.volumes ?? []).filter((v) => other(v.name));
          for (const c of spec.containers)
            c.volumeMounts = (c.volumeMounts ?? []).filter((m) => other(m.name));
          return copy;
        };
        t.same(withoutKubeletConfig(normalized), withoutKubeletConfig(baseDs));
        const settings = (from: readonly KubeObject[]) =>
          from.filter(
            (o) =>
              o.kind === 'ConfigMap' &&
              (o.metadata.name.startsWith('pullwatch-config') ||
                o.metadata.name.startsWith('pullwatch-controller-config')),
          );
        t.same(settings(objects), settings(base), 'same settings, agent and controller');
        // The cert-manager overlay mounts the issued Secret (its component says why).
        const deployment = structuredClone(only(objects, 'Deployment', CONTROLLER));
        const spec = deployment.spec?.template.spec;
        if (spec !== undefined) {
          spec.volumes = (spec.volumes ?? []).filter(
            (v) => v.secret?.secretName !== CONTROLLER_TLS,
          );
          for (const c of spec.containers) {
            c.volumeMounts = (c.volumeMounts ?? []).filter((m) =>
              (spec.volumes ?? []).some((v) => v.name === m.name),
            );
          }
        }
        t.same(deployment, only(base, 'Deployment', CONTROLLER), 'the same controller');
      });
    }
  }

  t.test('every object of the base carries the standard labels', async (t) => {
    for (const object of base) {
      for (const key of STANDARD_LABELS) {
        t.ok(object.metadata.labels?.[key], `${object.kind} ${object.metadata.name}: ${key}`);
      }
    }
    const named = (kind: string, name: string) =>
      base.find((o) => o.kind === kind && o.metadata.name === name)?.metadata.labels;
    t.equal(named('Deployment', CONTROLLER)?.['app.kubernetes.io/name'], CONTROLLER);
    t.equal(named('DaemonSet', 'pullwatch')?.['app.kubernetes.io/name'], 'pullwatch');
  });

  t.test("no RBAC rule bound to the agent's service account names secrets", async (t) => {
    // The base, every overlay and every component on the base; direct-secrets is the one
    // opt-in that puts `secrets: get` back, and the next test holds it to exactly that.
    const renders = [...rendered.keys()].filter(
      (dir) => !EXAMPLES.includes(dir) && dir !== withBase(DIRECT_SECRETS),
    );
    t.ok(renders.includes(withBase('manifests/components/cert-manager')), 'components included');
    for (const dir of renders) {
      const objects = renderedOf(dir);
      const account = agentAccount(only(objects, 'DaemonSet', 'pullwatch'));
      const roles = rolesBoundTo(objects, account);
      t.ok(roles.length > 0, `${dir}: the agent's roles are found`);
      for (const role of roles) {
        t.ok(role.rules, `${dir}: ${role.via} is among the manifests, so its rules are known`);
        t.notOk(role.aggregated, `${dir}: ${role.via} aggregates no other roles`);
        const secretRules = (role.rules ?? []).filter(namesSecrets);
        t.same(secretRules, [], `${dir}: ${role.via} names no secrets`);
      }
    }
    // Nor does an example bind anything to it.
    const account = agentAccount(baseDs);
    for (const dir of EXAMPLES) {
      t.same(rolesBoundTo(renderedOf(dir), account), [], `${dir} grants the agent nothing`);
    }
  });

  t.test("no RBAC rule bound to the agent's service account reads reports", async (t) => {
    // Another node's reports name tenants; an agent writes its own and reads none (the
    // controller answers which ones it wrote). direct-secrets, with no controller to ask, lists
    // them, and the next test but one holds it to exactly that.
    const renders = [...rendered.keys()].filter(
      (dir) => !EXAMPLES.includes(dir) && dir !== withBase(DIRECT_SECRETS),
    );
    t.ok(renders.includes('manifests'), 'the base included');
    for (const dir of renders) {
      const objects = renderedOf(dir);
      for (const role of rolesBoundTo(objects, agentAccount(only(objects, 'DaemonSet')))) {
        t.ok(role.rules, `${dir}: ${role.via} is among the manifests, so its rules are known`);
        t.same((role.rules ?? []).flatMap(reportReads), [], `${dir}: ${role.via} reads no reports`);
      }
    }
    t.same(
      reportReads({ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }).length,
      12,
      'wildcards count as reads of every report kind',
    );
  });

  t.test(
    'direct-secrets: the agents list their reports themselves, never get or watch',
    async (t) => {
      const objects = renderedOf(withBase(DIRECT_SECRETS));
      const roles = rolesBoundTo(objects, agentAccount(only(objects, 'DaemonSet')));
      t.same(roles.flatMap((role) => (role.rules ?? []).flatMap(reportReads)).sort(), [
        'openreports.io/clusterreports: list',
        'openreports.io/reports: list',
        'wgpolicyk8s.io/clusterpolicyreports: list',
        'wgpolicyk8s.io/policyreports: list',
      ]);
    },
  );

  t.test('no-kubelet-config: neither file is mounted and the agent does not look', async (t) => {
    const ds = only(
      renderedOf(withBase('manifests/components/no-kubelet-config')),
      'DaemonSet',
      'pullwatch',
    );
    t.same(
      hostMounts(ds).filter((m) => m.volume.name.startsWith('kubelet-config')),
      [],
      'no kubelet configuration mount',
    );
    t.same(
      (ds.spec?.template.spec?.volumes ?? []).map((v) => v.name),
      (baseDs.spec?.template.spec?.volumes ?? [])
        .map((v) => v.name)
        .filter((name) => !name.startsWith('kubelet-config')),
      'every other volume stays',
    );
    t.equal(flagValue(agentContainer(ds).args ?? [], 'kubelet-config'), 'off');
  });

  t.test('direct-secrets: the agents read Secrets themselves, by name only', async (t) => {
    const objects = renderedOf(withBase(DIRECT_SECRETS));
    const ds = only(objects, 'DaemonSet', 'pullwatch');
    const container = agentContainer(ds);
    const roles = rolesBoundTo(objects, agentAccount(ds));
    t.same(
      roles.flatMap((role) => (role.rules ?? []).filter(namesSecrets)),
      [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
      'exactly one rule names secrets: get, never list or watch',
    );
    const config = loadConfig(
      container.args?.slice(1) ?? [],
      containerEnv(container, { namespace: NAMESPACE, node: 'node-a' }),
      (path) => readMountedConfigMap(objects, ds, path),
    );
    t.equal(config.ok && config.value['secrets-from'], 'direct');
    t.same(
      objects.filter((o) => o.metadata.name.startsWith(CONTROLLER)),
      [],
      'no controller: nothing else holds a secrets grant',
    );
    const volumes = ds.spec?.template.spec?.volumes ?? [];
    t.notOk(
      volumes.some((v) => v.projected ?? v.configMap?.name === 'pullwatch-controller-ca'),
      'no controller token or CA mounted',
    );
    t.same(
      (container.volumeMounts ?? []).map((m) => m.name).sort(),
      volumes.map((v) => v.name).sort(),
      'every mount has its volume',
    );
    // Apart from that, the base's agent.
    const normalized = structuredClone(ds);
    const normalizedContainer = agentContainer(normalized);
    normalizedContainer.args = (container.args ?? []).map((a) =>
      a === '--secrets-from=direct' ? '--secrets-from=controller' : a,
    );
    normalizedContainer.volumeMounts = agentContainer(baseDs).volumeMounts ?? [];
    const normalizedSpec = normalized.spec?.template.spec;
    if (normalizedSpec !== undefined)
      normalizedSpec.volumes = baseDs.spec?.template.spec?.volumes ?? [];
    t.same(normalized, baseDs);
  });

  t.test('cert-manager: issues the Secret the controller reads, for its Service', async (t) => {
    const objects = renderedOf('manifests/overlays/cert-manager');
    const issuers = objects.filter((o) => o.kind === 'Issuer') as CertManagerObject[];
    const certificates = objects.filter((o) => o.kind === 'Certificate') as CertManagerObject[];
    const issuerOf = (certificate: CertManagerObject) => {
      const ref = certificate.spec.issuerRef;
      t.equal(ref?.kind, 'Issuer', `${certificate.metadata.name}: a namespaced Issuer`);
      t.equal(ref?.group ?? 'cert-manager.io', 'cert-manager.io');
      const issuer = issuers.find((i) => i.metadata.name === ref?.name);
      t.ok(issuer, `${certificate.metadata.name}: its issuer ${ref?.name ?? '?'} is installed`);
      return issuer;
    };
    const serving = only(objects, 'Certificate', CONTROLLER_TLS);
    t.equal(serving.spec.secretName, CONTROLLER_TLS, "the controller's --tls-secret default");
    t.notOk(serving.spec.isCA);
    t.ok(serving.spec.usages?.includes('server auth'));
    const ds = only(objects, 'DaemonSet', 'pullwatch');
    const agentConfig = loadConfig(
      agentContainer(ds).args?.slice(1) ?? [],
      containerEnv(agentContainer(ds), { namespace: NAMESPACE, node: 'node-a' }),
      (path) => readMountedConfigMap(objects, ds, path),
    );
    const host = agentConfig.ok ? new URL(agentConfig.value['controller-url'] ?? '').hostname : '';
    t.ok(serving.spec.dnsNames?.includes(host), `names ${host}, which the agents connect to`);
    t.ok(serving.spec.dnsNames?.includes(`${host}.cluster.local`), 'and its full name');
    // The serving certificate's issuer is a CA whose key pair is a CA certificate's Secret,
    // itself issued by the self-signed issuer.
    const caIssuer = issuerOf(serving);
    const ca = certificates.find((c) => c.spec.secretName === caIssuer?.spec.ca?.secretName);
    t.ok(ca?.spec.isCA, 'the CA issuer signs with a CA certificate of the component');
    if (ca !== undefined) t.ok(issuerOf(ca)?.spec.selfSigned, 'which a self-signed issuer made');
    t.equal(certificates.length, 2);
    t.equal(issuers.length, 2);
    for (const object of [...issuers, ...certificates]) {
      t.equal(object.metadata.namespace, NAMESPACE, `${object.kind} ${object.metadata.name}`);
    }
    // The controller waits for cert-manager instead of making a certificate of its own.
    const deployment = only(objects, 'Deployment', CONTROLLER);
    const volume = deployment.spec?.template.spec?.volumes?.find(
      (v) => v.secret?.secretName === CONTROLLER_TLS,
    );
    t.ok(volume, 'the issued Secret is a volume of the controller');
    t.not(volume?.secret?.optional, true, 'not optional: the pod waits for it');
    t.ok(
      controllerContainer(deployment).volumeMounts?.some((m) => m.name === volume?.name),
      'mounted',
    );
  });

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

  t.test(
    'monitoring: the controller ServiceMonitor verifies it with its published CA',
    async (t) => {
      const objects = renderedOf('manifests/overlays/monitoring');
      const monitor = only(objects, 'ServiceMonitor', CONTROLLER);
      const service = only(objects, 'Service', CONTROLLER);
      t.ok(labelsMatch(monitor.spec.selector.matchLabels, service.metadata?.labels), 'selects it');
      t.notOk(
        labelsMatch(
          monitor.spec.selector.matchLabels,
          only(objects, 'Service', 'pullwatch').metadata?.labels,
        ),
        'not the agents',
      );
      t.notOk(
        monitor.spec.jobLabel,
        'job is the Service name, pullwatch-controller, as the rules expect',
      );
      const deployment = only(objects, 'Deployment', CONTROLLER);
      const container = controllerContainer(deployment);
      const config = loadControllerConfig(
        container.args?.slice(1) ?? [],
        containerEnv(container, { namespace: NAMESPACE, node: 'node-b' }),
        (path) => readConfigMapFile(objects, deployment.spec?.template ?? {}, container, path),
      );
      if (!config.ok) {
        t.fail(config.error);
        return;
      }
      t.equal(monitor.spec.endpoints?.length, 1);
      const endpoint = monitor.spec.endpoints?.[0];
      t.ok(
        service.spec?.ports?.some((p) => p.name === endpoint?.port),
        'the endpoint port is a Service port',
      );
      t.equal(endpoint?.path, '/metrics');
      t.equal(endpoint?.scheme, 'https', 'the controller serves only HTTPS');
      t.notOk(
        endpoint?.bearerTokenFile ?? endpoint?.authorization,
        "sends no token: Prometheus' own token has no business at the controller",
      );
      t.same(
        endpoint?.tlsConfig?.ca?.configMap,
        { name: config.value['ca-configmap'], key: 'ca.crt' },
        'trusts the CA ConfigMap the controller publishes',
      );
      t.notOk(endpoint?.tlsConfig?.insecureSkipVerify, 'verifies the certificate');
      t.ok(
        serviceNames(config.value.service, config.value.namespace).includes(
          endpoint?.tlsConfig?.serverName ?? '',
        ),
        'serverName is a name the serving certificate carries',
      );
    },
  );

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
      t.equal(o.metadata.namespace, renderedNamespace(o.kind, 'security-tools'), o.kind);
    }
    t.equal(only(objects, 'Namespace').metadata?.name, 'security-tools');
    for (const name of ['pullwatch', CONTROLLER]) {
      t.same(
        only(objects, 'ClusterRoleBinding', name).subjects?.[0]?.namespace,
        'security-tools',
        `the binding ${name} follows the service account`,
      );
    }
    t.equal(only(objects, 'RoleBinding', CONTROLLER).subjects?.[0]?.namespace, 'security-tools');
    const ds = only(objects, 'DaemonSet');
    const agent = loadConfig(
      agentContainer(ds).args?.slice(1) ?? [],
      containerEnv(agentContainer(ds), { namespace: 'security-tools', node: 'node-a' }),
      (path) => readMountedConfigMap(objects, ds, path),
    );
    t.equal(
      agent.ok && agent.value['controller-url'],
      `https://${CONTROLLER}.security-tools.svc:9747`,
      'the agents find the controller in the new namespace',
    );
    const controller = controllerContainer(only(objects, 'Deployment', CONTROLLER));
    t.equal(controller.image, `registry.example.com/pullwatch:${PACKAGE.version}`);
    const container = agentContainer(ds);
    t.equal(container.image, `registry.example.com/pullwatch:${PACKAGE.version}`);
    t.equal(container.resources?.limits?.memory, '256Mi');
    t.equal(
      flagValue(container.args ?? [], 'cri-endpoint'),
      INSTALLS['manifests/overlays/k3s']?.criEndpoint,
    );
  });

  t.test('an overlay as docs/install.md writes it: direct mode before 1.30', async (t) => {
    // The patches docs/install.md gives for clusters that serve no admission policies.
    const install = readFileSync(join(REPO, 'docs/install.md'), 'utf8');
    const snippet = [...install.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] ?? '')
      .find((yaml) => yaml.includes('kind: ValidatingAdmissionPolicyBinding'));
    if (snippet === undefined) {
      t.fail('docs/install.md shows no patch that removes the admission policy');
      return;
    }
    const objects = await renderOnBase(
      await makeTempDir(t, 'kustomize-overlay'),
      [DIRECT_SECRETS],
      YAML.parse(snippet) as object,
    );
    const isPolicy = (o: KubeObject) => o.apiVersion.startsWith('admissionregistration.k8s.io/');
    t.same(objects.filter(isPolicy), [], 'no policy and no binding');
    t.same(
      objects,
      renderedOf(withBase(DIRECT_SECRETS)).filter((o) => !isPolicy(o)),
      'the rest is direct mode as the component makes it',
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
    const loaded = loadConfig(
      agentContainer(ds).args?.slice(1) ?? [],
      containerEnv(agentContainer(ds), { namespace: NAMESPACE, node: 'n' }),
      (path) => readMountedConfigMap(objects, ds, path),
    );
    t.equal(loaded.ok && loaded.value['tenant-label'], 'example.com/tenant', 'the new settings');
    const monitor = only(objects, 'ServiceMonitor', 'pullwatch');
    t.equal(monitor.metadata?.labels?.release, 'kube-prometheus-stack');
    t.same(monitor.spec.endpoints?.[0]?.authorization, {
      type: 'Bearer',
      credentials: { name: 'pullwatch-scraper-token', key: 'token' },
    });
    t.equal(only(objects, 'PrometheusRule').metadata?.labels?.release, 'kube-prometheus-stack');
    t.equal(only(objects, 'NetworkPolicy', 'pullwatch').spec?.ingress?.[0]?.from?.length, 3);
  });
});

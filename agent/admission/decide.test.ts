import t from 'tap';
import { jsonPatch } from '../../test/kit/embedded/patch.ts';
import { parseImageAllowlist } from './allowlist.ts';
import { readAdmittedPod, type AdmittedPod, type PodAdmission } from './admitted-pod.ts';
import {
  decide,
  FORCED_ANNOTATION,
  type Decision,
  type DecisionInput,
  type Proof,
} from './decide.ts';
import { namespaceMode, parseNamespaceExemption } from './prevention-mode.ts';

const PRIVATE = 'registry.example.com/team-a/super-secret-image-1:v1';
const PUBLIC = 'docker.io/library/busybox:1.36';
const BASE = 'registry.example.com/base/os:1';

const proofs: ReadonlyMap<string, Proof> = new Map<string, Proof>([
  [PUBLIC, { kind: 'proven', by: 'public' }],
  ['registry.example.com/team-a/proven:v1', { kind: 'proven', by: 'pod-secret' }],
  [PRIVATE, { kind: 'not-proven' }],
  ['registry.example.com/flaky/app:v1', { kind: 'registry-error' }],
]);

interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: string;
}

function pod(spec: {
  containers?: ContainerSpec[];
  initContainers?: ContainerSpec[];
  ephemeralContainers?: ContainerSpec[];
  annotations?: Record<string, string>;
}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      namespace: 'tenant-b',
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    },
    spec: {
      containers: spec.containers ?? [],
      ...(spec.initContainers ? { initContainers: spec.initContainers } : {}),
      ...(spec.ephemeralContainers ? { ephemeralContainers: spec.ephemeralContainers } : {}),
    },
  };
}

function admitted(admission: PodAdmission): AdmittedPod {
  const read = readAdmittedPod(admission);
  if (!read.ok) throw new Error(read.error);
  return read.value;
}

const allow = parseImageAllowlist(['registry.example.com/base/*']);
if (!allow.ok) throw new Error(allow.error);

function run(object: Record<string, unknown>, over: Partial<DecisionInput> = {}, old?: unknown) {
  const scope = old === undefined ? 'pod' : 'ephemeral-containers';
  const input: DecisionInput = {
    pod: admitted({ scope, namespace: 'tenant-b', object, ...(old ? { oldObject: old } : {}) }),
    mode: 'enforce',
    onRegistryError: 'always',
    allowlist: allow.ok ? allow.value : { names: new Set(), prefixes: [] },
    proofs,
    ...over,
  };
  return decide(input);
}

const cases: readonly {
  name: string;
  object: Record<string, unknown>;
  over?: Partial<DecisionInput>;
  old?: Record<string, unknown>;
  outcome: Decision['outcome'];
  /** The pod after the patch; undefined: unchanged. */
  patched?: Record<string, unknown>;
  warnings?: RegExp[];
  message?: RegExp;
  audit?: Record<string, string>;
}[] = [
  {
    name: "Admin2's pod without a secret gets Always, an annotation and a warning",
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }] }),
    outcome: 'forced',
    patched: pod({
      containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Always' }],
      annotations: { [FORCED_ANNOTATION]: 'app' },
    }),
    warnings: [
      /container "app" now has imagePullPolicy Always.*none of this pod's imagePullSecrets/,
    ],
    audit: { 'forced-always-pull': 'app' },
  },
  {
    name: 'an unset policy on a tagged image is IfNotPresent, and is forced',
    object: pod({ containers: [{ name: 'app', image: PRIVATE }], annotations: { team: 'b' } }),
    outcome: 'forced',
    patched: pod({
      containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Always' }],
      annotations: { team: 'b', [FORCED_ANNOTATION]: 'app' },
    }),
  },
  {
    name: 'only the unproven containers change: init, regular and in-spec ephemeral alike',
    object: pod({
      initContainers: [{ name: 'init', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
      containers: [
        { name: 'public', image: PUBLIC, imagePullPolicy: 'IfNotPresent' },
        { name: 'sidecar', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
      ],
      ephemeralContainers: [{ name: 'debug', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
    }),
    outcome: 'forced',
    patched: {
      ...pod({
        initContainers: [{ name: 'init', image: PRIVATE, imagePullPolicy: 'Always' }],
        containers: [
          { name: 'public', image: PUBLIC, imagePullPolicy: 'IfNotPresent' },
          { name: 'sidecar', image: PRIVATE, imagePullPolicy: 'Always' },
        ],
        ephemeralContainers: [{ name: 'debug', image: PRIVATE, imagePullPolicy: 'Always' }],
        annotations: { [FORCED_ANNOTATION]: 'init,sidecar,debug' },
      }),
    },
    audit: { 'forced-always-pull': 'init,sidecar,debug' },
  },
  {
    name: "Admin1's pod whose secret reads the image keeps IfNotPresent",
    object: pod({ containers: [{ name: 'app', image: 'registry.example.com/team-a/proven:v1' }] }),
    outcome: 'allowed',
  },
  {
    name: 'a public image is untouched',
    object: pod({ containers: [{ name: 'app', image: PUBLIC, imagePullPolicy: 'IfNotPresent' }] }),
    outcome: 'allowed',
  },
  {
    name: 'Always is never asked about',
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Always' }] }),
    outcome: 'allowed',
  },
  {
    name: ':latest defaults to Always and is never asked about',
    object: pod({ containers: [{ name: 'app', image: 'registry.example.com/team-a/x' }] }),
    outcome: 'allowed',
  },
  {
    name: 'an allow-listed image is untouched',
    object: pod({ containers: [{ name: 'app', image: BASE, imagePullPolicy: 'IfNotPresent' }] }),
    outcome: 'allowed',
  },
  {
    name: 'Never with an unproven private image is denied, saying why and what to do',
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Never' }] }),
    outcome: 'denied',
    message:
      /container "app" has imagePullPolicy Never .*none of this pod's imagePullSecrets.*Add an imagePullSecret/,
    audit: { 'denied-never-pull': 'app' },
  },
  {
    name: 'Never with a public image is allowed',
    object: pod({ containers: [{ name: 'app', image: PUBLIC, imagePullPolicy: 'Never' }] }),
    outcome: 'allowed',
  },
  {
    name: 'warn mode changes nothing and warns',
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }] }),
    over: { mode: 'warn' },
    outcome: 'warned',
    warnings: [/warn mode.*"app" would get imagePullPolicy Always/],
    audit: { 'forced-always-pull': 'app', mode: 'warn' },
  },
  {
    name: 'warn mode admits Never and says it would be denied',
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Never' }] }),
    over: { mode: 'warn' },
    outcome: 'warned',
    warnings: [/would be denied in enforce mode/],
  },
  {
    name: 'off mode asks nothing',
    object: pod({ containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'Never' }] }),
    over: { mode: 'off' },
    outcome: 'exempt',
  },
  {
    name: 'a registry error forces the pull by default',
    object: pod({ containers: [{ name: 'app', image: 'registry.example.com/flaky/app:v1' }] }),
    outcome: 'forced',
    patched: pod({
      containers: [
        { name: 'app', image: 'registry.example.com/flaky/app:v1', imagePullPolicy: 'Always' },
      ],
      annotations: { [FORCED_ANNOTATION]: 'app' },
    }),
    warnings: [/registry could not be asked.*--on-registry-error=always/],
  },
  {
    name: 'a registry error admits unchanged with --on-registry-error=allow, and warns',
    object: pod({ containers: [{ name: 'app', image: 'registry.example.com/flaky/app:v1' }] }),
    over: { onRegistryError: 'allow' },
    outcome: 'allowed',
    warnings: [/did not answer; admitted unchanged/],
  },
  {
    name: 'an image nobody answered about counts as a registry error',
    object: pod({ containers: [{ name: 'app', image: 'registry.example.com/other/app:v1' }] }),
    outcome: 'forced',
    patched: pod({
      containers: [
        { name: 'app', image: 'registry.example.com/other/app:v1', imagePullPolicy: 'Always' },
      ],
      annotations: { [FORCED_ANNOTATION]: 'app' },
    }),
  },
  {
    name: 'reinvocation keeps the names already in the annotation',
    object: pod({
      containers: [
        { name: 'app', image: PRIVATE, imagePullPolicy: 'Always' },
        { name: 'late', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
      ],
      annotations: { [FORCED_ANNOTATION]: 'app' },
    }),
    outcome: 'forced',
    patched: pod({
      containers: [
        { name: 'app', image: PRIVATE, imagePullPolicy: 'Always' },
        { name: 'late', image: PRIVATE, imagePullPolicy: 'Always' },
      ],
      annotations: { [FORCED_ANNOTATION]: 'app,late' },
    }),
  },
  {
    name: 'kubectl debug: only the new ephemeral container is patched, with no annotation',
    object: pod({
      containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
      ephemeralContainers: [
        { name: 'old', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
        { name: 'debugger', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
      ],
    }),
    old: pod({
      containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
      ephemeralContainers: [{ name: 'old', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
    }),
    outcome: 'forced',
    patched: pod({
      containers: [{ name: 'app', image: PRIVATE, imagePullPolicy: 'IfNotPresent' }],
      ephemeralContainers: [
        { name: 'old', image: PRIVATE, imagePullPolicy: 'IfNotPresent' },
        { name: 'debugger', image: PRIVATE, imagePullPolicy: 'Always' },
      ],
    }),
  },
  {
    name: 'kubectl debug with a Never ephemeral container is denied',
    object: pod({
      containers: [],
      ephemeralContainers: [{ name: 'debugger', image: PRIVATE, imagePullPolicy: 'Never' }],
    }),
    old: pod({ containers: [] }),
    outcome: 'denied',
  },
];

t.test('the admission decision, case by case', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const decision = run(c.object, c.over, c.old);
      t.equal(decision.outcome, c.outcome, 'outcome');
      t.equal(decision.allowed, c.outcome !== 'denied', 'allowed');
      const after = jsonPatch(c.object, decision.patch);
      if (!after.ok) throw new Error(after.error);
      t.same(after.value, c.patched ?? c.object, 'the patched pod');
      if (c.outcome !== 'forced') t.same(decision.patch, [], 'no patch');
      for (const w of c.warnings ?? [])
        t.ok(
          decision.warnings.some((x) => w.test(x)),
          `warns ${w}`,
        );
      if (c.message) t.match(decision.message, c.message, 'message');
      if (c.audit) t.same(decision.auditAnnotations, c.audit, 'audit annotations');
    });
  }
});

t.test('a malformed pod is an error that names the field', async (t) => {
  const bad: readonly [string, unknown, RegExp][] = [
    ['not an object', 'x', /not a Pod/],
    ['no spec', { metadata: {} }, /spec is missing/],
    ['containers not a list', { spec: { containers: {} } }, /containers is not a list/],
    ['a container without a name', { spec: { containers: [{ image: 'a:1' }] } }, /name is missing/],
    ['a container without an image', { spec: { containers: [{ name: 'a' }] } }, /image is missing/],
  ];
  for (const [name, object, error] of bad) {
    const read = readAdmittedPod({ scope: 'pod', namespace: 'n', object });
    t.match(read.ok ? '' : read.error, error, name);
  }
});

t.test('the namespace label overrides the cluster mode, exemptions win', async (t) => {
  const settings = {
    clusterMode: 'warn' as const,
    exemptions: [parseNamespaceExemption('team=platform'), parseNamespaceExemption('legacy')],
  };
  const modes: readonly [string, Record<string, string> | undefined, string][] = [
    ['no labels: the cluster mode', {}, 'warn'],
    ['unreadable namespace: the cluster mode', undefined, 'warn'],
    ['label enforce', { 'pullwatch.dev/prevention': 'enforce' }, 'enforce'],
    ['label off', { 'pullwatch.dev/prevention': 'off' }, 'off'],
    ['a typo does not switch it off', { 'pullwatch.dev/prevention': 'of' }, 'warn'],
    ['exempt by key=value', { team: 'platform', 'pullwatch.dev/prevention': 'enforce' }, 'off'],
    ['another value is not exempt', { team: 'tenant' }, 'warn'],
    ['exempt by key', { legacy: '' }, 'off'],
  ];
  for (const [name, labels, expected] of modes)
    t.equal(namespaceMode(settings, labels), expected, name);
});

// The ValidatingAdmissionPolicy that holds each agent to its own node's reports and events
// (manifests/base/node-restriction-policy.yaml), taken from the rendered install manifests and
// evaluated, matchConditions, variables and validations alike, with a CEL implementation from
// npm (test/deploy/admission-policy.ts) against AdmissionRequests as the API server builds
// them: an agent on node-1 writing node-1's objects and node-2's, other users, other tokens.

import t from 'tap';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import type { IValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import type { IValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { fileURLToPath } from 'node:url';
import { compilePolicy } from './admission-policy.ts';
import type { Admission, AdmissionRequest, PolicyVerdict } from './admission-policy.ts';
import { kubectlForManifests, render } from './kustomize.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests', import.meta.url));
const NODE_NAME_CLAIM = 'authentication.kubernetes.io/node-name';

// ---------------------------------------------------------------------------------------------
// Who asks

type UserInfo = AdmissionRequest['userInfo'];

/** A pod's bound service account token as the API server authenticates it (1.30+). */
const boundToken = (namespace: string, account: string, node: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${account}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  extra: {
    'authentication.kubernetes.io/credential-id': ['JTI=0c1e6b3a-5d7e-4d8a-9c1f-2b3a4c5d6e7f'],
    [NODE_NAME_CLAIM]: [node],
    'authentication.kubernetes.io/node-uid': [`uid-of-${node}`],
    'authentication.kubernetes.io/pod-name': [`${account}-x7k2p`],
    'authentication.kubernetes.io/pod-uid': ['6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'],
  },
});

const agentOn = (node: string): UserInfo => boundToken('pullwatch', 'pullwatch-agent', node);

/** The same account with a token that names no node. */
const legacySecretToken: UserInfo = {
  username: 'system:serviceaccount:pullwatch:pullwatch-agent',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:pullwatch', 'system:authenticated'],
};
/** `kubectl create token pullwatch-agent`: bound to nothing, so it names no node. */
const unboundToken: UserInfo = {
  ...legacySecretToken,
  extra: { 'authentication.kubernetes.io/credential-id': ['JTI=a1b2c3d4'] },
};

// ---------------------------------------------------------------------------------------------
// What it writes

/** A report kind: its API resource, and the name pullwatch gives a node's object of it. */
interface ReportKind {
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly namespaced: boolean;
  readonly nameFor: (node: string) => string;
}

const REPORT: ReportKind = {
  kind: 'Report',
  group: 'openreports.io',
  version: 'v1alpha1',
  resource: 'reports',
  namespaced: true,
  nameFor: (node) => `pullwatch-${node}`,
};

const REPORT_KINDS: readonly ReportKind[] = [
  REPORT,
  {
    kind: 'ClusterReport',
    group: 'openreports.io',
    version: 'v1alpha1',
    resource: 'clusterreports',
    namespaced: false,
    nameFor: (node) => `pullwatch-node-${node}`,
  },
  {
    kind: 'PolicyReport',
    group: 'wgpolicyk8s.io',
    version: 'v1alpha2',
    resource: 'policyreports',
    namespaced: true,
    nameFor: (node) => `pullwatch-${node}`,
  },
  {
    kind: 'ClusterPolicyReport',
    group: 'wgpolicyk8s.io',
    version: 'v1alpha2',
    resource: 'clusterpolicyreports',
    namespaced: false,
    nameFor: (node) => `pullwatch-node-${node}`,
  },
];

interface KubeObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** pullwatch's report of `node` (as agent/reports/ writes it), or a forgery of it. */
function report(
  kind: ReportKind,
  node: string,
  change: { readonly name?: string; readonly labels?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: `${kind.group}/${kind.version}`,
    kind: kind.kind,
    metadata: {
      name: change.name ?? kind.nameFor(node),
      ...(kind.namespaced ? { namespace: 'tenant-b' } : {}),
      labels: change.labels ?? {
        'app.kubernetes.io/managed-by': 'pullwatch',
        'pullwatch.dev/node': node,
      },
    },
    results: [],
  };
}

/** An Event API: events.k8s.io/v1 calls the controller reportingController, core/v1 reportingComponent. */
interface EventApi {
  readonly label: string;
  readonly group: string;
  readonly controllerField: 'reportingController' | 'reportingComponent';
}
const EVENTS_V1: EventApi = {
  label: 'Event',
  group: 'events.k8s.io',
  controllerField: 'reportingController',
};
const CORE_EVENT: EventApi = {
  label: 'core/v1 Event',
  group: '',
  controllerField: 'reportingComponent',
};

/** The Warning Event an agent writes about a flagged pod (agent/events/event.ts). */
function event(
  api: EventApi,
  instance: string,
  controller = 'pullwatch.dev/agent',
  name = 'admin2-pod.pullwatch.17f3a9c2',
): KubeObject {
  return {
    apiVersion: api.group === '' ? 'v1' : `${api.group}/v1`,
    kind: 'Event',
    metadata: { name, namespace: 'tenant-b' },
    [api.controllerField]: controller,
    reportingInstance: instance,
    type: 'Warning',
    reason: 'UnauthorizedCachedImage',
  };
}

type Operation = 'CREATE' | 'UPDATE' | 'DELETE';
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE'];

/**
 * The admission of `operation` by `user`: `before` is the stored object (UPDATE, DELETE),
 * `after` the object as it will be stored (CREATE, UPDATE).
 */
function admission(
  user: UserInfo,
  target: { readonly group: string; readonly version: string; readonly resource: string },
  operation: Operation,
  objects: { readonly before?: KubeObject; readonly after?: KubeObject },
): Admission {
  const named = objects.after ?? objects.before;
  return {
    request: {
      operation,
      resource: target,
      name: named?.metadata.name ?? '',
      ...(named?.metadata.namespace === undefined ? {} : { namespace: named.metadata.namespace }),
      userInfo: user,
    },
    object: operation === 'DELETE' ? null : (objects.after ?? null),
    oldObject: operation === 'CREATE' ? null : (objects.before ?? null),
  };
}

/** An agent's write of one object: on UPDATE and DELETE it was stored as it is written. */
const write = (
  user: UserInfo,
  target: { readonly group: string; readonly version: string; readonly resource: string },
  operation: Operation,
  object: KubeObject,
): Admission => admission(user, target, operation, { before: object, after: object });

/** `user` creates node's Report in tenant-b. */
const createReport = (user: UserInfo, node: string): Admission =>
  write(user, REPORT, 'CREATE', report(REPORT, node));

const EVENTS = (api: EventApi) => ({ group: api.group, version: 'v1', resource: 'events' });

// ---------------------------------------------------------------------------------------------
// The cases

interface Case {
  readonly name: string;
  readonly admission: Admission;
  readonly expect: PolicyVerdict['verdict'];
  /** A message the denial carries. */
  readonly message?: RegExp;
}

const OWN_REPORTS = /may write only the \w+ named pullwatch-(node-)?node-1\b/;

const cases: Case[] = [
  ...REPORT_KINDS.flatMap((kind) =>
    OPERATIONS.flatMap((operation): Case[] => [
      {
        name: `agent on node-1 ${operation}s node-1's ${kind.kind}`,
        admission: write(agentOn('node-1'), kind, operation, report(kind, 'node-1')),
        expect: 'allowed',
      },
      {
        name: `agent on node-1 ${operation}s node-2's ${kind.kind}`,
        admission: write(agentOn('node-1'), kind, operation, report(kind, 'node-2')),
        expect: 'denied',
        message: OWN_REPORTS,
      },
      {
        name: `agent on node-1 ${operation}s a ${kind.kind} with its own name labelled node-2`,
        admission: write(
          agentOn('node-1'),
          kind,
          operation,
          report(kind, 'node-2', { name: kind.nameFor('node-1') }),
        ),
        expect: 'denied',
        message: /labelled pullwatch.dev\/node=node-1/,
      },
      {
        name: `agent on node-1 ${operation}s a ${kind.kind} labelled node-1 with node-2's name`,
        admission: write(
          agentOn('node-1'),
          kind,
          operation,
          report(kind, 'node-1', { name: kind.nameFor('node-2') }),
        ),
        expect: 'denied',
        message: OWN_REPORTS,
      },
      {
        name: `agent on node-1 ${operation}s its ${kind.kind} without the node label`,
        admission: write(
          agentOn('node-1'),
          kind,
          operation,
          report(kind, 'node-1', { labels: {} }),
        ),
        expect: 'denied',
      },
      {
        name: `a token naming no node ${operation}s node-1's ${kind.kind}`,
        admission: write(legacySecretToken, kind, operation, report(kind, 'node-1')),
        expect: 'denied',
        message: /authentication.kubernetes.io\/node-name/,
      },
      {
        name: `pullwatch controller ${operation}s node-2's ${kind.kind} (not matched)`,
        admission: write(
          boundToken('pullwatch', 'pullwatch-controller', 'infra-1'),
          kind,
          operation,
          report(kind, 'node-2'),
        ),
        expect: 'not matched',
      },
    ]),
  ),
  ...REPORT_KINDS.flatMap((kind): Case[] => [
    {
      name: `agent on node-1 relabels node-2's ${kind.kind} as its own (UPDATE)`,
      admission: admission(agentOn('node-1'), kind, 'UPDATE', {
        before: report(kind, 'node-2', { name: kind.nameFor('node-1') }),
        after: report(kind, 'node-1'),
      }),
      expect: 'denied',
      message: /labelled pullwatch.dev\/node=node-1/,
    },
    {
      name: `agent on node-1 hands its ${kind.kind} to node-2 (UPDATE)`,
      admission: admission(agentOn('node-1'), kind, 'UPDATE', {
        before: report(kind, 'node-1'),
        after: report(kind, 'node-2', { name: kind.nameFor('node-1') }),
      }),
      expect: 'denied',
    },
    {
      name: `the ${kind.kind} kind's other-scope name: node-1 writes the ${kind.namespaced ? 'cluster' : 'namespaced'} name`,
      admission: write(
        agentOn('node-1'),
        kind,
        'CREATE',
        report(kind, 'node-1', {
          name: kind.namespaced ? 'pullwatch-node-node-1' : 'pullwatch-node-1',
        }),
      ),
      expect: 'denied',
    },
  ]),
  ...[EVENTS_V1, CORE_EVENT].flatMap((api) =>
    OPERATIONS.flatMap((operation): Case[] => [
      {
        name: `agent on node-1 ${operation}s its own ${api.label}`,
        admission: write(agentOn('node-1'), EVENTS(api), operation, event(api, 'node-1')),
        expect: 'allowed',
      },
      {
        name: `agent on node-1 ${operation}s an ${api.label} of reportingInstance node-2`,
        admission: write(agentOn('node-1'), EVENTS(api), operation, event(api, 'node-2')),
        expect: 'denied',
        message: /reportingInstance node-1/,
      },
      {
        name: `agent on node-1 ${operation}s the kubelet's ${api.label} on node-1`,
        admission: write(
          agentOn('node-1'),
          EVENTS(api),
          operation,
          event(api, 'node-1', 'kubelet', 'admin2-pod.kubelet'),
        ),
        expect: 'denied',
        message: /reportingController pullwatch.dev\/agent/,
      },
      {
        name: `a token naming no node ${operation}s node-1's ${api.label}`,
        admission: write(unboundToken, EVENTS(api), operation, event(api, 'node-1')),
        expect: 'denied',
        message: /authentication.kubernetes.io\/node-name/,
      },
      {
        name: `the kubelet of node-2 ${operation}s its ${api.label} (not matched)`,
        admission: write(
          { username: 'system:node:node-2', groups: ['system:nodes', 'system:authenticated'] },
          EVENTS(api),
          operation,
          event(api, 'node-2', 'kubelet'),
        ),
        expect: 'not matched',
      },
    ]),
  ),
  {
    name: 'agent on node-1 takes over an Event of node-2 (UPDATE)',
    admission: admission(agentOn('node-1'), EVENTS(EVENTS_V1), 'UPDATE', {
      before: event(EVENTS_V1, 'node-2'),
      after: event(EVENTS_V1, 'node-1'),
    }),
    expect: 'denied',
  },
  {
    name: 'an Event without reportingInstance',
    admission: write(agentOn('node-1'), EVENTS(EVENTS_V1), 'CREATE', {
      metadata: { name: 'e', namespace: 'tenant-b' },
      reportingController: 'pullwatch.dev/agent',
    }),
    expect: 'denied',
  },
  {
    name: 'a token made with kubectl create token (bound to no pod) writes a Report',
    admission: createReport(unboundToken, 'node-1'),
    expect: 'denied',
    message: /authentication.kubernetes.io\/node-name/,
  },
  {
    name: 'a token that names two nodes',
    admission: createReport(
      { ...agentOn('node-1'), extra: { [NODE_NAME_CLAIM]: ['node-1', 'node-2'] } },
      'node-1',
    ),
    expect: 'denied',
  },
  {
    name: 'the agent in an overlay namespace (security-tools) writes its own Report',
    admission: createReport(boundToken('security-tools', 'pullwatch-agent', 'node-1'), 'node-1'),
    expect: 'allowed',
  },
  {
    name: "the agent in an overlay namespace (security-tools) writes node-2's Report",
    admission: createReport(boundToken('security-tools', 'pullwatch-agent', 'node-1'), 'node-2'),
    expect: 'denied',
  },
  {
    name: 'a person (cluster admin) deletes a Report (not matched)',
    admission: write(
      { username: 'alice@example.com', groups: ['system:masters', 'system:authenticated'] },
      REPORT,
      'DELETE',
      report(REPORT, 'node-2'),
    ),
    expect: 'not matched',
  },
  {
    name: 'a tenant service account whose name ends like the agent’s writes an Event (not matched)',
    admission: write(
      boundToken('tenant-a', 'my-pullwatch-agent', 'node-1'),
      EVENTS(EVENTS_V1),
      'CREATE',
      event(EVENTS_V1, 'node-2', 'example.com/app'),
    ),
    expect: 'not matched',
  },
  {
    name: 'the agent writes a ConfigMap (not a kind the policy covers)',
    admission: write(
      agentOn('node-1'),
      { group: '', version: 'v1', resource: 'configmaps' },
      'CREATE',
      {
        metadata: { name: 'x', namespace: 'pullwatch' },
      },
    ),
    expect: 'not matched',
  },
];

// ---------------------------------------------------------------------------------------------

t.test('the admission policy that holds each agent to its own node', async (t) => {
  const kubectl = await kubectlForManifests(t);
  if (kubectl === undefined) return;
  const objects = await render(kubectl, MANIFESTS);
  const policies = objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy');
  const bindings = objects.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding');
  t.equal(policies.length, 1, 'one policy in the install manifests');
  t.equal(bindings.length, 1, 'one binding');
  const policy = policies[0] as unknown as IValidatingAdmissionPolicy;
  const binding = bindings[0] as unknown as IValidatingAdmissionPolicyBinding;

  t.test('the policy and its binding are valid admissionregistration.k8s.io/v1', async (t) => {
    t.doesNotThrow(() => {
      new ValidatingAdmissionPolicy(policy).validate();
    });
    t.doesNotThrow(() => {
      new ValidatingAdmissionPolicyBinding(binding).validate();
    });
    // The check catches what the API server would refuse, so its pass means something.
    const unknownFailurePolicy = {
      ...policy,
      spec: { ...policy.spec, failurePolicy: 'Deny' },
    } as unknown as IValidatingAdmissionPolicy;
    t.throws(() => {
      new ValidatingAdmissionPolicy(unknownFailurePolicy).validate();
    }, 'failurePolicy Deny is not an API value');
    t.equal(policy.apiVersion, 'admissionregistration.k8s.io/v1');
    t.equal(binding.apiVersion, 'admissionregistration.k8s.io/v1');
  });

  t.test('the binding enforces the policy, everywhere, by denying', async (t) => {
    t.equal(binding.spec?.policyName, policy.metadata?.name, 'the binding names the policy');
    t.same(binding.spec?.validationActions, ['Deny']);
    t.equal(binding.spec?.matchResources, undefined, 'no narrower match than the policy');
    t.equal(binding.spec?.paramRef, undefined, 'no parameters');
    t.equal(policy.spec?.failurePolicy, 'Fail', 'an expression that fails denies');
  });

  t.test('every message is one line (the API server refuses line breaks)', async (t) => {
    for (const validation of policy.spec?.validations ?? []) {
      t.notMatch(validation.message ?? '', /\n/, validation.expression);
    }
  });

  const decide = compilePolicy(policy);
  const failedValidations = new Set<number>();

  t.test('agents on node-1 and everyone else', async (t) => {
    t.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique');
    for (const c of cases) {
      const verdict = decide(c.admission);
      if (verdict.verdict === 'error') {
        t.fail(`${c.name}: ${verdict.expression} failed: ${verdict.error}`);
        continue;
      }
      t.equal(verdict.verdict, c.expect, c.name);
      if (verdict.verdict === 'denied') {
        for (const index of verdict.failed) failedValidations.add(index);
        if (c.message !== undefined) t.match(verdict.messages.join('\n'), c.message, c.name);
      }
    }
  });

  t.test('each validation denies some case, so none is dead', async (t) => {
    const validations = policy.spec?.validations ?? [];
    t.ok(validations.length >= 4, 'node claim, report name, report label, event');
    for (const [index, validation] of validations.entries()) {
      t.ok(failedValidations.has(index), `denies a case: ${validation.expression}`);
    }
  });

  t.test("without oldObject, an agent could take over another node's report", async (t) => {
    // The mutation the UPDATE and DELETE cases guard against: checking only the new object.
    const newOnly = structuredClone(policy);
    const objects = newOnly.spec?.variables?.find((v) => v.name === 'objects');
    if (objects === undefined) throw new Error('the policy has no variable "objects"');
    objects.expression = 'object == null ? [] : [object]';
    const kind = REPORT;
    const takeover = admission(agentOn('node-1'), kind, 'UPDATE', {
      before: report(kind, 'node-2', { name: kind.nameFor('node-1') }),
      after: report(kind, 'node-1'),
    });
    t.equal(compilePolicy(newOnly)(takeover).verdict, 'allowed', 'the mutant lets it through');
    t.equal(decide(takeover).verdict, 'denied', 'the policy does not');
  });

  t.test('a messageExpression that cannot be evaluated falls back to message', async (t) => {
    const broken = structuredClone(policy);
    for (const validation of broken.spec?.validations ?? []) {
      validation.messageExpression = 'variables.missing.field';
    }
    const verdict = compilePolicy(broken)(
      write(agentOn('node-1'), EVENTS(EVENTS_V1), 'CREATE', event(EVENTS_V1, 'node-2')),
    );
    t.same(verdict.verdict === 'denied' && verdict.messages, [
      "pullwatch's agent may write only its own node's events",
    ]);
  });
});

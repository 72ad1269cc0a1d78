// Server-side apply on the embedded API server, through client-node the way pullwatch's report
// writer sends it: PATCH application/apply-patch+yaml with a fieldManager, by the typed
// CustomObjectsApi with a Content-Type middleware and by KubernetesObjectApi.patch.

/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   client-node's models are data-only classes and its serializer takes plain objects. */

import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import t from 'tap';
import { openReportsCrds, openReportsCrdsForTests } from '../report-crds.ts';
import { decodeFieldsV1, encodeFieldsV1, fieldPaths } from './apply.ts';
import { kubeConfigOf, refusal, serve } from './client-test-helpers.ts';
import type { EmbeddedApiServer, EmbeddedApiServerOptions } from './kube-apiserver.ts';

const present = await openReportsCrdsForTests();

interface Report extends KubernetesObject {
  results?: Record<string, unknown>[] | undefined;
  summary?: Record<string, number> | undefined;
  [field: string]: unknown;
}

const reports = {
  group: 'openreports.io',
  version: 'v1alpha1',
  plural: 'reports',
  namespace: 'tenant-b',
} as const;
const ssa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

function report(labels: Record<string, string>, results: Record<string, unknown>[]): Report {
  return {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    metadata: { name: 'pullwatch-node-1', namespace: 'tenant-b', labels },
    results,
    summary: { fail: results.length },
  };
}

const result = (policy: string): Record<string, unknown> => ({ policy, result: 'fail' });

async function reportServer(
  t: Parameters<typeof serve>[0],
  options: EmbeddedApiServerOptions = {},
): Promise<EmbeddedApiServer> {
  return serve(t, {
    namespaces: ['default', 'tenant-b'],
    customResourceDefinitions: await openReportsCrds(),
    ...options,
  });
}

function apply(
  custom: CustomObjectsApi,
  body: Report,
  fieldManager: string,
  force = false,
): Promise<Report> {
  return custom.patchNamespacedCustomObject(
    { ...reports, name: 'pullwatch-node-1', body, fieldManager, force },
    ssa,
  ) as Promise<Report>;
}

t.test(
  'an apply creates the Report, records its manager, and changes nothing when repeated',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const kc = kubeConfigOf(server);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const created = await apply(custom, report({ node: 'node-1' }, [result('a')]), 'pullwatch');
    t.equal(server.requestLog.at(-1)?.status, 201, 'an apply that creates answers 201');
    t.match(created.metadata?.managedFields, [
      {
        manager: 'pullwatch',
        operation: 'Apply',
        apiVersion: 'openreports.io/v1alpha1',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { 'f:node': {} } },
          'f:results': {},
          'f:summary': { 'f:fail': {} },
        },
      },
    ]);

    const seen: string[] = [];
    const watch = await new Watch(kc).watch(
      '/apis/openreports.io/v1alpha1/namespaces/tenant-b/reports',
      { resourceVersion: created.metadata?.resourceVersion ?? '' },
      (type: string) => seen.push(type),
      () => undefined,
    );
    const again = await apply(custom, report({ node: 'node-1' }, [result('a')]), 'pullwatch');
    t.equal(
      again.metadata?.resourceVersion,
      created.metadata?.resourceVersion,
      'the same apply keeps the resourceVersion',
    );
    t.same(again.metadata?.managedFields, created.metadata?.managedFields, 'and the managedFields');
    await new Promise((resolve) => setTimeout(resolve, 100));
    watch.abort();
    t.same(seen, [], 'and no watch event');
    t.equal(server.requestLog.at(-1)?.status, 200);
  },
);

t.test(
  'fields a manager stops applying are removed, unless another manager owns them',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    await apply(custom, report({ node: 'node-1', stale: 'yes' }, [result('a')]), 'pullwatch');
    await apply(
      custom,
      { ...report({ team: 'sec' }, []), results: undefined, summary: undefined },
      'labeller',
    );
    const after = await apply(custom, report({ node: 'node-1' }, [result('b')]), 'pullwatch');
    t.same(
      after.metadata?.labels,
      { node: 'node-1', team: 'sec' },
      'pullwatch dropped its stale label; the labeller’s stays',
    );
    t.same(after.results, [result('b')], 'a list is replaced whole');
    const withoutSummary = await apply(
      custom,
      { ...report({ node: 'node-1' }, [result('b')]), summary: undefined },
      'pullwatch',
    );
    t.equal(withoutSummary.summary, undefined, 'a map nobody applies any more goes');
  },
);

t.test(
  'a field another manager owns with another value is a 409 unless forced',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    await apply(custom, report({ node: 'node-1' }, [result('a')]), 'pullwatch');
    const intrusion = report({ node: 'node-2' }, [result('z')]);
    t.match(await refusal(apply(custom, intrusion, 'intruder')), {
      code: 409,
      reason: 'Conflict',
      message:
        'Apply failed with 2 conflicts: conflicts with "pullwatch" using openreports.io/v1alpha1:\n- .metadata.labels.node\n- .results',
      details: {
        causes: [
          { reason: 'FieldManagerConflict', field: '.metadata.labels.node' },
          { reason: 'FieldManagerConflict', field: '.results' },
        ],
      },
    });
    const shared = await apply(
      custom,
      { ...report({ node: 'node-1' }, []), results: undefined, summary: undefined },
      'co-owner',
    );
    t.equal(shared.metadata?.labels?.['node'], 'node-1', 'applying the same value is no conflict');

    const forced = await apply(custom, intrusion, 'intruder', true);
    t.equal(forced.metadata?.labels?.['node'], 'node-2', 'force takes the field');
    t.same(
      (forced.metadata?.managedFields ?? []).map((m) => [
        m.manager,
        [...decodeFieldsV1(m.fieldsV1).keys()].sort(),
      ]),
      [
        ['pullwatch', ['["summary","fail"]']],
        ['intruder', ['["metadata","labels","node"]', '["results"]', '["summary","fail"]']],
      ],
      'from every other owner; an owner left with nothing is dropped',
    );
  },
);

t.test(
  'apply asks for a fieldManager and refuses fields the schema does not declare',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    t.match(await refusal(apply(custom, report({}, []), '')), {
      code: 422,
      message:
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    });
    t.match(await refusal(apply(custom, { ...report({}, []), spec: { x: 1 } }, 'pullwatch')), {
      code: 400,
      message: /\.spec: field not declared in schema$/,
    });
    t.match(
      await refusal(apply(custom, report({}, [{ result: 'fail' }]), 'pullwatch')),
      { code: 422, message: /results\[0\]\.policy: Required value/ },
      'the merged object is validated like any write',
    );
    t.match(
      await refusal(
        custom.patchNamespacedCustomObject(
          { ...reports, name: 'pullwatch-node-1', body: { summary: {} }, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
      { code: 422, message: /force: Forbidden: may not be specified for non-apply patch/ },
    );
  },
);

t.test(
  'KubernetesObjectApi.patch applies by apiVersion and kind',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const objects = KubernetesObjectApi.makeApiClient(kubeConfigOf(server));
    const body = report({ node: 'node-1' }, [result('a')]);
    const first = await objects.patch(
      body,
      undefined,
      undefined,
      'pullwatch',
      true,
      PatchStrategy.ServerSideApply,
    );
    const second = await objects.patch(
      body,
      undefined,
      undefined,
      'pullwatch',
      true,
      PatchStrategy.ServerSideApply,
    );
    t.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
    t.match(
      server.requestLog.filter((r) => r.verb === 'patch'),
      [
        {
          resource: 'reports',
          group: 'openreports.io',
          user: 'system:admin',
          query: { fieldManager: 'pullwatch', force: 'true' },
        },
        { resource: 'reports', group: 'openreports.io' },
      ],
    );
  },
);

t.test('an apply that creates needs create as well as patch', { skip: !present }, async (t) => {
  const server = await reportServer(t, {
    tokens: { agent: { username: 'system:serviceaccount:pullwatch:agent' } },
    authorizeRequests: true,
    authorize: (a) => a.verb === 'patch' || a.verb === 'get',
  });
  const custom = kubeConfigOf(server, 'agent').makeApiClient(CustomObjectsApi);
  t.match(await refusal(apply(custom, report({}, [result('a')]), 'pullwatch')), {
    code: 403,
    message:
      /cannot create resource "reports" in API group "openreports.io" in the namespace "tenant-b"/,
  });
  server.auth.setRule((a) => ['patch', 'get', 'create'].includes(a.verb));
  const created = await apply(custom, report({}, [result('a')]), 'pullwatch');
  t.ok(created.metadata?.uid);
  server.auth.setRule((a) => a.verb === 'patch');
  const updated = await apply(custom, report({}, [result('b')]), 'pullwatch');
  t.same(updated.results, [result('b')], 'updating an existing object needs patch only');
});

t.test(
  'server-side apply works on core resources, and a later update takes the fields it changes',
  async (t) => {
    const server = await serve(t);
    const core = kubeConfigOf(server).makeApiClient(CoreV1Api);
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'default' },
      data: { a: '1', b: '2' },
    };
    await core.patchNamespacedConfigMap(
      { name: 'c', namespace: 'default', body: cm, fieldManager: 'applier' },
      ssa,
    );
    const edited = await core.patchNamespacedConfigMap(
      { name: 'c', namespace: 'default', body: { data: { a: 'edited' } }, fieldManager: 'editor' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    t.match(edited.metadata?.managedFields, [
      { manager: 'applier', operation: 'Apply', fieldsV1: { 'f:data': { 'f:b': {} } } },
      { manager: 'editor', operation: 'Update', fieldsV1: { 'f:data': { 'f:a': {} } } },
    ]);
    t.match(
      await refusal(
        core.patchNamespacedConfigMap(
          { name: 'c', namespace: 'default', body: cm, fieldManager: 'applier' },
          ssa,
        ),
      ),
      { code: 409, message: /conflict with "editor" using v1: \.data\.a$/ },
    );
  },
);

const pathCases = [
  {
    name: 'maps are walked to their leaves',
    obj: { metadata: { name: 'x', labels: { a: '1' } }, spec: { b: { c: 1 } } },
    want: ['["metadata","labels","a"]', '["spec","b","c"]'],
  },
  {
    name: 'lists and empty maps are leaves',
    obj: { metadata: {}, results: [{ policy: 'p' }], summary: {} },
    want: ['["results"]', '["summary"]'],
  },
  {
    name: 'identity and type fields are nobody’s',
    obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'y', uid: 'u' } },
    want: [],
  },
  {
    name: 'the status is the status subresource’s only',
    obj: { metadata: {}, spec: { a: 1 }, status: { ready: true } },
    want: ['["spec","a"]'],
  },
];

for (const c of pathCases) {
  t.test(`field ownership: ${c.name}`, async (t) => {
    const paths = fieldPaths(c.obj, undefined);
    t.same([...paths.keys()].sort(), c.want);
    t.same(
      [...decodeFieldsV1(encodeFieldsV1(paths.values())).keys()].sort(),
      c.want,
      'FieldsV1 round-trips',
    );
  });
}

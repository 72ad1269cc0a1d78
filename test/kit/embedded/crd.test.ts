// Custom resources on the embedded API server, through client-node as pullwatch's writers use
// it: the OpenReports CRDs from ../shared installed at construction, a CRD POSTed at run time,
// the wgpolicyk8s.io CRDs derived from the OpenReports ones, schema validation and pruning.

/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
   client-node's models (V1ObjectMeta...) are data-only classes and its serializer takes plain
   objects, as client-node's own examples write them. */

import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { KubernetesObject, V1CustomResourceDefinition } from '@kubernetes/client-node';
import t from 'tap';
import { openReportsCrds, openReportsCrdsForTests, wgpolicyCrds } from '../report-crds.ts';
import { eventually, kubeConfigOf, refusal, serve } from './client-test-helpers.ts';
import type { EmbeddedApiServer } from './kube-apiserver.ts';

const present = await openReportsCrdsForTests();

const reports = { group: 'openreports.io', version: 'v1alpha1', plural: 'reports' } as const;

interface Report extends KubernetesObject {
  results?: Record<string, unknown>[];
  summary?: Record<string, number>;
  [field: string]: unknown;
}

function report(name: string, results: Record<string, unknown>[], extra: object = {}): Report {
  return {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    metadata: {
      name,
      namespace: 'tenant-b',
      labels: { 'app.kubernetes.io/managed-by': 'pullwatch', node: 'node-1' },
    },
    results,
    summary: { fail: results.length },
    ...extra,
  };
}

const failing = {
  policy: 'unauthorized-cached-image-use',
  rule: 'unauthorized-cached-image-use',
  result: 'fail',
  severity: 'critical',
  source: 'pullwatch',
  timestamp: { seconds: 1_700_000_000, nanos: 0 },
  properties: { findingId: 'f-1' },
};

async function reportServer(t: Parameters<typeof serve>[0]): Promise<EmbeddedApiServer> {
  return serve(t, {
    namespaces: ['default', 'tenant-a', 'tenant-b'],
    customResourceDefinitions: [...(await openReportsCrds()), ...(await wgpolicyCrds())],
  });
}

t.test(
  'OpenReports Reports are created, read, listed, patched and deleted',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    const created = (await custom.createNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      body: report('pullwatch-node-1', [failing]),
    })) as Report;
    t.match(created.metadata, { uid: /^[0-9a-f-]{36}$/, resourceVersion: /^\d+$/, generation: 1 });
    t.equal(created.apiVersion, 'openreports.io/v1alpha1');
    await custom.createNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      body: {
        ...report('other', []),
        metadata: { name: 'other', namespace: 'tenant-b', labels: { node: 'node-2' } },
      },
    });

    const byLabel = (await custom.listNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      labelSelector: 'node=node-1',
    })) as { kind: string; items: Report[] };
    t.equal(byLabel.kind, 'ReportList');
    t.same(
      byLabel.items.map((r) => r.metadata?.name),
      ['pullwatch-node-1'],
      'a label selector narrows',
    );
    const byName = (await custom.listClusterCustomObject({
      ...reports,
      fieldSelector: 'metadata.name=other',
    })) as { items: Report[] };
    t.same(
      byName.items.map((r) => r.metadata?.namespace),
      ['tenant-b'],
      'metadata.name selects across namespaces',
    );
    t.match(
      await refusal(custom.listClusterCustomObject({ ...reports, fieldSelector: 'spec.node=x' })),
      { code: 400, message: 'field label not supported: spec.node' },
      'a custom resource has only the metadata field labels unless its CRD declares selectable fields',
    );

    const patched = (await custom.patchNamespacedCustomObject(
      {
        ...reports,
        namespace: 'tenant-b',
        name: 'pullwatch-node-1',
        body: { summary: { fail: 2 } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Report;
    t.same(patched.summary, { fail: 2 });
    t.equal(patched.metadata?.generation, 2, 'a change outside metadata bumps the generation');

    const relabelled = (await custom.replaceNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      name: 'pullwatch-node-1',
      body: {
        ...patched,
        metadata: { ...patched.metadata, labels: { node: 'node-1', extra: 'yes' } },
      },
    })) as Report;
    t.equal(relabelled.metadata?.generation, 2, 'a metadata-only change keeps it');

    await custom.deleteNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      name: 'pullwatch-node-1',
    });
    t.match(
      await refusal(
        custom.getNamespacedCustomObject({
          ...reports,
          namespace: 'tenant-b',
          name: 'pullwatch-node-1',
        }),
      ),
      { code: 404, message: 'reports.openreports.io "pullwatch-node-1" not found' },
    );
  },
);

t.test('ClusterReports are cluster-scoped', { skip: !present }, async (t) => {
  const server = await reportServer(t);
  const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
  const body = {
    ...report('pullwatch-node-node-1', [failing]),
    kind: 'ClusterReport',
    metadata: { name: 'pullwatch-node-node-1' },
  };
  const created = (await custom.createClusterCustomObject({
    ...reports,
    plural: 'clusterreports',
    body,
  })) as Report;
  t.equal(created.metadata?.namespace, undefined);
  const stored = server.store.get('clusterreports.openreports.io', {
    name: 'pullwatch-node-node-1',
  });
  t.ok(stored.ok, 'the fixture store reads it by plural.group');
});

const invalidCases = [
  {
    name: 'a result outside the enum',
    results: [{ ...failing, result: 'broken' }],
    field: 'results[0].result',
    message:
      /^Unsupported value: "broken": supported values: "pass", "fail", "warn", "error", "skip"$/,
  },
  {
    name: 'a result without its policy',
    results: [{ result: 'fail' }],
    field: 'results[0].policy',
    message: /^Required value$/,
  },
  {
    name: 'a severity the scale does not know',
    results: [{ ...failing, severity: 'urgent' }],
    field: 'results[0].severity',
    message: /^Unsupported value: "urgent"/,
  },
  {
    name: 'a string where a boolean belongs',
    results: [{ ...failing, scored: 'yes' }],
    field: 'results[0].scored',
    message: /must be of type boolean/,
  },
  {
    name: 'nanos beyond int32',
    results: [{ ...failing, timestamp: { seconds: 1, nanos: 2 ** 40 } }],
    field: 'results[0].timestamp.nanos',
    message: /must match format "int32"/,
  },
  {
    name: 'a property that is not a string',
    results: [{ ...failing, properties: { count: 3 } }],
    field: 'results[0].properties.count',
    message: /must be of type string/,
  },
];

for (const c of invalidCases) {
  t.test(`422 Invalid names the field: ${c.name}`, { skip: !present }, async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    const status = await refusal(
      custom.createNamespacedCustomObject({
        ...reports,
        namespace: 'tenant-b',
        body: report('bad', c.results),
      }),
    );
    t.match(status, {
      code: 422,
      reason: 'Invalid',
      message: new RegExp(
        `^Report.openreports.io "bad" is invalid: ${c.field.replace(/[[\].]/g, '\\$&')}: `,
      ),
    });
    t.match(status.details?.causes, [{ field: c.field, message: c.message }]);
    t.notOk(
      server.store.get('reports.openreports.io', { namespace: 'tenant-b', name: 'bad' }).ok,
      'nothing is stored',
    );
  });
}

t.test('fields the schema does not declare are pruned', { skip: !present }, async (t) => {
  const server = await reportServer(t);
  const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
  const created = (await custom.createNamespacedCustomObject({
    ...reports,
    namespace: 'tenant-b',
    body: report('pruned', [{ ...failing, tenant: 'tenant-a' }], { spec: { owner: 'tenant-a' } }),
  })) as Report;
  t.equal(created['spec'], undefined, 'an unknown top-level field is gone');
  t.equal(created.results?.[0]?.['tenant'], undefined, 'and an unknown field inside a result');
  t.equal(created.results?.[0]?.['policy'], failing.policy, 'known fields stay');
  t.same(
    created.metadata?.labels,
    { 'app.kubernetes.io/managed-by': 'pullwatch', node: 'node-1' },
    'metadata is never pruned',
  );
});

t.test(
  'a watch on Reports replays from a resourceVersion and gets 410 once history expired',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const kc = kubeConfigOf(server);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
    })) as {
      metadata: { resourceVersion: string };
    };
    await custom.createNamespacedCustomObject({
      ...reports,
      namespace: 'tenant-b',
      body: report('r1', []),
    });
    const seen: string[] = [];
    const watch = await new Watch(kc).watch(
      '/apis/openreports.io/v1alpha1/namespaces/tenant-b/reports',
      { resourceVersion: list.metadata.resourceVersion },
      (type: string, obj: Report) =>
        seen.push(`${type} ${obj.metadata?.name ?? ''} ${String(obj.apiVersion)}`),
      () => undefined,
    );
    await eventually(() => seen.length === 1, 'the replayed ADDED');
    watch.abort();
    t.same(seen, ['ADDED r1 openreports.io/v1alpha1']);

    server.faults.expireHistory();
    const expired: { type: string; code?: number }[] = [];
    await new Watch(kc).watch(
      '/apis/openreports.io/v1alpha1/namespaces/tenant-b/reports',
      { resourceVersion: list.metadata.resourceVersion },
      (type: string, obj: { code?: number }) =>
        expired.push({ type, ...(obj.code ? { code: obj.code } : {}) }),
      () => undefined,
    );
    await eventually(() => expired.length === 1, 'the ERROR event');
    t.same(expired, [{ type: 'ERROR', code: 410 }]);
  },
);

t.test(
  'discovery finds the groups, so KubernetesObjectApi resolves Report by apiVersion and kind',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const kc = kubeConfigOf(server);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const created = await objects.create(report('by-kind', [failing]));
    t.equal(created.metadata?.name, 'by-kind');
    const read = await objects.read({
      apiVersion: 'openreports.io/v1alpha1',
      kind: 'Report',
      metadata: { name: 'by-kind', namespace: 'tenant-b' },
    });
    t.equal(read.metadata?.uid, created.metadata?.uid);
    const groups = (await fetch(`${server.url}/apis`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    }).then((r) => r.json())) as {
      groups: { name: string; preferredVersion: { version: string } }[];
    };
    t.match(
      groups.groups.filter((g) =>
        ['openreports.io', 'wgpolicyk8s.io', 'apiextensions.k8s.io'].includes(g.name),
      ),
      [
        { name: 'apiextensions.k8s.io', preferredVersion: { version: 'v1' } },
        { name: 'openreports.io', preferredVersion: { version: 'v1alpha1' } },
        { name: 'wgpolicyk8s.io', preferredVersion: { version: 'v1alpha2' } },
      ],
    );
    const resources = (await fetch(`${server.url}/apis/openreports.io/v1alpha1`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    }).then((r) => r.json())) as {
      resources: { name: string; namespaced: boolean; shortNames?: string[] }[];
    };
    t.match(resources.resources, [
      { name: 'reports', namespaced: true, shortNames: ['reps'] },
      { name: 'clusterreports', namespaced: false, shortNames: ['creps'] },
    ]);
  },
);

t.test(
  'wgpolicyk8s.io PolicyReports are served from the CRDs derived at run time',
  { skip: !present },
  async (t) => {
    const server = await reportServer(t);
    const custom = kubeConfigOf(server).makeApiClient(CustomObjectsApi);
    const created = (await custom.createNamespacedCustomObject({
      group: 'wgpolicyk8s.io',
      version: 'v1alpha2',
      plural: 'policyreports',
      namespace: 'tenant-b',
      body: {
        ...report('polr', [failing], { source: 'pullwatch' }),
        apiVersion: 'wgpolicyk8s.io/v1alpha2',
        kind: 'PolicyReport',
      },
    })) as Report;
    t.equal(created['source'], undefined, 'v1alpha2 has no report-level source: pruned');
    t.equal(created.results?.[0]?.['source'], 'pullwatch', 'the result keeps its own');
    t.match(
      await refusal(
        custom.createClusterCustomObject({
          group: 'wgpolicyk8s.io',
          version: 'v1alpha2',
          plural: 'clusterpolicyreports',
          body: {
            apiVersion: 'wgpolicyk8s.io/v1alpha2',
            kind: 'ClusterPolicyReport',
            metadata: { name: 'c' },
            results: [{ result: 'fail' }],
          },
        }),
      ),
      {
        code: 422,
        message:
          'ClusterPolicyReport.wgpolicyk8s.io "c" is invalid: results[0].policy: Required value',
      },
    );
  },
);

const widgetCrdJson = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    names: { kind: 'Widget', plural: 'widgets' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        selectableFields: [{ jsonPath: '.spec.color' }],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  color: { type: 'string', default: 'blue' },
                  size: { 'x-kubernetes-int-or-string': true },
                  note: { type: 'string', nullable: true },
                  free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
              status: { type: 'object', properties: { ready: { type: 'boolean' } } },
            },
          },
        },
      },
    ],
  },
};

// client-node's models name `default` `_default` and `x-kubernetes-*` in camel case: loadYaml
// turns the CRD's JSON into the model the typed client serializes back faithfully.
const widgetCrd = loadYaml<V1CustomResourceDefinition>(JSON.stringify(widgetCrdJson));

t.test(
  'a CRD POSTed at run time is served, with its status subresource and selectable fields',
  async (t) => {
    const server = await serve(t, { namespaces: ['default'] });
    const kc = kubeConfigOf(server);
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    const crd = await extensions.createCustomResourceDefinition({ body: widgetCrd });
    t.match(crd.status?.conditions, [
      { type: 'NamesAccepted', status: 'True' },
      { type: 'Established', status: 'True' },
    ]);
    t.match(crd.spec.names, { singular: 'widget', listKind: 'WidgetList' }, 'names are defaulted');

    const custom = kc.makeApiClient(CustomObjectsApi);
    const widgets = {
      group: 'example.com',
      version: 'v1',
      plural: 'widgets',
      namespace: 'default',
    };
    const created = (await custom.createNamespacedCustomObject({
      ...widgets,
      body: {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w' },
        spec: { size: '10%', note: null, free: { any: { thing: 1 } } },
        status: { ready: true },
      },
    })) as Report;
    t.same(
      created['spec'],
      { size: '10%', note: null, free: { any: { thing: 1 } }, color: 'blue' },
      'defaults filled, nullable null kept, unknown fields preserved where asked',
    );
    t.equal(created['status'], undefined, 'a create drops the status behind its subresource');

    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      { ...widgets, name: 'w', body: { status: { ready: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Report;
    t.same(withStatus['status'], { ready: true });
    t.equal(withStatus.metadata?.generation, 1, 'a status change keeps the generation');
    const mainPatch = (await custom.patchNamespacedCustomObject(
      { ...widgets, name: 'w', body: { spec: { color: 'red' }, status: { ready: false } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Report;
    t.same(mainPatch['status'], { ready: true }, 'the main resource cannot change the status');
    t.equal(mainPatch.metadata?.generation, 2);
    const red = (await custom.listNamespacedCustomObject({
      ...widgets,
      fieldSelector: 'spec.color=red',
    })) as { items: Report[] };
    t.equal(red.items.length, 1, 'a declared selectable field selects');

    t.match(
      await refusal(
        custom.createNamespacedCustomObject({
          ...widgets,
          body: {
            apiVersion: 'example.com/v1',
            kind: 'Widget',
            metadata: { name: 'x' },
            spec: { size: true },
          },
        }),
      ),
      { code: 422, details: { causes: [{ field: 'spec.size' }] } },
      'int-or-string refuses a boolean',
    );

    await extensions.deleteCustomResourceDefinition({ name: 'widgets.example.com' });
    t.match(
      await refusal(custom.listNamespacedCustomObject(widgets)),
      { code: 404 },
      'a deleted CRD is no longer served',
    );
    await extensions.createCustomResourceDefinition({ body: widgetCrd });
    const again = (await custom.listNamespacedCustomObject(widgets)) as { items: unknown[] };
    t.equal(again.items.length, 0, 'and its objects went with it');
  },
);

t.test('an invalid CRD is refused with 422', async (t) => {
  const server = await serve(t);
  const extensions = kubeConfigOf(server).makeApiClient(ApiextensionsV1Api);
  const status = await refusal(
    extensions.createCustomResourceDefinition({
      body: loadYaml<V1CustomResourceDefinition>(
        JSON.stringify({
          ...widgetCrdJson,
          metadata: { name: 'gadgets.example.com' },
          spec: { ...widgetCrdJson.spec, scope: 'Galaxy' },
        }),
      ),
    }),
  );
  t.match(status, {
    code: 422,
    message:
      /^CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.com" is invalid: \[metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural\+"."\+spec.group, spec.scope: Unsupported value: "Galaxy"/,
  });
});

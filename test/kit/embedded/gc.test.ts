// Garbage collection by ownerReferences on the embedded API server: what goes when a Node is
// deleted through client-node (the Reports and ClusterReports pullwatch writes carry the Node as
// owner), what stays, and what Orphan keeps.

import { CoreV1Api } from '@kubernetes/client-node';
import t from 'tap';
import { openReportsCrds, openReportsCrdsForTests } from '../report-crds.ts';
import { eventually, kubeConfigOf, serve } from './client-test-helpers.ts';
import type { EmbeddedApiServer, ResourceKey } from './kube-apiserver.ts';

const present = await openReportsCrdsForTests();

function create(server: EmbeddedApiServer, kind: ResourceKey, obj: object): string {
  const created = server.store.create(kind, obj);
  if (!created.ok) throw new Error(created.error.message);
  return created.value.metadata.uid ?? '';
}

function exists(server: EmbeddedApiServer, kind: ResourceKey, name: string, namespace?: string) {
  return server.store.get(kind, { name, ...(namespace ? { namespace } : {}) }).ok;
}

const owner = (kind: string, name: string, uid: string) => ({
  apiVersion: 'v1',
  kind,
  name,
  uid,
  controller: true,
});

interface World {
  readonly server: EmbeddedApiServer;
  readonly core: CoreV1Api;
  readonly nodeUid: string;
}

async function world(t: Parameters<typeof serve>[0]): Promise<World> {
  const server = await serve(t, {
    namespaces: ['default', 'tenant-a', 'tenant-b'],
    customResourceDefinitions: await openReportsCrds(),
  });
  const nodeUid = create(server, 'nodes', { metadata: { name: 'node-1' } });
  const ownedByNode = (name: string, namespace?: string) => ({
    apiVersion: 'openreports.io/v1alpha1',
    kind: namespace ? 'Report' : 'ClusterReport',
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ownerReferences: [owner('Node', 'node-1', nodeUid)],
    },
  });
  create(server, 'reports.openreports.io', ownedByNode('pullwatch-node-1', 'tenant-a'));
  create(server, 'reports.openreports.io', ownedByNode('pullwatch-node-1', 'tenant-b'));
  create(server, 'clusterreports.openreports.io', ownedByNode('pullwatch-node-node-1'));
  create(server, 'reports.openreports.io', {
    metadata: { name: 'unowned', namespace: 'tenant-b' },
  });
  return { server, core: kubeConfigOf(server).makeApiClient(CoreV1Api), nodeUid };
}

t.test(
  'deleting a Node deletes the Reports and ClusterReport it owns',
  { skip: !present },
  async (t) => {
    const { server, core } = await world(t);
    await core.deleteNode({ name: 'node-1' });
    await eventually(
      () => !exists(server, 'clusterreports.openreports.io', 'pullwatch-node-node-1'),
      'the ClusterReport to go',
    );
    await eventually(
      () =>
        !exists(server, 'reports.openreports.io', 'pullwatch-node-1', 'tenant-a') &&
        !exists(server, 'reports.openreports.io', 'pullwatch-node-1', 'tenant-b'),
      'the namespaced Reports of a cluster-scoped owner to go',
    );
    t.ok(
      exists(server, 'reports.openreports.io', 'unowned', 'tenant-b'),
      'an unowned Report stays',
    );
  },
);

t.test(
  'a dependent with another live owner only loses the reference',
  { skip: !present },
  async (t) => {
    const { server, core, nodeUid } = await world(t);
    const podUid = create(server, 'pods', {
      metadata: { name: 'p', namespace: 'tenant-b' },
      spec: { containers: [{ name: 'c', image: 'x:1' }] },
    });
    create(server, 'configmaps', {
      metadata: {
        name: 'two-owners',
        namespace: 'tenant-b',
        ownerReferences: [owner('Node', 'node-1', nodeUid), owner('Pod', 'p', podUid)],
      },
    });
    await core.deleteNode({ name: 'node-1' });
    await eventually(() => {
      const cm = server.store.get('configmaps', { name: 'two-owners', namespace: 'tenant-b' });
      return cm.ok && (cm.value.metadata['ownerReferences'] as unknown[]).length === 1;
    }, 'the dangling reference to go');
    const cm = server.store.get('configmaps', { name: 'two-owners', namespace: 'tenant-b' });
    t.match(cm.ok && cm.value.metadata['ownerReferences'], [{ kind: 'Pod', uid: podUid }]);
  },
);

t.test('collection cascades to the dependents of dependents', { skip: !present }, async (t) => {
  const { server, core } = await world(t);
  const report = server.store.get('reports.openreports.io', {
    name: 'pullwatch-node-1',
    namespace: 'tenant-b',
  });
  const reportUid = report.ok ? (report.value.metadata.uid ?? '') : '';
  create(server, 'configmaps', {
    metadata: {
      name: 'grandchild',
      namespace: 'tenant-b',
      ownerReferences: [
        {
          ...owner('Report', 'pullwatch-node-1', reportUid),
          apiVersion: 'openreports.io/v1alpha1',
        },
      ],
    },
  });
  await core.deleteNode({ name: 'node-1' });
  await eventually(
    () => !exists(server, 'configmaps', 'grandchild', 'tenant-b'),
    'the grandchild to go',
  );
  t.pass('gone');
});

t.test(
  'propagationPolicy Orphan keeps the dependents and strips the reference',
  { skip: !present },
  async (t) => {
    const { server, core } = await world(t);
    await core.deleteNode({ name: 'node-1', propagationPolicy: 'Orphan' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const kept = server.store.get('clusterreports.openreports.io', {
      name: 'pullwatch-node-node-1',
    });
    t.ok(kept.ok, 'the ClusterReport stays');
    t.equal(kept.ok && kept.value.metadata['ownerReferences'], undefined, 'without its owner');
  },
);

t.test('a namespaced owner only owns dependents in its own namespace', async (t) => {
  const server = await serve(t, { namespaces: ['default', 'tenant-a', 'tenant-b'] });
  const podUid = create(server, 'pods', {
    metadata: { name: 'p', namespace: 'tenant-a' },
    spec: { containers: [{ name: 'c', image: 'x:1' }] },
  });
  const otherUid = create(server, 'configmaps', {
    metadata: { name: 'keeper', namespace: 'tenant-b' },
  });
  create(server, 'configmaps', {
    metadata: {
      name: 'cross',
      namespace: 'tenant-b',
      ownerReferences: [owner('Pod', 'p', podUid), owner('ConfigMap', 'keeper', otherUid)],
    },
  });
  server.store.delete('configmaps', { name: 'keeper', namespace: 'tenant-b' });
  await eventually(() => !exists(server, 'configmaps', 'cross', 'tenant-b'), 'the dependent to go');
  t.pass('a pod in tenant-a does not keep alive a dependent in tenant-b');
});

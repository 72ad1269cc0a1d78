// A namespace's labels for the webhook's per-namespace mode, read from the in-process API
// server: one read for a burst, kept for the TTL, and undefined (the cluster's mode) when the
// namespace cannot be read.
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { NamespaceLabels } from './namespace-labels.ts';

t.test('namespace labels, read by name and kept a while', async (t) => {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  api.store.create('namespaces', {
    metadata: { name: 'tenant-b', labels: { 'pullwatch.dev/prevention': 'enforce' } },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  const reads = (name: string): number =>
    api.requestLog.filter((r) => r.path === `/api/v1/namespaces/${name}`).length;
  const labels = new NamespaceLabels({ kubeConfig: kc, ttlMs: 60_000, requestTimeoutMs: 500 });
  t.teardown(() => {
    labels.stop();
  });

  const cases: readonly {
    name: string;
    before?: () => void;
    namespace: string;
    labels: Record<string, string> | undefined;
    reads: number;
    concurrent?: number;
  }[] = [
    {
      name: 'a burst of pods in one namespace costs one read',
      namespace: 'tenant-b',
      concurrent: 20,
      labels: {
        'pullwatch.dev/prevention': 'enforce',
        'kubernetes.io/metadata.name': 'tenant-b',
      },
      reads: 1,
    },
    {
      name: 'within the TTL a relabel is not seen yet',
      before: () => {
        api.store.modify('namespaces', { name: 'tenant-b' }, (ns) => ({
          ...ns,
          metadata: { ...ns.metadata, labels: { 'pullwatch.dev/prevention': 'off' } },
        }));
      },
      namespace: 'tenant-b',
      labels: {
        'pullwatch.dev/prevention': 'enforce',
        'kubernetes.io/metadata.name': 'tenant-b',
      },
      reads: 1,
    },
    {
      name: 'a missing namespace: undefined, so the cluster mode applies',
      namespace: 'nowhere',
      labels: undefined,
      reads: 1,
    },
    {
      name: 'an unreadable namespace (403): undefined, and asked again next time',
      before: () => {
        api.faults.failNext('/api/v1/namespaces/forbidden', 403);
        api.store.create('namespaces', { metadata: { name: 'forbidden' } });
      },
      namespace: 'forbidden',
      labels: undefined,
      reads: 1,
    },
    {
      name: 'the next read of it succeeds',
      namespace: 'forbidden',
      labels: { 'kubernetes.io/metadata.name': 'forbidden' },
      reads: 2,
    },
  ];
  for (const c of cases) {
    c.before?.();
    const answers = await Promise.all(
      Array.from({ length: c.concurrent ?? 1 }, () => labels.labels(c.namespace)),
    );
    for (const answer of answers) t.same(answer, c.labels, c.name);
    t.equal(reads(c.namespace), c.reads, `${c.name}: reads`);
  }

  const short = new NamespaceLabels({ kubeConfig: kc, ttlMs: 1, requestTimeoutMs: 500 });
  t.teardown(() => {
    short.stop();
  });
  await short.labels('tenant-b');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(
    await short.labels('tenant-b'),
    { 'pullwatch.dev/prevention': 'off', 'kubernetes.io/metadata.name': 'tenant-b' },
    'after the TTL a relabel shows',
  );
});

t.test('a slow API server answers undefined within the request timeout', async (t) => {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  const kc = new KubeConfig();
  kc.loadFromOptions(api.kubeconfig());
  api.faults.delay('/api/v1/namespaces/default', 2_000);
  const labels = new NamespaceLabels({ kubeConfig: kc, requestTimeoutMs: 100 });
  t.teardown(() => {
    labels.stop();
  });
  t.equal(await labels.labels('default'), undefined);
});

// Helpers for the kube tests: an embedded API server per test, the real client-node's
// KubeConfig pointed at it, and waiting for a condition instead of sleeping a fixed time.
import { KubeConfig } from '@kubernetes/client-node';
import {
  startEmbeddedApiServer,
  type EmbeddedApiServer,
  type EmbeddedApiServerOptions,
  type RequestRecord,
} from './embedded/kube-apiserver.ts';

/** What a helper needs of a tap test. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function serve(
  t: Teardown,
  options: EmbeddedApiServerOptions = {},
): Promise<EmbeddedApiServer> {
  const server = await startEmbeddedApiServer({
    namespaces: ['default', 'kube-system', 'tenant-a', 'tenant-b'],
    ...options,
  });
  t.teardown(() => server.stop());
  return server;
}

export function kubeConfigFor(server: EmbeddedApiServer): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(server.kubeconfig());
  return kubeConfig;
}

export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface PodFixture {
  readonly name: string;
  readonly node: string;
  readonly namespace?: string;
  readonly image?: string;
  readonly pullPolicy?: string;
  readonly pullSecrets?: readonly string[];
  readonly labels?: Record<string, string>;
}

export function podObject(fixture: PodFixture): object {
  return {
    metadata: {
      name: fixture.name,
      namespace: fixture.namespace ?? 'tenant-a',
      labels: { app: fixture.name, ...fixture.labels },
    },
    spec: {
      nodeName: fixture.node,
      containers: [
        {
          name: 'main',
          image: fixture.image ?? 'registry.example/app:1.0',
          ...(fixture.pullPolicy ? { imagePullPolicy: fixture.pullPolicy } : {}),
        },
      ],
      ...(fixture.pullSecrets
        ? { imagePullSecrets: fixture.pullSecrets.map((name) => ({ name })) }
        : {}),
    },
  };
}

/** Creates a pod through the fixture store; throws on failure (test setup). */
export function createPod(server: EmbeddedApiServer, fixture: PodFixture): string {
  const created = server.store.create('pods', podObject(fixture));
  if (!created.ok) throw new Error(`creating pod ${fixture.name}: ${created.error.message}`);
  return created.value.metadata.uid ?? '';
}

export function deletePod(server: EmbeddedApiServer, name: string, namespace = 'tenant-a'): void {
  const deleted = server.store.delete('pods', { name, namespace });
  if (!deleted.ok) throw new Error(`deleting pod ${name}: ${deleted.error.message}`);
}

/** The server's pods on `node`, as sorted "namespace/name" strings. */
export function serverPods(server: EmbeddedApiServer, node: string): string[] {
  const listed = server.store.list('pods', { fieldSelector: `spec.nodeName=${node}` });
  if (!listed.ok) throw new Error(listed.error.message);
  return listed.value.map((p) => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`).sort();
}

export function requestsTo(
  server: EmbeddedApiServer,
  match: (record: RequestRecord) => boolean,
): RequestRecord[] {
  return server.requestLog.filter(match);
}

// The demo's real world (`pullwatch demo --real`): a real containerd with a real private
// registry behind it, the secret image built locally and pushed with skopeo, and the pull
// done through CRI PullImage with the pod's credentials, as the kubelet does.
import { join } from 'node:path';
import type { DemoWorld } from '../../agent/demo/world.ts';
import { startContainerd } from './containerd.ts';
import { pullImage } from './cri-mutate.ts';
import { buildImageLayout } from './oci.ts';
import { findTool } from './real-parts.ts';
import { startRegistry } from './registry.ts';
import { pushLayout } from './skopeo.ts';

const NEEDED = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];

export async function startRealWorld(dir: string): Promise<DemoWorld> {
  const missing = NEEDED.filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) {
    throw new Error(
      `--real needs ${missing.join(', ')} (Debian: containerd docker-registry skopeo apache2-utils)`,
    );
  }
  if (process.getuid?.() !== 0) throw new Error('--real starts containerd, which needs root');
  const teardowns: (() => Promise<void> | void)[] = [];
  const host = { teardown: (fn: () => Promise<void> | void) => teardowns.push(fn) };
  const stop = async () => {
    for (const fn of teardowns.reverse()) await fn();
  };
  try {
    const credentials = { username: 'admin1', password: `demo-${process.pid}-${Date.now()}` };
    const registry = await startRegistry(host, {
      users: { [credentials.username]: credentials.password },
    });
    const layout = await buildImageLayout(join(dir, 'super-secret-image-1'), {
      marker: 'super-secret-image-1',
    });
    const secretImage = `${registry.host}/team-a/super-secret-image-1:v1`;
    const manifestDigest = await pushLayout(layout.layoutDir, secretImage, credentials);
    const containerd = await startContainerd(host, { registryMirrors: [registry.host] });
    return {
      criEndpoint: containerd.socket,
      secretImage,
      registry: registry.host,
      credentials,
      agentArgs: [],
      description: `real containerd at ${containerd.socket}, real private registry at ${registry.host}`,
      pullSecretImage: async () => {
        await pullImage(containerd.socket, secretImage, credentials);
        return `${registry.host}/team-a/super-secret-image-1@${manifestDigest}`;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

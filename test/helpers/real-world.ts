// The story's real world (test/kit/story.ts): a real private registry (docker-registry with
// htpasswd) holding Admin1's image, built locally and pushed with skopeo, and a real containerd
// that pulls it through CRI PullImage with Admin1's credentials, as the kubelet does. The
// end-to-end and fault tests play the story here, and so does `npm run demo -- --real`.
import { join } from 'node:path';
import type { Credentials, StoryWorld } from '../kit/story.ts';
import type { Containerd } from './containerd.ts';
import { startContainerd } from './containerd.ts';
import { pullImage } from './cri-mutate.ts';
import { buildImageLayout } from './oci.ts';
import type { Registry } from './registry.ts';
import { startRegistry } from './registry.ts';
import { pushLayout } from './skopeo.ts';
import type { TeardownHost } from './tmp.ts';

/** The tools the real world starts (README "Tests" names their Debian packages). */
export const REAL_WORLD_TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];

export interface RealWorld extends StoryWorld {
  readonly registryServer: Registry;
  readonly containerd: Containerd;
  /** The image ID (config digest) containerd reports once the image is pulled. */
  readonly imageId: string;
  /** `HOST:PORT/team-a/super-secret-image-1@sha256:...` */
  readonly repoDigest: string;
}

export interface RealWorldOptions {
  /** Admin1's registry user. */
  readonly credentials: Credentials;
  /** More registry users besides Admin1. */
  readonly users?: Readonly<Record<string, string>>;
}

/** Starts the registry and containerd (stopped by `t`'s teardown) with the image pushed. */
export async function startRealWorld(
  t: TeardownHost,
  dir: string,
  options: RealWorldOptions,
): Promise<RealWorld> {
  const { credentials } = options;
  const registryServer = await startRegistry(t, {
    users: { [credentials.username]: credentials.password, ...options.users },
  });
  const layout = await buildImageLayout(join(dir, 'image'), { marker: 'super-secret-image-1' });
  const secretImage = `${registryServer.host}/team-a/super-secret-image-1:v1`;
  const manifestDigest = await pushLayout(layout.layoutDir, secretImage, credentials);
  const repoDigest = `${registryServer.host}/team-a/super-secret-image-1@${manifestDigest}`;
  const containerd = await startContainerd(t, { registryMirrors: [registryServer.host] });
  return {
    criEndpoint: containerd.socket,
    secretImage,
    registry: registryServer.host,
    credentials,
    statusImageId: `docker-pullable://${repoDigest}`,
    pullSecretImage: async () => {
      const pulled = await pullImage(containerd.socket, secretImage, credentials);
      if (pulled !== layout.configDigest) {
        throw new Error(`containerd pulled ${pulled}, expected ${layout.configDigest}`);
      }
    },
    registryServer,
    containerd,
    imageId: layout.configDigest,
    repoDigest,
  };
}

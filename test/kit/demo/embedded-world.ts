import { join } from 'node:path';
import type { CriImage } from '../../../agent/cri/types.ts';
import { startEmbeddedCriRuntime } from '../embedded/cri-runtime.ts';
import type { DemoWorld } from './world.ts';

const REGISTRY = 'registry.example.com';
const SECRET_IMAGE = `${REGISTRY}/team-a/super-secret-image-1:v1`;
const SECRET_REPO_DIGEST = `${REGISTRY}/team-a/super-secret-image-1@sha256:${'5e'.repeat(32)}`;

const publicImages: CriImage[] = [
  {
    id: `sha256:${'0f'.repeat(32)}`,
    repoTags: ['registry.k8s.io/pause:3.10'],
    repoDigests: [`registry.k8s.io/pause@sha256:${'1f'.repeat(32)}`],
    sizeBytes: 320_368n,
    pinned: true,
  },
  {
    id: `sha256:${'2e'.repeat(32)}`,
    repoTags: ['docker.io/library/nginx:1.27'],
    repoDigests: [`docker.io/library/nginx@sha256:${'3e'.repeat(32)}`],
    sizeBytes: 72_995_456n,
    pinned: false,
  },
];

const secretImage: CriImage = {
  id: `sha256:${'a1'.repeat(32)}`,
  repoTags: [SECRET_IMAGE],
  repoDigests: [SECRET_REPO_DIGEST],
  sizeBytes: 48_213_504n,
  pinned: false,
};

/** An in-process runtime over a real gRPC socket; the registry is fictional. */
export async function startEmbeddedWorld(dir: string): Promise<DemoWorld> {
  const runtime = await startEmbeddedCriRuntime(join(dir, 'containerd.sock'), {
    images: publicImages,
  });
  return {
    criEndpoint: runtime.target,
    secretImage: SECRET_IMAGE,
    registry: REGISTRY,
    credentials: { username: 'admin1', password: 'demo-password-never-shown' },
    statusImageId: SECRET_REPO_DIGEST,
    // The story's registry does not exist: visibility comes from who pulled with a secret.
    agentArgs: ['--registry-probe', 'off'],
    controllerArgs: ['--registry-probe', 'off'],
    description: 'embedded containerd-like runtime over gRPC, embedded API server over HTTP',
    pullSecretImage: () => {
      runtime.setContents({ images: [...publicImages, secretImage] });
      return Promise.resolve();
    },
    stop: () => runtime.stop(),
  };
}

// The Admin1/Admin2 story (CIS Kubernetes 1.2.11, AlwaysPullImages), written once. The demo
// narrates it; the end-to-end and fault tests play it against the agents they watch. Admin1
// (tenant-a) creates a pod with imagePullSecrets [image-pull-secret-1] and the kubelet pulls
// the private image with it; Admin2 (tenant-b), without the secret, creates a pod with the
// same image and IfNotPresent, and the kubelet starts it from the node's cache.
//
// The story plays the kubelet's part on an embedded API server (pods pending, then running)
// and in a world: a container runtime with a registry behind it, either embedded
// (test/kit/demo/embedded-world.ts) or a real containerd and a real private registry
// (test/helpers/real-world.ts).
import type { EmbeddedApiServer } from './embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from './embedded/kubelet-pods.ts';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Where the story's image lives: a container runtime with a registry behind it. */
export interface StoryWorld {
  /** What the agent's --cri-endpoint points at. */
  readonly criEndpoint: string;
  /** The image Admin1 pulls, in the registry the world provides. */
  readonly secretImage: string;
  /** The registry's host, as tenant-a's pull secret names it. */
  readonly registry: string;
  /** Admin1's credentials for that registry (put into tenant-a's pull secret, never shown). */
  readonly credentials: Credentials;
  /** The imageID the kubelet writes into the status of a container started from the image. */
  readonly statusImageId: string;
  /** Plays the kubelet's pull of the secret image with Admin1's credentials. */
  pullSecretImage(): Promise<void>;
}

export const TENANT_A = 'tenant-a';
export const TENANT_B = 'tenant-b';
export const ADMIN1_SECRET = 'image-pull-secret-1';
export const ADMIN1_POD = { namespace: TENANT_A, name: 'admin1-pod' } as const;
export const ADMIN2_POD = { namespace: TENANT_B, name: 'admin2-pod' } as const;
/** The owner the agent must record for the secret image once Admin1's pod runs. */
export const ADMIN1_OWNER = { tenant: TENANT_A, namespace: TENANT_A, secret: ADMIN1_SECRET };

/** The story's steps, in order, as `playStory` announces them. */
export type StoryStep =
  'admin1-creates-pod' | 'kubelet-pulls' | 'admin1-pod-runs' | 'admin2-runs-from-cache';

export type PullSecret = ReturnType<typeof dockerConfigSecret>;

/** The story's objects and the kubelet's part, for one node of one API server and world. */
export class Story {
  readonly api: EmbeddedApiServer;
  readonly world: StoryWorld;
  readonly node: string;

  constructor(api: EmbeddedApiServer, world: StoryWorld, node: string) {
    this.api = api;
    this.world = world;
    this.node = node;
  }

  /** The namespaces (tenant-a, tenant-b, then `more`) and tenant-a's pull secret. */
  setUp(more: readonly string[] = []): PullSecret {
    for (const name of [TENANT_A, TENANT_B, ...more]) {
      this.api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
    }
    const secret = dockerConfigSecret(
      TENANT_A,
      ADMIN1_SECRET,
      this.world.registry,
      this.world.credentials,
    );
    this.api.store.create('secrets', secret);
    return secret;
  }

  /** Admin1's pod is scheduled here with tenant-a's secret; its container is being created. */
  admin1CreatesPod(): void {
    this.createPod(ADMIN1_POD.namespace, ADMIN1_POD.name, [ADMIN1_SECRET]);
  }

  /** The kubelet pulls the image for Admin1's pod, with the pod's secret. */
  kubeletPulls(): Promise<void> {
    return this.world.pullSecretImage();
  }

  /** The kubelet starts Admin1's container from the pulled image. */
  admin1PodRuns(): void {
    this.api.store.modify('pods', ADMIN1_POD, markRunning(this.world.statusImageId));
  }

  /** Admin2's pod: tenant-b, no secret, IfNotPresent; the kubelet starts it from the cache. */
  admin2RunsFromCache(): void {
    this.runFromCache(ADMIN2_POD.namespace, ADMIN2_POD.name);
  }

  /** Any pod of this node with the secret image and IfNotPresent, started from the cache. */
  runFromCache(namespace: string, name: string, pullSecrets: readonly string[] = []): void {
    this.createPod(namespace, name, pullSecrets);
    this.api.store.modify('pods', { namespace, name }, markRunning(this.world.statusImageId));
  }

  private createPod(namespace: string, name: string, pullSecrets: readonly string[]): void {
    this.api.store.create(
      'pods',
      pendingPod(namespace, name, {
        node: this.node,
        image: this.world.secretImage,
        pullSecrets,
        pullPolicy: 'IfNotPresent',
      }),
    );
  }
}

/** What the player of the story waits for between steps, and how it watches the agent. */
export interface StoryWatch<Flagged> {
  /** Told before each step (the demo narrates here). */
  readonly before?: (step: StoryStep) => void;
  /**
   * Between Admin1's pending pod and the pull. By default 300 ms: the agent sees the pod
   * starting before the image arrives, as on a node where the pull takes a moment.
   */
  readonly beforePull?: () => Promise<void>;
  /** Once Admin1's pod runs: resolves when the agent has recorded tenant-a as the owner. */
  readonly ownerRecorded: () => Promise<void>;
  /** Once Admin2's pod runs from the cache: resolves to what the agent flags. */
  readonly flagged: () => Promise<Flagged>;
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/** Plays the story's pods on `story` (set up already), waiting on the agent as `watch` says. */
export async function playStory<Flagged>(
  story: Story,
  watch: StoryWatch<Flagged>,
): Promise<Flagged> {
  watch.before?.('admin1-creates-pod');
  story.admin1CreatesPod();
  await (watch.beforePull ?? (() => sleep(300)))();
  watch.before?.('kubelet-pulls');
  await story.kubeletPulls();
  watch.before?.('admin1-pod-runs');
  story.admin1PodRuns();
  await watch.ownerRecorded();
  watch.before?.('admin2-runs-from-cache');
  story.admin2RunsFromCache();
  return watch.flagged();
}

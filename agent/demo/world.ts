// Where the demo's story happens: a container runtime with a registry behind it. The embedded
// world needs nothing installed; the real one (test/helpers/real-world.ts) uses containerd,
// docker-registry and skopeo from a source checkout.

export interface DemoWorld {
  /** What the agent's --cri-endpoint points at. */
  readonly criEndpoint: string;
  /** The image Admin1 pulls, in the registry the world provides. */
  readonly secretImage: string;
  readonly registry: string;
  /** Admin1's credentials for that registry (put into tenant-a's pull secret, never shown). */
  readonly credentials: { readonly username: string; readonly password: string };
  /** Extra agent flags this world needs (e.g. --registry-probe off when the registry is fictional). */
  readonly agentArgs: readonly string[];
  readonly description: string;
  /** Plays the kubelet's pull with the pod's credentials; returns the pod's status imageID. */
  pullSecretImage(): Promise<string>;
  stop(): Promise<void>;
}

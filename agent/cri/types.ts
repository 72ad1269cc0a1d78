// The CRI messages pullwatch reads, as validated domain values (the raw protobuf
// objects are checked and converted in agent/cri/convert.ts; nothing else sees them).
import type { CachedImageRecord } from '../model/cached-image.ts';

/** A cached image as the runtime lists it (CRI `Image`): the model's runtime-neutral record. */
export type CriImage = CachedImageRecord;

export interface RuntimeVersion {
  /** The CRI API version negotiated with the runtime. */
  readonly api: 'v1' | 'v1alpha2';
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly runtimeApiVersion: string;
}

/** The pod a runtime object belongs to, from the labels the kubelet sets on it. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export type SandboxState = 'ready' | 'not-ready';

export interface CriPodSandbox {
  readonly id: string;
  readonly pod: PodIdentity;
  readonly attempt: number;
  readonly state: SandboxState;
  readonly createdAtNs: bigint;
  readonly labels: Readonly<Record<string, string>>;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface CriContainer {
  readonly id: string;
  readonly podSandboxId: string;
  readonly name: string;
  readonly attempt: number;
  /** The image as the kubelet passed it (usually the image ID after the pull). */
  readonly image: string;
  /** containerd: the config digest (image ID); older runtimes: a repo digest. */
  readonly imageRef: string;
  readonly state: ContainerState;
  readonly createdAtNs: bigint;
  readonly labels: Readonly<Record<string, string>>;
  /** Undefined when the container was not created by a kubelet (no io.kubernetes.* labels). */
  readonly pod: PodIdentity | undefined;
}

export interface CriContainerStatus extends CriContainer {
  readonly startedAtNs: bigint;
  readonly finishedAtNs: bigint;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
}

export interface ImageFsUsage {
  readonly mountpoint: string;
  readonly usedBytes: bigint | undefined;
  readonly inodesUsed: bigint | undefined;
  readonly timestampNs: bigint;
}

/** A list answer: the items that validated, and why the others were left out. */
export interface Listing<T> {
  readonly items: readonly T[];
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

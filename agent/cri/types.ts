// The CRI messages pullwatch reads, as validated domain values (the raw protobuf
// objects are checked and converted in agent/cri/convert.ts; nothing else sees them).

/** A cached image as the runtime lists it (CRI `Image`). */
export interface CriImage {
  /** Config digest in containerd (`sha256:...`); CRI-O uses the same form. */
  readonly id: string;
  /** Normalized names, e.g. `docker.io/library/nginx:1.27`. */
  readonly repoTags: readonly string[];
  /** `repo@sha256:...`; empty for images imported without a registry (ctr import). */
  readonly repoDigests: readonly string[];
  /** uint64 on the wire: a bigint so that no size is ever rounded. */
  readonly sizeBytes: bigint;
  /** Pinned images are never garbage-collected by the kubelet (sandbox/pause images). */
  readonly pinned: boolean;
}

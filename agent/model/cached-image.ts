// A cached image as any container runtime lists it: the runtime-neutral record the inventory is
// built from. The CRI reader produces it (agent/cri), as could containerd's own API.

/** A cached image as the runtime lists it (CRI `Image`, containerd's image list). */
export interface CachedImageRecord {
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

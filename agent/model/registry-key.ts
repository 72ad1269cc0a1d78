// Where an image comes from and which registry keys can match it: the shapes the kubelet's
// keyring works on (agent/credentials/keyring.ts), declared here because snapshots carry them.

/** A registry key (the name of an `auths` entry) as the kubelet's keyring indexes it. */
export interface RegistryKeyMatcher {
  /**
   * The keyring's index key: host (with port) plus path, after the scheme and a leading
   * `/v1/` or `/v2/` are dropped and a path of just `/` is removed ("index.docker.io",
   * "registry.example.com/team-a"). Keys with the same index key are one keyring entry.
   */
  readonly indexKey: string;
  /** Host name without port (IPv6 without brackets), compared label by label as globs. */
  readonly host: string;
  /** Port, or '' when the key has none; must equal the image registry's port exactly. */
  readonly port: string;
  /** Must be a string prefix of the image's "/" + repository; '' matches every repository. */
  readonly path: string;
}

/** Where an image comes from: the registry host (with any port) and the repository path. */
export interface ImageLocation {
  readonly registry: string;
  readonly repository: string;
}

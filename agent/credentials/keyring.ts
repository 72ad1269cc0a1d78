// Which of a pod's registry credentials the kubelet offers for an image, in which order:
// a mirror of BasicDockerKeyring.Add and Lookup in kubernetes pkg/credentialprovider/keyring.go.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/credentialprovider/keyring.go
import { Buffer } from 'node:buffer';
import { globMatch } from './glob.ts';
import { parseGoUrl, splitHostPort } from './go-url.ts';
import { err, ok, type Result } from '../result.ts';
import type { ImageLocation, RegistryKeyMatcher } from '../model/registry-key.ts';

export type { ImageLocation, RegistryKeyMatcher } from '../model/registry-key.ts';

// The key that "https://index.docker.io/v1/" (Docker's own default) becomes in the index.
const DOCKER_HUB_INDEX_KEY = 'index.docker.io';

/**
 * Parses a registry key the way BasicDockerKeyring.Add does: prefix "https://" unless it
 * starts with "https://" or "http://" (case-sensitive), parse with Go's url.Parse, drop a
 * leading "/v1" or "/v2" when followed by "/", drop a path of exactly "/". Lookup then parses
 * that index key again, so both parses must succeed. An error means the kubelet never uses
 * the entry: url.Parse rejected it (Add logs and skips it) or it can never match an image.
 */
export function parseRegistryKey(key: string): Result<RegistryKeyMatcher, string> {
  const withScheme =
    key.startsWith('https://') || key.startsWith('http://') ? key : `https://${key}`;
  const parsed = parseGoUrl(withScheme);
  if (!parsed.ok) return err(`the kubelet cannot parse this registry key (${parsed.error})`);
  let effectivePath = parsed.value.path;
  if (effectivePath.startsWith('/v2/') || effectivePath.startsWith('/v1/')) {
    effectivePath = effectivePath.slice(3);
  }
  const indexKey =
    effectivePath.length > 0 && effectivePath !== '/'
      ? parsed.value.host + effectivePath
      : parsed.value.host;

  // Lookup: URLsMatchStr(indexKey, image) -> ParseSchemelessURL("https://" + indexKey).
  const reparsed = parseGoUrl(`https://${indexKey}`);
  if (!reparsed.ok) {
    return err(`this registry key can never match an image (${reparsed.error})`);
  }
  if (!parsed.value.hostIsUtf8 || !reparsed.value.hostIsUtf8) {
    return err('this registry key can never match an image (its host is not valid UTF-8)');
  }
  // An image's "/" + repository never starts with "//". Such a path comes from a scheme the
  // kubelet does not recognise ("HTTPS://user:pass@host": the rest becomes the path), and it
  // would carry the user info out of the parser.
  if (reparsed.value.path.startsWith('//')) {
    return err('this registry key can never match an image (its path starts with "//")');
  }
  const hostPort = splitHostPort(reparsed.value.host);
  return ok({
    indexKey,
    host: hostPort?.host ?? reparsed.value.host,
    port: hostPort?.port ?? '',
    path: reparsed.value.path,
  });
}

// keyring.go isDefaultRegistryMatch: whether Docker Hub's default credentials apply.
function isDefaultRegistryMatch(name: string): boolean {
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  if (first.length === 0) return false;
  if (slash < 0) return true;
  if (first === 'docker.io' || first === 'index.docker.io') return true;
  return !/[.:]/.test(first);
}

// The image name as URLsMatchStr sees it: host labels, port and path of "https://" + name.
interface ImageTarget {
  readonly labels: readonly string[];
  readonly port: string;
  readonly path: string;
}

function imageTarget(name: string): ImageTarget | null {
  const url = parseGoUrl(`https://${name}`);
  if (!url.ok) return null;
  const hostPort = splitHostPort(url.value.host);
  return {
    labels: (hostPort?.host ?? url.value.host).split('.'),
    port: hostPort?.port ?? '',
    path: url.value.path,
  };
}

interface CompiledKey {
  readonly labels: readonly string[];
  readonly port: string;
  readonly path: string;
}

function compileKey(key: RegistryKeyMatcher): CompiledKey {
  return { labels: key.host.split('.'), port: key.port, path: key.path };
}

// keyring.go URLsMatch for a key against the parsed image name.
function keyMatches(key: CompiledKey, target: ImageTarget): boolean {
  if (key.port !== target.port) return false;
  if (key.labels.length !== target.labels.length) return false;
  if (!target.path.startsWith(key.path)) return false;
  return key.labels.every((label, i) => globMatch(label, target.labels[i] ?? ''));
}

// Go's sort.Strings order is byte order of the UTF-8 encoding, not UTF-16 code-unit order.
function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The credentials the kubelet would try for `image`, in the order it tries them, from the
 * credentials of a pod's pull secrets (in the pod's `imagePullSecrets` order).
 *
 * As in BasicDockerKeyring: credentials are grouped by index key; index keys are visited in
 * reverse byte order (so "quay.io/team" before "quay.io"); every credential of every matching
 * key is returned, keys in that order and credentials within a key in input order. Only when
 * nothing matched and the image is a Docker Hub image ("nginx", "docker.io/...", or a first
 * component without '.' or ':', which includes "localhost/...") are the credentials under
 * "index.docker.io" returned: that is how "https://index.docker.io/v1/" reaches docker.io.
 * There is no other alias: a "registry-1.docker.io" key never matches docker.io images.
 *
 * Node-wide credentials (the kubelet's config.json, credential provider plugins) come after
 * these in the kubelet's union keyring and are not modelled here.
 */
export function resolveCredentialsForImage<C extends { readonly matcher: RegistryKeyMatcher }>(
  credentials: readonly C[],
  image: ImageLocation,
): C[] {
  return [...new Keyring(credentials).lookup(image)];
}

interface KeyGroup<C> {
  readonly key: CompiledKey;
  readonly credentials: readonly C[];
}

/** Which keys can match images of one registry, and whether Docker Hub's key stands in for them. */
interface RegistryPlan<C> {
  /** Keys whose host and port match, with the prefix the repository needs (key path minus "/"). */
  readonly candidates: readonly {
    readonly repositoryPrefix: string;
    readonly credentials: readonly C[];
  }[];
  readonly dockerHubFallback: boolean;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * One pod's credentials compiled for lookups: grouped and ordered once, and the host part of
 * the match worked out once per registry, so that asking about many images of a few
 * registries costs a prefix test per key. Answers are those of resolveCredentialsForImage.
 */
export class Keyring<C extends { readonly matcher: RegistryKeyMatcher }> {
  readonly #groups: readonly KeyGroup<C>[];
  readonly #dockerHub: readonly C[];
  readonly #plans = new Map<string, RegistryPlan<C>>();

  constructor(credentials: readonly C[]) {
    const byIndexKey = new Map<string, C[]>();
    for (const credential of credentials) {
      const group = byIndexKey.get(credential.matcher.indexKey);
      if (group === undefined) byIndexKey.set(credential.matcher.indexKey, [credential]);
      else group.push(credential);
    }
    this.#groups = [...byIndexKey.keys()]
      .sort((a, b) => compareGoStrings(b, a))
      .map((indexKey) => {
        const group = byIndexKey.get(indexKey) ?? [];
        // Credentials under one index key share its host, port and path.
        const first = group[0] as C;
        return { key: compileKey(first.matcher), credentials: group };
      });
    this.#dockerHub = byIndexKey.get(DOCKER_HUB_INDEX_KEY) ?? NONE;
  }

  /** The credentials the kubelet would try for `image`, in its order. */
  lookup(image: ImageLocation): readonly C[] {
    if (this.#groups.length === 0) return NONE;
    const registry = image.registry === 'index.docker.io' ? 'docker.io' : image.registry;
    // A name without a registry part puts its first path component in the host's place.
    if (registry === '') return this.#resolve(image.repository);
    let plan = this.#plans.get(registry);
    if (plan === undefined) {
      plan = this.#planFor(registry);
      this.#plans.set(registry, plan);
    }
    let matched: C[] | undefined;
    for (const { repositoryPrefix, credentials } of plan.candidates) {
      if (image.repository.startsWith(repositoryPrefix)) (matched ??= []).push(...credentials);
    }
    if (matched !== undefined) return matched;
    return plan.dockerHubFallback ? this.#dockerHub : NONE;
  }

  // The image's URL path is "/" + repository: the repository grammar has no character that
  // url.Parse would unescape or cut at, so only the host part needs Go's parser.
  #planFor(registry: string): RegistryPlan<C> {
    const target = imageTarget(`${registry}/`);
    const candidates: { repositoryPrefix: string; credentials: readonly C[] }[] = [];
    if (target !== null) {
      for (const { key, credentials } of this.#groups) {
        // A key path that does not start with "/" is a prefix of no "/" + repository.
        if (key.path !== '' && !key.path.startsWith('/')) continue;
        if (!keyMatches(key, { ...target, path: key.path })) continue;
        candidates.push({ repositoryPrefix: key.path.slice(1), credentials });
      }
    }
    return { candidates, dockerHubFallback: isDefaultRegistryMatch(`${registry}/`) };
  }

  #resolve(name: string): readonly C[] {
    const target = imageTarget(name);
    const matched: C[] = [];
    if (target !== null) {
      for (const { key, credentials } of this.#groups) {
        if (keyMatches(key, target)) matched.push(...credentials);
      }
    }
    if (matched.length > 0) return matched;
    if (isDefaultRegistryMatch(name)) return this.#dockerHub;
    return NONE;
  }
}

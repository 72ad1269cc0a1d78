// Whether a pod's own credentials prove it may read an image, for the admission webhook:
// the answers the broker already gives the agents (repository visibility, a credential's
// verdict, both cached in the controller's one VisibilityResolver) combined for one pod.
// The pod's pull secrets are read by name through the controller's secret cache and matched
// to the image as the kubelet's keyring matches them (credentials/keyring.ts); only the
// credentials the kubelet would try are asked about.
import type { Proof } from '../admission/decide.ts';
import { Keyring } from '../credentials/keyring.ts';
import { ExpiringCache } from '../http/decision-cache.ts';
import { LruCache } from '../lru.ts';
import { parseImageReference, toDockerRef } from '../image/reference.ts';
import type {
  CredentialVerdict,
  CredentialView,
  RegistryAuthorization,
  RepositoryVisibility,
  SecretView,
} from '../model/snapshot.ts';

export interface ProofPorts {
  secret(namespace: string, name: string): Promise<SecretView>;
  /** The secret's view when it is at hand without a read (fresh in the secret cache). */
  secretNow?(namespace: string, name: string): SecretView | undefined;
  visibility(name: string, reference: string): Promise<RepositoryVisibility>;
  verify(
    authorization: RegistryAuthorization,
    name: string,
    reference: string,
  ): Promise<CredentialVerdict>;
}

export interface ImageProofsOptions {
  readonly ports: ProofPorts;
  /** How long a definite proof (proven, not proven) stands; default 10 min. */
  readonly ttlMs?: number;
  /** Proofs kept (default 10,000): the least recently used go first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export interface PodCredentials {
  readonly namespace: string;
  readonly pullSecretNames: readonly string[];
}

/** What proving an image needs, worked out once per (pod secrets, image). */
type ImageTarget =
  | { readonly kind: 'invalid' }
  | {
      readonly kind: 'image';
      /** The proof's cache key: the fingerprints the kubelet would try, and the repository. */
      readonly key: string;
      readonly name: string;
      readonly manifest: string;
      readonly matched: readonly CredentialView[];
    };

/** A set of pull secrets compiled once: a team's pods name the same secrets again and again. */
interface SecretSet {
  /** The views it was built from: a re-read secret is a new view, and a new set. */
  readonly views: readonly SecretView[];
  readonly keyring: Keyring<CredentialView>;
  /** A secret that could not be read yet: what it holds is not known. */
  readonly incomplete: boolean;
  readonly targets: Map<string, ImageTarget>;
}

/** Images remembered per secret set; a set that sees more starts over (a bound, not a goal). */
const TARGETS_PER_SET = 256;

/**
 * Proofs for the images of one pod, cached per (set of credential fingerprints the kubelet
 * would try, repository): pods of one team share their secrets and mostly their images, so
 * the next pod's answer costs no registry request and no keyring work beyond a lookup.
 */
export class ImageProofs {
  readonly #ports: ProofPorts;
  readonly #ttlMs: number;
  readonly #cache: ExpiringCache<Proof>;
  readonly #secretSets = new LruCache<string, SecretSet>(1_000);

  constructor(options: ImageProofsOptions) {
    this.#ports = options.ports;
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#cache = new ExpiringCache(options.maxEntries ?? 10_000, options.now);
  }

  size(): number {
    return this.#cache.size;
  }

  /**
   * Every distinct image's proof when all are known without asking anything (the secrets
   * fresh in their cache, each proof kept); undefined when one must be asked (prove()).
   */
  provenNow(pod: PodCredentials, images: readonly string[]): Map<string, Proof> | undefined {
    const names = distinct(pod.pullSecretNames);
    const views: SecretView[] = [];
    for (const name of names) {
      const view = this.#ports.secretNow?.(pod.namespace, name);
      if (view === undefined) return undefined;
      views.push(view);
    }
    const set = this.#secretSet(pod.namespace, names, views);
    if (set.incomplete) return undefined;
    const proofs = new Map<string, Proof>();
    for (const image of images) {
      if (proofs.has(image)) continue;
      const target = this.#target(set, image);
      const proof = target.kind === 'invalid' ? INVALID : this.#cache.get(target.key);
      if (proof === undefined) return undefined;
      proofs.set(image, proof);
    }
    return proofs;
  }

  /** One proof per distinct image of `images`, asked at once. */
  async prove(pod: PodCredentials, images: readonly string[]): Promise<Map<string, Proof>> {
    const names = distinct(pod.pullSecretNames);
    const set = Promise.all(names.map((name) => this.#ports.secret(pod.namespace, name))).then(
      (views) => this.#secretSet(pod.namespace, names, views),
    );
    const answers = await Promise.all(
      distinct(images).map(async (image) => [image, await this.#prove(await set, image)] as const),
    );
    return new Map(answers);
  }

  #secretSet(namespace: string, names: readonly string[], views: readonly SecretView[]): SecretSet {
    const id = `${namespace}\n${names.join('\n')}`;
    const known = this.#secretSets.get(id);
    if (known !== undefined && known.views.every((v, i) => v === views[i])) return known;
    const set: SecretSet = {
      views,
      keyring: new Keyring(views.flatMap((v) => (v.state === 'ok' ? v.credentials : []))),
      incomplete: views.some((v) => v.state === 'unavailable'),
      targets: new Map(),
    };
    this.#secretSets.set(id, set);
    return set;
  }

  #target(set: SecretSet, image: string): ImageTarget {
    const known = set.targets.get(image);
    if (known !== undefined) return known;
    if (set.targets.size >= TARGETS_PER_SET) set.targets.clear();
    const target = imageTarget(set.keyring, image);
    set.targets.set(image, target);
    return target;
  }

  async #prove(set: SecretSet, image: string): Promise<Proof> {
    const target = this.#target(set, image);
    // No registry can serve an image the kubelet cannot parse: it fails InvalidImageName.
    if (target.kind === 'invalid') return INVALID;
    const { key, name, manifest, matched } = target;
    const known = this.#cache.get(key);
    if (known !== undefined && !set.incomplete) return known;

    const visibility = await this.#ports.visibility(name, manifest);
    if (visibility.visibility === 'public')
      return this.#keep(key, { kind: 'proven', by: 'public' });
    if (visibility.nodeCredentials)
      return this.#keep(key, { kind: 'proven', by: 'node-credentials' });

    let unknown = set.incomplete || visibility.visibility === 'unknown';
    // The kubelet tries every matching credential in turn: one that reads it is enough.
    for (const credential of matched) {
      const check = credential.check;
      if (check?.via !== 'self') {
        unknown = true;
        continue;
      }
      const verdict = await this.#ports.verify(check.authorization, name, manifest);
      if (verdict === 'can-read') return this.#keep(key, { kind: 'proven', by: 'pod-secret' });
      if (verdict === 'unknown') unknown = true;
    }
    return unknown ? { kind: 'registry-error' } : this.#keep(key, { kind: 'not-proven' });
  }

  #keep(key: string, proof: Proof): Proof {
    this.#cache.set(key, proof, this.#ttlMs);
    return proof;
  }
}

const INVALID: Proof = { kind: 'proven', by: 'invalid-reference' };

const distinct = (values: readonly string[]): string[] => [...new Set(values)];

function imageTarget(keyring: Keyring<CredentialView>, image: string): ImageTarget {
  const parsed = parseImageReference(image);
  if (!parsed.ok) return { kind: 'invalid' };
  const reference = toDockerRef(parsed.value);
  const { name, registry, repository } = reference;
  const matched = keyring.lookup({ registry, repository });
  return {
    kind: 'image',
    key: `${distinct(matched.map((c) => c.fingerprint))
      .sort()
      .join(',')}|${name}`,
    name,
    manifest: reference.digest ?? reference.tag ?? 'latest',
    matched,
  };
}

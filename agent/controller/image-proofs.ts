// Whether a pod's own credentials prove it may read an image, for the admission webhook:
// the answers the broker already gives the agents (repository visibility, a credential's
// verdict, both cached in the controller's one VisibilityResolver) combined for one pod.
// The pod's pull secrets are read by name through the controller's secret cache and matched
// to the image as the kubelet's keyring matches them (credentials/keyring.ts); only the
// credentials the kubelet would try are asked about.
import type { Proof } from '../admission/decide.ts';
import { Keyring } from '../credentials/keyring.ts';
import { ExpiringCache } from '../http/decision-cache.ts';
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

/**
 * Proofs for the images of one pod, cached per (set of credential fingerprints the kubelet
 * would try, repository): pods of one team share their secrets and mostly their images, so
 * the next pod's answer costs no registry request and no keyring work beyond a lookup.
 */
export class ImageProofs {
  readonly #ports: ProofPorts;
  readonly #ttlMs: number;
  readonly #cache: ExpiringCache<Proof>;

  constructor(options: ImageProofsOptions) {
    this.#ports = options.ports;
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#cache = new ExpiringCache(options.maxEntries ?? 10_000, options.now);
  }

  size(): number {
    return this.#cache.size;
  }

  /** One proof per distinct image of `images`, asked at once. */
  async prove(pod: PodCredentials, images: readonly string[]): Promise<Map<string, Proof>> {
    const credentials = this.#credentialsOf(pod);
    const distinct = [...new Set(images)];
    const answers = await Promise.all(
      distinct.map(async (image) => [image, await this.#prove(await credentials, image)] as const),
    );
    return new Map(answers);
  }

  async #credentialsOf(pod: PodCredentials): Promise<{
    readonly keyring: Keyring<CredentialView>;
    /** A secret that could not be read yet: what it holds is not known. */
    readonly incomplete: boolean;
  }> {
    const views = await Promise.all(
      [...new Set(pod.pullSecretNames)].map((name) => this.#ports.secret(pod.namespace, name)),
    );
    const credentials = views.flatMap((v) => (v.state === 'ok' ? v.credentials : []));
    return {
      keyring: new Keyring(credentials),
      incomplete: views.some((v) => v.state === 'unavailable'),
    };
  }

  async #prove(
    pod: { readonly keyring: Keyring<CredentialView>; readonly incomplete: boolean },
    image: string,
  ): Promise<Proof> {
    const parsed = parseImageReference(image);
    // No registry can serve an image the kubelet cannot parse: it fails InvalidImageName.
    if (!parsed.ok) return { kind: 'proven', by: 'invalid-reference' };
    const reference = toDockerRef(parsed.value);
    const { name, registry, repository } = reference;
    const manifest = reference.digest ?? reference.tag ?? 'latest';

    const matched = pod.keyring.lookup({ registry, repository });
    const key = `${[...new Set(matched.map((c) => c.fingerprint))].sort().join(',')}|${name}`;
    const known = this.#cache.get(key);
    if (known !== undefined && !pod.incomplete) return known;

    const visibility = await this.#ports.visibility(name, manifest);
    if (visibility.visibility === 'public')
      return this.#keep(key, { kind: 'proven', by: 'public' });
    if (visibility.nodeCredentials)
      return this.#keep(key, { kind: 'proven', by: 'node-credentials' });

    let unknown = pod.incomplete || visibility.visibility === 'unknown';
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

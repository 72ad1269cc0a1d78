// Finds an image by full ID or by a unique prefix of it, as containerd's CRI image
// store does (go-digest digestset.Lookup, behind ImageStatus' LocalResolve):
// https://github.com/containerd/containerd/blob/main/internal/cri/store/image/image.go
// https://github.com/opencontainers/go-digest/blob/master/digestset/set.go
// A query that parses as `algorithm:hex` must match the algorithm; a bare query
// matches the hex of any ID. A prefix shared by two IDs matches nothing.
import { isSupportedAlgorithm, type ImageId } from './digest.ts';

export type ImageIdLookup =
  | { readonly kind: 'found'; readonly id: ImageId; readonly exact: boolean }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly ImageId[] }
  | { readonly kind: 'missing' };

interface SplitId {
  readonly id: ImageId;
  readonly algorithm: string;
  readonly hex: string;
}

// go-digest's DigestRegexp: a query of this shape is split even for an unknown algorithm.
const goDigestSyntax = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export class ImageIdIndex {
  readonly #ids: readonly SplitId[];

  constructor(ids: Iterable<ImageId>) {
    this.#ids = Array.from(ids, (id) => {
      const colon = id.indexOf(':');
      return colon === -1
        ? { id, algorithm: '', hex: id }
        : { id, algorithm: id.slice(0, colon), hex: id.slice(colon + 1) };
    });
  }

  lookup(query: string): ImageIdLookup {
    const wanted = splitQuery(query);
    if (wanted.hex === '') {
      return { kind: 'missing' };
    }
    const candidates = this.#ids.filter(
      (entry) =>
        entry.hex.startsWith(wanted.hex) &&
        (wanted.algorithm === '' || entry.algorithm === wanted.algorithm),
    );
    const exact = candidates.filter((entry) => entry.hex.length === wanted.hex.length);
    const chosen = exact.length > 0 ? exact : candidates;
    const [only, ...others] = chosen;
    if (only === undefined) {
      return { kind: 'missing' };
    }
    return others.length === 0
      ? { kind: 'found', id: only.id, exact: exact.length > 0 }
      : { kind: 'ambiguous', candidates: chosen.map((entry) => entry.id) };
  }
}

// digestset.Lookup splits `algorithm:hex` unless go-digest calls the query badly formed;
// a badly formed query is compared whole against the hex, so it matches nothing with a colon.
function splitQuery(query: string): { algorithm: string; hex: string } {
  const colon = query.indexOf(':');
  if (colon <= 0 || colon === query.length - 1) {
    return { algorithm: '', hex: query };
  }
  const algorithm = query.slice(0, colon);
  if (!isSupportedAlgorithm(algorithm) && !goDigestSyntax.test(query)) {
    return { algorithm: '', hex: query };
  }
  return { algorithm, hex: query.slice(colon + 1) };
}

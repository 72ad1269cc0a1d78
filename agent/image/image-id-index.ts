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
  readonly #source: Iterable<ImageId>;
  /**
   * IDs by the first character of their hex, built on the first lookup: most inventories never
   * see a prefix query, and the ones a pod's image name causes are answered by an empty bucket.
   */
  #byFirst: ReadonlyMap<string, readonly SplitId[]> | undefined;

  constructor(ids: Iterable<ImageId>) {
    this.#source = ids;
  }

  lookup(query: string): ImageIdLookup {
    const wanted = splitQuery(query);
    if (wanted.hex === '') {
      return { kind: 'missing' };
    }
    const byFirst = (this.#byFirst ??= indexByFirstCharacter(this.#source));
    // In listing order, as digestset reports them.
    const candidates = (byFirst.get(wanted.hex.charAt(0)) ?? []).filter(
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

function indexByFirstCharacter(ids: Iterable<ImageId>): Map<string, SplitId[]> {
  const byFirst = new Map<string, SplitId[]>();
  for (const id of ids) {
    const colon = id.indexOf(':');
    const entry: SplitId =
      colon === -1
        ? { id, algorithm: '', hex: id }
        : { id, algorithm: id.slice(0, colon), hex: id.slice(colon + 1) };
    const first = entry.hex.charAt(0);
    const bucket = byFirst.get(first);
    if (bucket === undefined) byFirst.set(first, [entry]);
    else bucket.push(entry);
  }
  return byFirst;
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

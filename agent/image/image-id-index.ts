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

interface IndexedId extends SplitId {
  /** Position in the listing, to report candidates in the runtime's order. */
  readonly position: number;
}

export class ImageIdIndex {
  readonly #source: Iterable<ImageId>;
  /** Sorted by hex, built on the first lookup: most inventories never see a prefix query. */
  #byHex: readonly IndexedId[] | undefined;

  constructor(ids: Iterable<ImageId>) {
    this.#source = ids;
  }

  lookup(query: string): ImageIdLookup {
    const wanted = splitQuery(query);
    if (wanted.hex === '') {
      return { kind: 'missing' };
    }
    const byHex = (this.#byHex ??= indexByHex(this.#source));
    const candidates: IndexedId[] = [];
    for (let i = firstNotBelow(byHex, wanted.hex); i < byHex.length; i += 1) {
      const entry = byHex[i] as IndexedId;
      if (!entry.hex.startsWith(wanted.hex)) break;
      if (wanted.algorithm === '' || entry.algorithm === wanted.algorithm) candidates.push(entry);
    }
    candidates.sort((a, b) => a.position - b.position);
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

function indexByHex(ids: Iterable<ImageId>): IndexedId[] {
  return Array.from(ids, (id, position) => {
    const colon = id.indexOf(':');
    return colon === -1
      ? { id, algorithm: '', hex: id, position }
      : { id, algorithm: id.slice(0, colon), hex: id.slice(colon + 1), position };
  }).sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : a.position - b.position));
}

// Strings sharing a prefix sort next to each other, starting at the first one not below it.
function firstNotBelow(sorted: readonly IndexedId[], prefix: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as IndexedId).hex < prefix) low = middle + 1;
    else high = middle;
  }
  return low;
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

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

/** What the index needs of an inventory entry. */
export interface IdHolder {
  readonly id: ImageId;
}

interface SplitId {
  readonly id: ImageId;
  readonly algorithm: string;
  readonly hex: string;
}

// go-digest's DigestRegexp: a query of this shape is split even for an unknown algorithm.
const goDigestSyntax = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The shape of every digest a runtime lists (go-digest: lowercase hex). */
const lowerHex = /^[0-9a-f]+$/;

export class ImageIdIndex {
  /** The listing's entries, in listing order; walked by index, never copied. */
  readonly #source: readonly IdHolder[];
  /**
   * Every ID's hex is lowercase hex: then a query with another character (an image name the
   * cache does not hold, which the kubelet's lookup also tries as an ID prefix) matches
   * nothing, and the buckets need not be built for it.
   */
  readonly #allLowerHex: boolean;
  /**
   * IDs by the first character of their hex, built on the first lookup: most inventories never
   * see a prefix query, and the ones a pod's image name causes are answered by an empty bucket.
   */
  #byFirst: ReadonlyMap<string, readonly SplitId[]> | undefined;

  /** @param allLowerHex every ID's hex is lowercase hex (false when unsure: slower, same answers). */
  constructor(
    entries: readonly IdHolder[],
    allLowerHex = entries.every((e) => isLowerHexId(e.id)),
  ) {
    this.#source = entries;
    this.#allLowerHex = allLowerHex;
  }

  lookup(query: string): ImageIdLookup {
    const wanted = splitQuery(query);
    if (wanted.hex === '') {
      return { kind: 'missing' };
    }
    if (this.#allLowerHex && !lowerHex.test(wanted.hex)) {
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

/** Whether an ID's hex (after `algorithm:`, if any) is lowercase hex. */
export function isLowerHexId(id: string): boolean {
  // By character codes: a slice per ID would be 5,000 strings of garbage.
  const start = id.indexOf(':') + 1;
  if (start >= id.length) return false;
  for (let i = start; i < id.length; i += 1) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function indexByFirstCharacter(entries: readonly IdHolder[]): Map<string, SplitId[]> {
  const byFirst = new Map<string, SplitId[]>();
  for (const { id } of entries) {
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

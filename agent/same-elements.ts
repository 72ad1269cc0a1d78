// Whether something changed: the tests for "nothing changed" on what the agent computes again
// and again. Findings and images are immutable values replaced when they change, so lists of
// them compare by identity; a value worked out afresh (detection makes new objects every time)
// compares by content.

/** Same length and the same elements (by identity) in the same order. */
export function sameElements(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Equal as JSON values: primitives by ===, arrays element by element, plain objects key by key
 * (in any order; a key holding undefined counts as a key). Written out rather than
 * util.isDeepStrictEqual, which checks prototypes, symbols and property descriptors too: with
 * it the findings store's apply() of 1,271 findings took 2.0 ms, with this 0.7 ms.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  return sameFields(a as Readonly<Record<string, unknown>>, b as Readonly<Record<string, unknown>>);
}

/**
 * Every key of `a` holds the same value in `b`, and `b` has `extra` keys more than `a` (which
 * the caller vouches for: a finding is what detection said plus its two times).
 */
export function sameFields(
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>,
  extra = 0,
): boolean {
  let keys = extra;
  for (const key in a) {
    const value = a[key];
    if (!sameValue(value, b[key]) || (value === undefined && !(key in b))) return false;
    keys += 1;
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the keys are only counted
  for (const key in b) keys -= 1;
  return keys === 0;
}

// Whether two lists hold the same objects: the test for "nothing changed" on outputs computed
// from the agent's findings and images, which are immutable values replaced when they change.

/** Same length and the same elements (by identity) in the same order. */
export function sameElements(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

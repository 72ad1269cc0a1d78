// The order the agent sorts names in: UTF-16 code units, as Array.prototype.sort() does without
// a comparator. localeCompare would make the order depend on the process's ICU locale, cost
// a collation per comparison, and page in ICU's collation data (about 3 MiB of resident memory
// in an agent that otherwise never touches it; BENCHMARKS.md, footprint).

/** Negative, zero or positive as `a` sorts before, with or after `b` by UTF-16 code units. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

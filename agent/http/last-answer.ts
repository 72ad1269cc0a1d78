// The body of the last answer, kept with what it was made from and served again while that is
// the same. Pollers (a dashboard, a script waiting for a finding) ask the same question again
// and again between two changes, and the full findings list of a busy node is megabytes of
// JSON to join and encode each time.
import { sameElements } from '../same-elements.ts';

export class LastAnswer {
  #last: { readonly from: readonly unknown[]; readonly body: Buffer } | undefined;

  /**
   * The body made for the same `from` (the same elements, by identity), else `make()`'s, kept.
   * `from` must hold everything the body depends on: the question and the objects it reads.
   */
  body(from: readonly unknown[], make: () => string): Buffer {
    if (this.#last !== undefined && sameElements(this.#last.from, from)) return this.#last.body;
    const body = Buffer.from(make());
    // A copy: a `from` array changed in place must not look like the one answered.
    this.#last = { from: [...from], body };
    return body;
  }
}

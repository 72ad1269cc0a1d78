// A bounded memo for pure functions on hot paths: two generations of plain Maps. A hit costs
// one or two lookups (an LRU's bookkeeping costs a delete and an insert on every hit); when the
// young generation is full, the old one is dropped and what is still asked for moves up again.
// Holds at most 2 × generationSize entries.
export class GenerationalMemo<K, V> {
  readonly generationSize: number;
  #young = new Map<K, V>();
  #old = new Map<K, V>();

  constructor(generationSize: number) {
    if (!Number.isInteger(generationSize) || generationSize < 1) {
      throw new RangeError(`a memo needs a positive integer size, got ${generationSize}`);
    }
    this.generationSize = generationSize;
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** The remembered value, or compute(key) remembered. */
  get(key: K, compute: (key: K) => V): V {
    const young = this.#young.get(key);
    if (young !== undefined || this.#young.has(key)) return young as V;
    const value = this.#old.has(key) ? (this.#old.get(key) as V) : compute(key);
    this.#remember(key, value);
    return value;
  }

  #remember(key: K, value: V): void {
    if (this.#young.size >= this.generationSize) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}

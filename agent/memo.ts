// A bounded memo for pure functions on hot paths: two generations of plain Maps. A hit costs
// one or two lookups (an LRU's bookkeeping costs a delete and an insert on every hit); when the
// young generation is full, the old one is dropped and what is still asked for moves up again.
// Holds at most 2 × generationSize entries (see resize).
export class GenerationalMemo<K, V> {
  #generationSize: number;
  #young = new Map<K, V>();
  #old = new Map<K, V>();

  constructor(generationSize: number) {
    this.#generationSize = checkedSize(generationSize);
  }

  get generationSize(): number {
    return this.#generationSize;
  }

  /**
   * Sizes the generations anew, for a memo whose working set is known only as it runs; takes
   * effect at the next rotation (a smaller size sooner, since the young generation is full).
   */
  resize(generationSize: number): void {
    this.#generationSize = checkedSize(generationSize);
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
    if (this.#young.size >= this.#generationSize) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}

function checkedSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`a memo needs a positive integer size, got ${size}`);
  }
  return size;
}

// A read-only map made from an earlier one and a few changes, without copying the earlier one:
// a base shared between generations and an overlay of what changed since the base was built.
// An inventory is rebuilt for every listing that changed, usually by one image in 5,000; built
// from scratch, its maps were most of a reconcile's garbage (about 1.3 MiB each time), which a
// 2 MiB young generation promotes and the old generation's slower GC then collects. The overlay
// is folded into a new base once it holds more than a bound, so a lookup costs at most two.

/** Marks a key deleted in an overlay (values may be anything but this). */
const GONE: unique symbol = Symbol('gone');

/** Overlays larger than this are folded into a new base: at most one copy per 256 changes. */
export const MAX_OVERLAY = 256;

export class LayeredMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #overlay: ReadonlyMap<K, V | typeof GONE>;

  private constructor(base: ReadonlyMap<K, V>, overlay: ReadonlyMap<K, V | typeof GONE>) {
    this.#base = base;
    this.#overlay = overlay;
  }

  /** A layered map holding exactly `map`'s entries; `map` must not change afterwards. */
  static of<K, V>(map: ReadonlyMap<K, V>): LayeredMap<K, V> {
    return new LayeredMap<K, V>(map, new Map());
  }

  get(key: K): V | undefined {
    const over = this.#overlay.get(key);
    if (over === undefined) return this.#overlay.has(key) ? over : this.#base.get(key);
    return over === GONE ? undefined : over;
  }

  has(key: K): boolean {
    const over = this.#overlay.get(key);
    if (over === undefined && !this.#overlay.has(key)) return this.#base.has(key);
    return over !== GONE;
  }

  /**
   * This map with `changes` applied: a key mapped to undefined is deleted. This map is left as
   * it is; the result shares its base, or gets a new one when the overlay grows past `maxOverlay`.
   */
  with(changes: ReadonlyMap<K, V | undefined>, maxOverlay: number = MAX_OVERLAY): LayeredMap<K, V> {
    if (changes.size === 0) return this;
    if (this.#overlay.size + changes.size > maxOverlay) {
      const base = new Map(this.#base);
      for (const layer of [this.#overlay, changes]) {
        layer.forEach((value, key) => {
          if (value === GONE || value === undefined) base.delete(key);
          else base.set(key, value);
        });
      }
      return new LayeredMap<K, V>(base, new Map());
    }
    const overlay = new Map(this.#overlay);
    changes.forEach((value, key) => {
      overlay.set(key, value === undefined ? GONE : value);
    });
    return new LayeredMap(this.#base, overlay);
  }
}

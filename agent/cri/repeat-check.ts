// The image cache is listed every 15 s and almost never changes between two listings, yet
// decoding 5,000 images from protobuf and validating them took ~20 ms of CPU per poll and
// ~10 MB of short-lived objects. Comparing the answer's bytes with the previous answer's first
// takes ~3 ms and allocates next to nothing; only an answer that differs is decoded.
//
// Order does not count: containerd lists its images from a Go map, in a different order each
// time, so the comparison is of the multisets of the message's top-level fields (one field per
// listed image). Duplicates count. For a message whose only fields are repeated ones, like
// ListImagesResponse, the same fields in another order decode to the same elements in another
// order; nothing else about the message can differ.
import { fieldEnds } from './wire-fields.ts';

/** Distinct field bytes of the last response: `[start, end)` of that response. */
interface Field {
  readonly response: Buffer;
  readonly start: number;
  readonly end: number;
  /** Times these bytes occur in the response. */
  count: number;
  /** Scratch for comparing the next response: times matched in comparison number `round`. */
  matched: number;
  round: number;
  /** The next distinct field whose bytes have the same hash. */
  next: Field | undefined;
}

// FNV-1a's offset basis as an int32: written as 0x811c9dc5 it is a double, and V8 then kept
// the hash as a double through the loop, 3x slower.
const FNV_OFFSET_BASIS = 0x811c9dc5 | 0;

/** FNV-1a over the bytes: cheap, and a collision only costs a byte comparison. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = start; i < end; i += 1) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193);
  return hash;
}

function find(
  byHash: ReadonlyMap<number, Field>,
  bytes: Buffer,
  start: number,
  end: number,
  hash: number,
): Field | undefined {
  for (let f = byHash.get(hash); f !== undefined; f = f.next) {
    // Buffer#compare on ranges: no views to create, and memcmp beats a byte loop in JS.
    if (bytes.compare(f.response, f.start, f.end, start, end) === 0) return f;
  }
  return undefined;
}

interface FieldIndex {
  readonly byHash: ReadonlyMap<number, Field>;
  /** Fields in the response, duplicates included. */
  readonly total: number;
}

/** Whether each protobuf response holds the same fields as the one before it, in any order. */
export class RepeatCheck {
  #last: FieldIndex | undefined;
  #round = 0;

  /** True when `response` has the same multiset of top-level fields as the previous response. */
  isRepeat(response: Buffer): boolean {
    const ends = fieldEnds(response);
    if (ends === undefined) {
      // Not protobuf as we know it: let the decoder judge this one and every next one.
      this.#last = undefined;
      return false;
    }
    if (this.#last !== undefined && this.#sameFields(this.#last, response, ends)) return true;
    this.#last = { byHash: indexFields(response, ends), total: ends.length };
    return false;
  }

  /** As many fields as last time, each matching one of last time's, none more often than then. */
  #sameFields(last: FieldIndex, response: Buffer, ends: readonly number[]): boolean {
    if (ends.length !== last.total) return false;
    const round = (this.#round += 1);
    let start = 0;
    for (const end of ends) {
      const field = find(last.byHash, response, start, end, hashOf(response, start, end));
      if (field === undefined) return false;
      if (field.round !== round) {
        field.round = round;
        field.matched = 0;
      }
      field.matched += 1;
      if (field.matched > field.count) return false;
      start = end;
    }
    return true;
  }
}

function indexFields(response: Buffer, ends: readonly number[]): Map<number, Field> {
  const byHash = new Map<number, Field>();
  let start = 0;
  for (const end of ends) {
    const hash = hashOf(response, start, end);
    const field = find(byHash, response, start, end, hash);
    if (field === undefined) {
      byHash.set(hash, {
        response,
        start,
        end,
        count: 1,
        matched: 0,
        round: 0,
        next: byHash.get(hash),
      });
    } else {
      field.count += 1;
    }
    start = end;
  }
  return byHash;
}

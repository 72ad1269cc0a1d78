// Cuts a protobuf message into its top-level fields without decoding them: a list response
// (ListImages) is one length-delimited field per element, so the bytes of each element can be
// compared with the previous answer's before anything is decoded (agent/cri/listing-memo.ts).
// Wire format: https://protobuf.dev/programming-guides/encoding/

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A varint and the offset after it, or undefined when it runs past the end or past 10 bytes. */
function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i += 1) {
    const byte = bytes[at + i];
    if (byte === undefined) return undefined;
    // Multiplication, not shifts: lengths and tags may pass 2^31, and a Number keeps 53 bits.
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
    scale *= 128;
  }
  return undefined;
}

/**
 * Where each top-level field of `bytes` ends, in order (fields are contiguous: the first starts
 * at 0, each next one where the last ended); undefined when the bytes are not a well-formed
 * message of the wire types in use today (groups, deprecated since proto2, count as malformed):
 * the caller then hands the whole message to the real decoder, which says what is wrong.
 */
export function fieldEnds(bytes: Uint8Array): number[] | undefined {
  const ends: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = readVarint(bytes, at);
    if (tag === undefined || tag.value < 8) return undefined; // field number 0 does not exist
    at = tag.next;
    switch (tag.value % 8) {
      case VARINT: {
        const value = readVarint(bytes, at);
        if (value === undefined) return undefined;
        at = value.next;
        break;
      }
      case FIXED64:
        at += 8;
        break;
      case LENGTH_DELIMITED: {
        const length = readVarint(bytes, at);
        if (length === undefined) return undefined;
        at = length.next + length.value;
        break;
      }
      case FIXED32:
        at += 4;
        break;
      default:
        return undefined;
    }
    if (at > bytes.length) return undefined;
    ends.push(at);
  }
  return ends;
}

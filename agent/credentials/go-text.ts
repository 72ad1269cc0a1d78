// Byte-level behaviour of Go's standard library that the kubelet's reading of pull secrets
// depends on. Where Go and JavaScript disagree (invalid UTF-8, base64 padding, case-insensitive
// JSON field names) we follow Go, so that what we derive from a secret is what the kubelet derives.
import { Buffer, isUtf8 } from 'node:buffer';

export const REPLACEMENT_RUNE = 0xfffd;

function isContinuation(b: number | undefined): b is number {
  return b !== undefined && (b & 0xc0) === 0x80;
}

/**
 * Go's `utf8.DecodeRune`: the rune starting at `i` and its length in bytes. Invalid, overlong,
 * surrogate or truncated input yields (U+FFFD, 1), so every invalid byte counts on its own.
 */
export function decodeRune(bytes: Uint8Array, i: number): readonly [rune: number, size: number] {
  const b0 = bytes[i];
  if (b0 === undefined) return [REPLACEMENT_RUNE, 0];
  if (b0 < 0x80) return [b0, 1];
  if (b0 < 0xc2 || b0 > 0xf4) return [REPLACEMENT_RUNE, 1];
  const b1 = bytes[i + 1];
  if (b0 < 0xe0) {
    return isContinuation(b1) ? [((b0 & 0x1f) << 6) | (b1 & 0x3f), 2] : [REPLACEMENT_RUNE, 1];
  }
  // The second byte's range excludes overlong forms, UTF-16 surrogates and runes past U+10FFFF.
  const low = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80;
  const high = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf;
  if (b1 === undefined || b1 < low || b1 > high) return [REPLACEMENT_RUNE, 1];
  const b2 = bytes[i + 2];
  if (!isContinuation(b2)) return [REPLACEMENT_RUNE, 1];
  if (b0 < 0xf0) return [((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f), 3];
  const b3 = bytes[i + 3];
  if (!isContinuation(b3)) return [REPLACEMENT_RUNE, 1];
  return [((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f), 4];
}

/**
 * Bytes to text the way Go's encoding/json reads a string: each invalid byte becomes one
 * U+FFFD. (TextDecoder differs: it replaces a whole truncated sequence with a single U+FFFD.)
 */
export function decodeUtf8(bytes: Uint8Array): { readonly text: string; readonly valid: boolean } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer)) return { text: buffer.toString('utf8'), valid: true };
  const parts: string[] = [];
  let runStart = 0;
  let i = 0;
  while (i < buffer.length) {
    const [rune, size] = decodeRune(buffer, i);
    if (rune === REPLACEMENT_RUNE && size === 1) {
      parts.push(buffer.toString('utf8', runStart, i), '\uFFFD');
      runStart = i + 1;
    }
    i += size;
  }
  parts.push(buffer.toString('utf8', runStart));
  return { text: parts.join(''), valid: false };
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f // /
  );
}

/**
 * Go's `base64.StdEncoding` ('padded') or `base64.RawStdEncoding` ('raw') DecodeString.
 * Like Go, CR and LF anywhere are skipped and unused trailing bits are ignored; any other
 * character outside the alphabet, or wrong padding, is an error (undefined). Node's own
 * base64 decoder silently skips garbage, so it must not see unvalidated input.
 */
export function decodeBase64(text: string, padding: 'padded' | 'raw'): Buffer | undefined {
  const compact = /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, '') : text;
  const n = compact.length;
  let padCount = 0;
  if (padding === 'padded') {
    if (n % 4 !== 0) return undefined;
    if (compact.charCodeAt(n - 1) === 0x3d) padCount = compact.charCodeAt(n - 2) === 0x3d ? 2 : 1;
  } else if (n % 4 === 1) {
    return undefined;
  }
  for (let i = 0; i < n - padCount; i++) {
    if (!isBase64Char(compact.charCodeAt(i))) return undefined;
  }
  return Buffer.from(compact, 'base64');
}

/** Exact decoded size of text that `decodeBase64(text, 'padded')` accepts; cheap, no decoding. */
export function paddedBase64DecodedLength(text: string): number {
  const n = text.length;
  const padCount = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor(n / 4) * 3 - padCount);
}

/**
 * Whether a JSON object key selects the struct field tagged `field` (lower-case ASCII letters)
 * in Go's encoding/json: an exact match, else a match under Unicode simple case folding, in
 * which U+212A KELVIN SIGN folds to 'k' and U+017F LATIN SMALL LETTER LONG S folds to 's'.
 * https://github.com/golang/go/blob/master/src/encoding/json/fold.go
 */
export function jsonKeySelectsField(key: string, field: string): boolean {
  if (key === field) return true;
  if (key.length !== field.length) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const folded =
      c === 0x212a ? 0x6b : c === 0x017f ? 0x73 : c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
    if (folded !== field.charCodeAt(i)) return false;
  }
  return true;
}

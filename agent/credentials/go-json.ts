// JSON as Go's encoding/json reads and writes it, for the two places where the kubelet's bytes
// matter to us: decoding a pull secret's config (where member order, duplicate names and
// invalid UTF-8 decide which credential wins) and encoding the AuthConfig whose SHA-256 is
// the KEP-2535 credentialHash.
import { Buffer } from 'node:buffer';
import { decodeRune, REPLACEMENT_RUNE } from './go-text.ts';
import { err, ok, type Result } from '../result.ts';

/**
 * A parsed JSON value that keeps object members in document order, duplicates included, as
 * Go's decoder sees them (JSON.parse keeps only the last duplicate, at the first's position).
 * Array items and number values are validated but not kept: nothing we read lives there.
 */
export type GoJsonValue =
  | { readonly kind: 'null' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'number' }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'array'; readonly length: number }
  | { readonly kind: 'object'; readonly members: readonly GoJsonMember[] };

export type GoJsonMember = readonly [name: string, value: GoJsonValue];

export interface GoJsonSyntaxError {
  /** Offset (in UTF-16 code units of the decoded text) where parsing stopped. */
  readonly offset: number;
  readonly reason: string;
}

// encoding/json's scanner refuses input nested deeper than this.
const MAX_NESTING_DEPTH = 10000;

type OpenContainer =
  | { readonly kind: 'object'; readonly members: GoJsonMember[]; name: string }
  | { readonly kind: 'array'; length: number };

const NULL: GoJsonValue = { kind: 'null' };
const BOOLEAN: GoJsonValue = { kind: 'boolean' };
const NUMBER: GoJsonValue = { kind: 'number' };

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Parses RFC 8259 JSON with encoding/json's rules: the same grammar and nesting limit, and in
 * strings an unpaired UTF-16 surrogate escape becomes U+FFFD (as Go's unquote does). `text`
 * should come from `decodeUtf8`, which already replaced invalid UTF-8 the way Go does.
 * Iterative, so deep nesting cannot exhaust the call stack.
 */
export function parseGoJson(text: string): Result<GoJsonValue, GoJsonSyntaxError> {
  const n = text.length;
  let i = 0;
  const stack: OpenContainer[] = [];

  const skipWhitespace = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i++;
    }
  };

  const readHex4 = (at: number): number => {
    if (at + 4 > n) return -1;
    let value = 0;
    for (let k = 0; k < 4; k++) {
      const h = hexValue(text.charCodeAt(at + k));
      if (h < 0) return -1;
      value = value * 16 + h;
    }
    return value;
  };

  // Reads the string starting at the quote at `i`; leaves `i` after the closing quote.
  const readString = (): string | undefined => {
    i++;
    let out = '';
    let runStart = i;
    for (;;) {
      if (i >= n) return undefined;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(runStart, i);
        i++;
        return out;
      }
      if (c < 0x20) return undefined;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(runStart, i);
      const escape = text.charCodeAt(i + 1);
      switch (escape) {
        case 0x22: // "
        case 0x5c: // \
        case 0x2f: // /
          out += String.fromCharCode(escape);
          i += 2;
          break;
        case 0x62: // b
          out += '\b';
          i += 2;
          break;
        case 0x66: // f
          out += '\f';
          i += 2;
          break;
        case 0x6e: // n
          out += '\n';
          i += 2;
          break;
        case 0x72: // r
          out += '\r';
          i += 2;
          break;
        case 0x74: // t
          out += '\t';
          i += 2;
          break;
        case 0x75: {
          // u
          const unit = readHex4(i + 2);
          if (unit < 0) return undefined;
          i += 6;
          if (unit < 0xd800 || unit >= 0xe000) {
            out += String.fromCharCode(unit);
            break;
          }
          // A high surrogate pairs only with an immediately following low-surrogate escape;
          // anything else is U+FFFD and the following escape is read on its own.
          if (unit < 0xdc00 && text.charCodeAt(i) === 0x5c && text.charCodeAt(i + 1) === 0x75) {
            const low = readHex4(i + 2);
            if (low >= 0xdc00 && low < 0xe000) {
              out += String.fromCharCode(unit, low);
              i += 6;
              break;
            }
          }
          out += '\uFFFD';
          break;
        }
        default:
          return undefined;
      }
      runStart = i;
    }
  };

  const readNumber = (): boolean => {
    if (text.charCodeAt(i) === 0x2d) i++;
    const first = text.charCodeAt(i);
    if (first === 0x30) {
      i++;
    } else if (first >= 0x31 && first <= 0x39) {
      while (isDigit(text.charCodeAt(i))) i++;
    } else {
      return false;
    }
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (!isDigit(text.charCodeAt(i))) return false;
      while (isDigit(text.charCodeAt(i))) i++;
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = text.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (!isDigit(text.charCodeAt(i))) return false;
      while (isDigit(text.charCodeAt(i))) i++;
    }
    return true;
  };

  // Reads `"name":` for the next object member, leaving `i` at the member's value.
  const readMemberName = (): string | undefined => {
    if (text.charCodeAt(i) !== 0x22) return undefined;
    const name = readString();
    if (name === undefined) return undefined;
    skipWhitespace();
    if (text.charCodeAt(i) !== 0x3a) return undefined;
    i++;
    skipWhitespace();
    return name;
  };

  const fail = (reason: string): Result<GoJsonValue, GoJsonSyntaxError> =>
    err({ offset: Math.min(i, n), reason });

  skipWhitespace();
  for (;;) {
    // A value starts at `i`.
    let value: GoJsonValue;
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (stack.length >= MAX_NESTING_DEPTH) return fail('exceeded max depth');
      i++;
      skipWhitespace();
      if (c === 0x7b) {
        if (text.charCodeAt(i) === 0x7d) {
          i++;
          value = { kind: 'object', members: [] };
        } else {
          const name = readMemberName();
          if (name === undefined) return fail('expected an object member name');
          stack.push({ kind: 'object', members: [], name });
          continue;
        }
      } else if (text.charCodeAt(i) === 0x5d) {
        i++;
        value = { kind: 'array', length: 0 };
      } else {
        stack.push({ kind: 'array', length: 0 });
        continue;
      }
    } else if (c === 0x22) {
      const s = readString();
      if (s === undefined) return fail('invalid string');
      value = { kind: 'string', value: s };
    } else if (text.startsWith('true', i) || text.startsWith('false', i)) {
      i += c === 0x74 ? 4 : 5;
      value = BOOLEAN;
    } else if (text.startsWith('null', i)) {
      i += 4;
      value = NULL;
    } else if (c === 0x2d || isDigit(c)) {
      if (!readNumber()) return fail('invalid number');
      value = NUMBER;
    } else {
      return fail(i >= n ? 'unexpected end of input' : 'unexpected character');
    }

    // Hand the finished value to its container, closing containers as they end.
    for (;;) {
      const open = stack[stack.length - 1];
      skipWhitespace();
      if (open === undefined) {
        return i === n ? ok(value) : fail('unexpected data after the top-level value');
      }
      if (open.kind === 'object') open.members.push([open.name, value]);
      else open.length++;
      const next = text.charCodeAt(i);
      if (next === 0x2c) {
        i++;
        skipWhitespace();
        if (open.kind === 'object') {
          const name = readMemberName();
          if (name === undefined) return fail('expected an object member name');
          open.name = name;
        }
        break;
      }
      if (next !== (open.kind === 'object' ? 0x7d : 0x5d)) {
        return fail(i >= n ? 'unexpected end of input' : 'expected a comma or a closing bracket');
      }
      i++;
      stack.pop();
      value =
        open.kind === 'object'
          ? { kind: 'object', members: open.members }
          : { kind: 'array', length: open.length };
    }
  }
}

const HEX = '0123456789abcdef';

/**
 * A JSON string literal exactly as Go's `json.Marshal` writes one (HTML escaping on, Go >= 1.22):
 * `"` and `\` backslash-escaped; \b \f \n \r \t short escapes; other bytes below 0x20 and
 * `<` `>` `&` as \u00XX (lower-case hex); U+2028 and U+2029 as \u2028 and \u2029; each byte of
 * invalid UTF-8 as the six characters \ufffd. DEL and all other runes are written as they are.
 * https://github.com/golang/go/blob/master/src/encoding/json/encode.go (appendString)
 *
 * A Go string is bytes, so pass bytes when they may not be valid UTF-8 (a password decoded from
 * `auth`); a JavaScript string is taken as its UTF-8 encoding (a lone surrogate, which no Go
 * string can hold, is encoded as U+FFFD). The result's UTF-8 encoding is Go's output.
 */
export function goJsonString(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      switch (b) {
        case 0x22:
          out += '\\"';
          break;
        case 0x5c:
          out += '\\\\';
          break;
        case 0x08:
          out += '\\b';
          break;
        case 0x0c:
          out += '\\f';
          break;
        case 0x0a:
          out += '\\n';
          break;
        case 0x0d:
          out += '\\r';
          break;
        case 0x09:
          out += '\\t';
          break;
        default:
          out +=
            b < 0x20 || b === 0x3c || b === 0x3e || b === 0x26
              ? `\\u00${HEX[b >> 4] ?? ''}${HEX[b & 0xf] ?? ''}`
              : String.fromCharCode(b);
      }
      i++;
      continue;
    }
    const [rune, size] = decodeRune(bytes, i);
    if (rune === REPLACEMENT_RUNE && size === 1) out += '\\ufffd';
    else if (rune === 0x2028 || rune === 0x2029) out += `\\u202${HEX[rune & 0xf] ?? ''}`;
    else out += String.fromCodePoint(rune);
    i += size;
  }
  return out + '"';
}

// Go's path/filepath.Match (Unix separator), which the kubelet applies to each dot-separated
// label of a registry key's host. Go's algorithm is reproduced step for step, on UTF-8 bytes,
// because its answers are not those of a textbook glob: a star is extended byte by byte and
// the leftmost match of the following chunk is kept without backtracking, and `?` or a class
// reading from the middle of a multi-byte character sees U+FFFD. A malformed pattern is an
// error in Go, which the keyring treats as "no match"; here it simply does not match.
// https://github.com/golang/go/blob/master/src/path/filepath/match.go
import { Buffer } from 'node:buffer';
import { decodeRune, REPLACEMENT_RUNE } from './go-text.ts';

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;
const SEPARATOR = 0x2f;
// Printable ASCII other than * ? [ and backslash; any other pattern takes Go's algorithm.
const LITERAL_ASCII = /^[\x20-\x29\x2b-\x3e\x40-\x5a\x5d-\x7e]*$/;

// What matching a chunk can end in besides the rest of the name.
const NO_MATCH = 'no-match';
const BAD_PATTERN = 'bad-pattern';
type ChunkResult = Uint8Array | typeof NO_MATCH | typeof BAD_PATTERN;

// filepath.scanChunk: leading stars, then everything up to the next star outside brackets.
function scanChunk(pattern: Uint8Array): { star: boolean; chunk: Uint8Array; rest: Uint8Array } {
  let start = 0;
  while (pattern[start] === STAR) start++;
  let inRange = false;
  let i = start;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === BACKSLASH) {
      if (i + 1 < pattern.length) i++;
    } else if (c === OPEN) {
      inRange = true;
    } else if (c === CLOSE) {
      inRange = false;
    } else if (c === STAR && !inRange) {
      break;
    }
  }
  return { star: start > 0, chunk: pattern.subarray(start, i), rest: pattern.subarray(i) };
}

// filepath.getEsc: one possibly escaped character of a class, which must not end the chunk;
// undefined when the pattern is malformed.
function classCharacter(chunk: Uint8Array): { rune: number; rest: Uint8Array } | undefined {
  let c = chunk;
  if (c.length === 0 || c[0] === DASH || c[0] === CLOSE) return undefined;
  if (c[0] === BACKSLASH) {
    c = c.subarray(1);
    if (c.length === 0) return undefined;
  }
  const [rune, size] = decodeRune(c, 0);
  if (rune === REPLACEMENT_RUNE && size === 1) return undefined;
  const rest = c.subarray(size);
  return rest.length === 0 ? undefined : { rune, rest };
}

// filepath.matchChunk: the rest of `s` after `chunk` matched its start. The whole chunk is
// always read, so a malformed one is reported even when the match already failed.
function matchChunk(chunkIn: Uint8Array, sIn: Uint8Array): ChunkResult {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk[0];
    if (c === OPEN) {
      let rune = 0;
      if (!failed) {
        const [r, size] = decodeRune(s, 0);
        rune = r;
        s = s.subarray(size);
      }
      chunk = chunk.subarray(1);
      const negated = chunk[0] === CARET;
      if (negated) chunk = chunk.subarray(1);
      let matched = false;
      let ranges = 0;
      for (;;) {
        if (chunk[0] === CLOSE && ranges > 0) {
          chunk = chunk.subarray(1);
          break;
        }
        const low = classCharacter(chunk);
        if (low === undefined) return BAD_PATTERN;
        chunk = low.rest;
        let high = low.rune;
        if (chunk[0] === DASH) {
          const h = classCharacter(chunk.subarray(1));
          if (h === undefined) return BAD_PATTERN;
          chunk = h.rest;
          high = h.rune;
        }
        if (low.rune <= rune && rune <= high) matched = true;
        ranges++;
      }
      if (matched === negated) failed = true;
    } else if (c === QUESTION) {
      if (!failed) {
        if (s[0] === SEPARATOR) failed = true;
        s = s.subarray(decodeRune(s, 0)[1]);
      }
      chunk = chunk.subarray(1);
    } else {
      if (c === BACKSLASH) {
        chunk = chunk.subarray(1);
        if (chunk.length === 0) return BAD_PATTERN;
      }
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.subarray(1);
      }
      chunk = chunk.subarray(1);
    }
  }
  return failed ? NO_MATCH : s;
}

function match(patternIn: Uint8Array, nameIn: Uint8Array): boolean {
  let pattern = patternIn;
  let name = nameIn;
  nextChunk: while (pattern.length > 0) {
    const scanned = scanChunk(pattern);
    const { star, chunk } = scanned;
    pattern = scanned.rest;
    if (star && chunk.length === 0) return !name.includes(SEPARATOR);
    const here = matchChunk(chunk, name);
    if (here === BAD_PATTERN) return false;
    // The last chunk must use up the name; an earlier one may leave some for what follows.
    if (here !== NO_MATCH && (here.length === 0 || pattern.length > 0)) {
      name = here;
      continue;
    }
    if (star) {
      for (let i = 0; i < name.length && name[i] !== SEPARATOR; i++) {
        const later = matchChunk(chunk, name.subarray(i + 1));
        if (later === BAD_PATTERN) return false;
        if (later === NO_MATCH || (pattern.length === 0 && later.length > 0)) continue;
        name = later;
        continue nextChunk;
      }
    }
    // Go goes on to check that the rest of the pattern is well-formed, but a malformed rest
    // only turns this "false" into an error, which the keyring also reads as "no match".
    return false;
  }
  return name.length === 0;
}

/** Whether `name` matches the glob `pattern` as Go's `filepath.Match` decides (errors: false). */
export function globMatch(pattern: string, name: string): boolean {
  // Most registry keys name their hosts literally: an ASCII pattern without a metacharacter
  // matches exactly the same bytes, so string equality answers without encoding either side.
  if (LITERAL_ASCII.test(pattern)) return pattern === name;
  return match(Buffer.from(pattern, 'utf8'), Buffer.from(name, 'utf8'));
}

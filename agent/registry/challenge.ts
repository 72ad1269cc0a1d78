// Reads the WWW-Authenticate header a registry sends with a 401: which scheme it wants and,
// for the token flow, where to get a token. Grammar of RFC 7235 section 4.1 / RFC 9110
// section 11.6.1: a comma-separated list of challenges, each an auth-scheme followed by either
// a token68 or a comma-separated list of `name = token / quoted-string` parameters. Several
// WWW-Authenticate headers are one such list (fetch joins them with ", ").
// https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
//
// Pure and total: malformed parts are skipped, never thrown at. What a registry sends is
// untrusted input.

/** One challenge as written: lowercased scheme and parameter names, unescaped values. */
export interface RawChallenge {
  /** Lowercase (schemes are case-insensitive). */
  readonly scheme: string;
  /** Parameter names lowercased; for a name written twice, the first value. */
  readonly params: ReadonlyMap<string, string>;
  /** The token68 form (`Negotiate YIIB...`), when the challenge has one instead of params. */
  readonly token68: string | undefined;
}

/** What a registry client needs from a challenge. */
export type AuthChallenge =
  | { readonly scheme: 'Basic'; readonly realm: string | undefined }
  | {
      readonly scheme: 'Bearer';
      readonly realm: string | undefined;
      readonly service: string | undefined;
      readonly scope: string | undefined;
    }
  /** A scheme a registry client does not speak (Negotiate, Digest, ...), lowercased. */
  | { readonly scheme: 'unknown'; readonly name: string };

// RFC 9110 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// RFC 9110 token68 followed by the end of this challenge.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/;

function isTchar(c: string | undefined): boolean {
  return c !== undefined && TCHAR.test(c);
}

function isWhitespace(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

/** A cursor over the header text. */
class Scanner {
  readonly text: string;
  pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  skipWhitespace(): void {
    while (isWhitespace(this.peek())) this.pos++;
  }

  skipWhitespaceAndCommas(): void {
    while (isWhitespace(this.peek()) || this.peek() === ',') this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (isTchar(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** Whether a parameter (a token, optional whitespace, then `=`) starts here. */
  paramAhead(): boolean {
    let i = this.pos;
    while (isTchar(this.text[i])) i++;
    if (i === this.pos) return false;
    while (isWhitespace(this.text[i])) i++;
    return this.text[i] === '=';
  }

  /** After the opening quote: the unescaped content, or undefined if the quote never closes. */
  quotedStringRest(): string | undefined {
    let value = '';
    while (!this.done) {
      const c = this.text.charAt(this.pos++);
      if (c === '"') return value;
      if (c === '\\') {
        if (this.done) return undefined;
        const escaped = this.text.charAt(this.pos++);
        value += escaped;
      } else {
        value += c;
      }
    }
    return undefined;
  }

  /** Skips to the next comma outside a quoted string (or the end). */
  skipToComma(): void {
    while (!this.done && this.peek() !== ',') {
      if (this.peek() === '"') {
        this.pos++;
        if (this.quotedStringRest() === undefined) return;
      } else {
        this.pos++;
      }
    }
  }
}

/**
 * Parses the parameters of one challenge, starting after the scheme. Stops before the next
 * challenge's scheme or at the end. Returns false when the rest of the header is unusable
 * (an unterminated quoted string).
 */
function parseParams(scanner: Scanner, params: Map<string, string>): boolean {
  for (;;) {
    scanner.skipWhitespaceAndCommas();
    if (scanner.done || !scanner.paramAhead()) return true;
    const name = scanner.token().toLowerCase();
    scanner.skipWhitespace();
    scanner.pos++; // '='
    scanner.skipWhitespace();
    let value: string;
    if (scanner.peek() === '"') {
      scanner.pos++;
      const quoted = scanner.quotedStringRest();
      if (quoted === undefined) return false;
      value = quoted;
    } else {
      value = scanner.token();
    }
    scanner.skipWhitespace();
    if (!scanner.done && scanner.peek() !== ',') {
      // Garbage after the value (`realm=a b`): the parameter is malformed; drop it.
      scanner.skipToComma();
      continue;
    }
    if (!params.has(name)) params.set(name, value);
  }
}

/** Every challenge in a WWW-Authenticate value, in order. Never throws. */
export function parseChallenges(header: string): readonly RawChallenge[] {
  const scanner = new Scanner(header);
  const challenges: RawChallenge[] = [];
  for (;;) {
    scanner.skipWhitespaceAndCommas();
    if (scanner.done) return challenges;
    if (scanner.paramAhead() || !isTchar(scanner.peek())) {
      // A parameter with no scheme before it, or a stray character: skip this list element.
      scanner.skipToComma();
      continue;
    }
    const scheme = scanner.token().toLowerCase();
    const params = new Map<string, string>();
    let token68: string | undefined;
    if (isWhitespace(scanner.peek())) {
      scanner.skipWhitespace();
      // `abc==` also starts like a parameter, but a parameter needs a value after its '='.
      const match = TOKEN68.exec(scanner.text.slice(scanner.pos));
      if (match && (!scanner.paramAhead() || match[0].endsWith('='))) {
        token68 = match[0];
        scanner.pos += match[0].length;
      }
    }
    const usable = token68 !== undefined || parseParams(scanner, params);
    challenges.push({ scheme, params, token68 });
    if (!usable) return challenges;
  }
}

/** The challenges a registry client understands, plus the schemes it does not. Never throws. */
export function parseWwwAuthenticate(header: string): readonly AuthChallenge[] {
  return parseChallenges(header).map((raw): AuthChallenge => {
    switch (raw.scheme) {
      case 'basic':
        return { scheme: 'Basic', realm: raw.params.get('realm') };
      case 'bearer':
        return {
          scheme: 'Bearer',
          realm: raw.params.get('realm'),
          service: raw.params.get('service'),
          scope: raw.params.get('scope'),
        };
      default:
        return { scheme: 'unknown', name: raw.scheme };
    }
  });
}

/**
 * The challenge to answer: Bearer (with a realm) before Basic, as Docker's and containerd's
 * clients prefer the token flow when a registry offers both; undefined when neither is offered.
 */
export function preferredChallenge(
  challenges: readonly AuthChallenge[],
):
  | Extract<AuthChallenge, { scheme: 'Basic' }>
  | (Extract<AuthChallenge, { scheme: 'Bearer' }> & { readonly realm: string })
  | undefined {
  for (const challenge of challenges) {
    if (challenge.scheme === 'Bearer' && challenge.realm !== undefined && challenge.realm !== '') {
      return { ...challenge, realm: challenge.realm };
    }
  }
  for (const challenge of challenges) {
    if (challenge.scheme === 'Basic') return challenge;
  }
  return undefined;
}

// The part of Go's net/url.Parse and net.SplitHostPort that the kubelet's credential keyring
// relies on: it parses every registry key, and every image name, as "https://" + text and
// compares the resulting Host and Path. Reproducing Go's acceptance rules keeps a key we
// consider usable exactly as usable as the kubelet considers it.
// https://github.com/golang/go/blob/master/src/net/url/url.go
import { Buffer } from 'node:buffer';
import { decodeUtf8 } from './go-text.ts';
import { err, ok, type Result } from '../result.ts';

export interface GoUrl {
  /** `URL.Host`: userinfo removed, percent-escapes decoded, port kept. */
  readonly host: string;
  /** `URL.Path`: percent-escapes decoded; query and fragment removed. */
  readonly path: string;
  /**
   * False when percent-escapes in the host decode to bytes that are not UTF-8 (Go keeps the raw
   * bytes; we hold U+FFFD instead). Such a host never equals, or glob-matches, an image registry.
   */
  readonly hostIsUtf8: boolean;
}

type EscapeMode = 'host' | 'zone' | 'path' | 'userinfo' | 'fragment';

function isHexByte(b: number | undefined): b is number {
  return (
    b !== undefined &&
    ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66))
  );
}

function hexByteValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10;
}

// url.shouldEscape(c, encodeHost) for an ASCII byte: what may appear literally in a host.
function hostRejects(c: number): boolean {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) {
    return false;
  }
  return !`!$&'()*+,;=:[]<>"-_.~`.includes(String.fromCharCode(c));
}

// url.unescape: validates escapes for the URL part `mode` and decodes them.
function unescape(s: string, mode: EscapeMode): Result<{ text: string; isUtf8: boolean }, string> {
  const bytes = Buffer.from(s, 'utf8');
  let escapes = 0;
  for (let i = 0; i < bytes.length;) {
    const c = bytes[i] ?? 0;
    if (c === 0x25) {
      escapes++;
      const h1 = bytes[i + 1];
      const h2 = bytes[i + 2];
      if (i + 2 >= bytes.length || !isHexByte(h1) || !isHexByte(h2)) {
        return err('invalid URL escape');
      }
      const isPercent25 = h1 === 0x32 && h2 === 0x35;
      // In a host, escapes may only spell non-ASCII bytes (RFC 3986), or "%25" (RFC 6874).
      if (mode === 'host' && hexByteValue(h1) < 8 && !isPercent25) {
        return err('invalid URL escape in host');
      }
      if (mode === 'zone') {
        const v = (hexByteValue(h1) << 4) | hexByteValue(h2);
        if (!isPercent25 && v !== 0x20 && v < 0x80 && hostRejects(v)) {
          return err('invalid URL escape in zone');
        }
        if (!isPercent25 && v >= 0x80) return err('invalid URL escape in zone');
      }
      i += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c < 0x80 && hostRejects(c)) {
      return err('invalid character in host name');
    }
    i++;
  }
  if (escapes === 0) return ok({ text: s, isUtf8: true });
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] ?? 0;
    if (c === 0x25) {
      out.push((hexByteValue(bytes[i + 1] ?? 0) << 4) | hexByteValue(bytes[i + 2] ?? 0));
      i += 2;
    } else {
      out.push(c);
    }
  }
  const decoded = decodeUtf8(Uint8Array.from(out));
  return ok({ text: decoded.text, isUtf8: decoded.valid });
}

// url.validOptionalPort: "" or ":" followed by digits only.
function isValidOptionalPort(colonPort: string): boolean {
  return /^(?::[0-9]*)?$/.test(colonPort);
}

// url.validUserinfo
function isValidUserinfo(s: string): boolean {
  return /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(s);
}

// url.parseHost
function parseHost(host: string): Result<{ text: string; isUtf8: boolean }, string> {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) return err("missing ']' in host");
    if (!isValidOptionalPort(host.slice(close + 1))) return err('invalid port after host');
    const zone = host.slice(0, close).indexOf('%25');
    if (zone >= 0) {
      const parts = [
        unescape(host.slice(0, zone), 'host'),
        unescape(host.slice(zone, close), 'zone'),
        unescape(host.slice(close), 'host'),
      ];
      let text = '';
      let isUtf8 = true;
      for (const part of parts) {
        if (!part.ok) return part;
        text += part.value.text;
        isUtf8 &&= part.value.isUtf8;
      }
      return ok({ text, isUtf8 });
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && !isValidOptionalPort(host.slice(colon))) {
      return err('invalid port after host');
    }
  }
  return unescape(host, 'host');
}

// url.parseAuthority, keeping only the host; the userinfo is validated and dropped.
function parseAuthority(authority: string): Result<{ text: string; isUtf8: boolean }, string> {
  const at = authority.lastIndexOf('@');
  const host = parseHost(at < 0 ? authority : authority.slice(at + 1));
  if (!host.ok || at < 0) return host;
  const userinfo = authority.slice(0, at);
  if (!isValidUserinfo(userinfo)) return err('invalid userinfo');
  const decoded = unescape(userinfo, 'userinfo');
  return decoded.ok ? host : decoded;
}

/**
 * Go's `url.Parse(raw)` reduced to Host and Path. Only absolute URLs are supported
 * (`scheme:...`), which is all the kubelet ever parses here; a relative one is an error.
 */
export function parseGoUrl(raw: string): Result<GoUrl, string> {
  const hash = raw.indexOf('#');
  const beforeFragment = hash < 0 ? raw : raw.slice(0, hash);
  // eslint-disable-next-line no-control-regex -- Go refuses ASCII control bytes in a URL.
  if (/[\u0000-\u001f\u007f]/.test(beforeFragment)) return err('invalid control character in URL');
  const scheme = /^[A-Za-z][A-Za-z0-9+\-.]*:/.exec(beforeFragment);
  if (scheme === null) {
    return err(beforeFragment.startsWith(':') ? 'missing protocol scheme' : 'not an absolute URL');
  }
  let rest = beforeFragment.slice(scheme[0].length);
  const question = rest.indexOf('?');
  if (question >= 0) rest = rest.slice(0, question);

  let host: { text: string; isUtf8: boolean } = { text: '', isUtf8: true };
  let path = '';
  if (rest.startsWith('/')) {
    if (rest.startsWith('//')) {
      const slash = rest.indexOf('/', 2);
      const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
      rest = slash < 0 ? '' : rest.slice(slash);
      const parsed = parseAuthority(authority);
      if (!parsed.ok) return parsed;
      host = parsed.value;
    }
    const decodedPath = unescape(rest, 'path');
    if (!decodedPath.ok) return decodedPath;
    path = decodedPath.value.text;
  }
  // Otherwise Go records an opaque URL, with an empty Host and Path.

  if (hash >= 0) {
    const fragment = unescape(raw.slice(hash + 1), 'fragment');
    if (!fragment.ok) return fragment;
  }
  return ok({ host: host.text, path, hostIsUtf8: host.isUtf8 });
}

/**
 * Go's `net.SplitHostPort`; undefined where Go returns an error (no port, too many colons,
 * misplaced brackets). The kubelet then uses the whole host with an empty port.
 */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  const lastColon = hostport.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  let host: string;
  let bracketsFrom = 0;
  let closeFrom = 0;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0 || close + 1 !== lastColon) return undefined;
    host = hostport.slice(1, close);
    bracketsFrom = 1;
    closeFrom = close + 1;
  } else {
    host = hostport.slice(0, lastColon);
    if (host.includes(':')) return undefined;
  }
  if (hostport.slice(bracketsFrom).includes('[')) return undefined;
  if (hostport.slice(closeFrom).includes(']')) return undefined;
  return { host, port: hostport.slice(lastColon + 1) };
}

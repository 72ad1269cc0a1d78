// The image reference grammar the kubelet and containerd accept, transcribed from
// distribution/reference regexp.go (https://github.com/distribution/reference/blob/main/regexp.go).
// Go's RE2 reports leftmost-first submatches like a backtracking engine, so these
// JavaScript patterns capture the same groups. Every repetition is separated by a
// mandatory delimiter, which keeps matching linear on hostile input.

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;

const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6Address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6Address})(?::[0-9]+)?`;

const namePattern = `(?:${domainAndPort}/)?${remoteName}`;
// `\w` is ASCII-only in both RE2 and non-unicode JavaScript patterns.
const tagPattern = '[\\w][\\w.-]{0,127}';
// The reference grammar is looser than go-digest; digest.ts applies go-digest's rules afterwards.
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}';

/** Groups: 1 name, 2 tag, 3 digest. */
export const referenceRegExp = new RegExp(
  `^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`,
);

/** Groups: 1 domain (may be absent), 2 path. */
export const anchoredNameRegExp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);

export const anchoredTagRegExp = new RegExp(`^${tagPattern}$`);

export const anchoredDigestSyntaxRegExp = new RegExp(`^${digestPattern}$`);

/** A bare sha256 image ID, which the parsers refuse to read as a repository name. */
export const anchoredIdentifierRegExp = /^[a-f0-9]{64}$/;

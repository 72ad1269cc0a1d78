// Content digests and runtime image IDs, checked the way go-digest's Digest.Validate
// checks them (https://github.com/opencontainers/go-digest/blob/master/digest.go):
// only algorithms linked into the kubelet and containerd count, each with a fixed
// number of lowercase hex characters.
import type { Brand } from '../brand.ts';
import { err, ok, type Result } from '../result.ts';
import { invalidDigest, type DigestProblem, type ReferenceError } from './reference-error.ts';

/** `algorithm:hex`, e.g. `sha256:` and 64 lowercase hex characters. */
export type Digest = Brand<string, 'Digest'>;

/**
 * The runtime's ID of a cached image (CRI `Image.id`): the config digest
 * (`sha256:...`) in containerd and cri-dockerd, 64 bare hex characters in CRI-O.
 */
export type ImageId = Brand<string, 'ImageId'>;

const hexLengthByAlgorithm: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

const lowercaseHex = /^[a-f0-9]+$/;
// go-digest's DigestRegexp: decides between "bad format" and "unknown algorithm".
const goDigestSyntax = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const bareImageId = /^[a-f0-9]{64}$/;

/** undefined when `text` is a valid digest; otherwise what go-digest objects to. */
export function findDigestProblem(text: string): DigestProblem | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    return 'format';
  }
  const hexLength = hexLengthByAlgorithm.get(text.slice(0, colon));
  if (hexLength === undefined) {
    return goDigestSyntax.test(text) ? 'unsupported-algorithm' : 'format';
  }
  const hex = text.slice(colon + 1);
  if (hex.length !== hexLength) {
    return 'length';
  }
  return lowercaseHex.test(hex) ? undefined : 'format';
}

export function parseDigest(text: string): Result<Digest, ReferenceError> {
  const problem = findDigestProblem(text);
  return problem === undefined ? ok(text as Digest) : err(invalidDigest(text, problem));
}

export function isSupportedAlgorithm(algorithm: string): boolean {
  return hexLengthByAlgorithm.has(algorithm);
}

/**
 * The runtime's image ID as listed. CRI leaves its form to the runtime, so any
 * non-empty string without whitespace or control characters is accepted.
 */
export function parseImageId(text: string): ImageId | undefined {
  return text !== '' && !/[\s\p{Cc}]/u.test(text) ? (text as ImageId) : undefined;
}

/** The digest an ID string stands for: itself, or sha256 for 64 bare hex (as ParseAnyReference reads it). */
export function digestOfImageId(text: string): Digest | undefined {
  if (bareImageId.test(text)) {
    return `sha256:${text}` as Digest;
  }
  return findDigestProblem(text) === undefined ? (text as Digest) : undefined;
}

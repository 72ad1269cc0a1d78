// Image references read exactly as the kubelet and containerd read them:
// distribution/reference ParseNormalizedNamed for the name, then containerd's
// ParseDockerRef rules (default tag, digest wins over tag) for cache lookups.
// https://github.com/distribution/reference/blob/main/normalize.go
// https://github.com/distribution/reference/blob/main/reference.go
import type { Brand } from '../brand.ts';
import { GenerationalMemo } from '../memo.ts';
import { err, ok, type Result } from '../result.ts';
import { findDigestProblem, type Digest } from './digest.ts';
import {
  anchoredDigestSyntaxRegExp,
  anchoredIdentifierRegExp,
  anchoredNameRegExp,
  anchoredTagRegExp,
  referenceRegExp,
} from './grammar.ts';
import {
  emptyReference,
  imageIdNotReference,
  invalidDigest,
  invalidFormat,
  invalidTag,
  nameTooLong,
  notARepoDigest,
  notARepoTag,
  uppercaseRepository,
  type ReferenceError,
} from './reference-error.ts';

export type { Digest, ImageId } from './digest.ts';
export { parseDigest, parseImageId } from './digest.ts';
export type { ReferenceError, ReferenceErrorKind } from './reference-error.ts';

export interface ImageReference {
  /**
   * `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost`, `[::1]:5000`. Empty only
   * in upstream's corner case of a first component that looks like a domain but is
   * only valid as a path component (`my_host.local/app`): the name is then the path.
   */
  readonly registry: string;
  /** The path without the registry, e.g. `library/nginx`. */
  readonly repository: string;
  /** `registry/repository`. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

/** `name:tag`, normalized (`docker.io/library/nginx:1.27`). */
export type RepoTag = Brand<string, 'RepoTag'>;

/** `name@digest`, normalized (`docker.io/library/nginx@sha256:...`). */
export type RepoDigest = Brand<string, 'RepoDigest'>;

export const defaultRegistry = 'docker.io';
export const defaultTag = 'latest';
const legacyDefaultRegistry = 'index.docker.io';
const officialRepositoryPrefix = 'library/';

/**
 * distribution/reference v0.6.0 (kubelet >= 1.31, containerd 2.x) limits the path;
 * older copies (containerd 1.6/1.7's reference/docker) limited registry + path.
 * Accepting the newer, wider set never hides a name a runtime may hold.
 * https://github.com/distribution/reference/pull/9
 */
export const repositoryLengthLimit = 255;

// Every listing and every reconcile reads the same names again; parsing is pure and its
// results are read-only, so answers are shared. Bounded in count (two generations of 16,384:
// a 5,000-image node's names fit in one) and in input size: a longer string is no image name
// a runtime holds, and is simply parsed each time.
const parsed = new GenerationalMemo<string, Result<ImageReference, ReferenceError>>(16_384);
const MEMO_INPUT_LIMIT = 512;

/** Mirrors ParseNormalizedNamed. Never throws. */
export function parseImageReference(input: string): Result<ImageReference, ReferenceError> {
  return input.length > MEMO_INPUT_LIMIT ? parseUncached(input) : parsed.get(input, parseUncached);
}

function parseUncached(input: string): Result<ImageReference, ReferenceError> {
  if (input === '') {
    return err(emptyReference());
  }
  if (anchoredIdentifierRegExp.test(input)) {
    return err(imageIdNotReference(input));
  }
  const { registry, remainder } = splitDockerRegistry(input);
  const tagSeparator = remainder.indexOf(':');
  const remote = tagSeparator === -1 ? remainder : remainder.slice(0, tagSeparator);
  if (remote.toLowerCase() !== remote) {
    return err(uppercaseRepository(input));
  }
  return parseQualified(`${registry}/${remainder}`, input);
}

/** Mirrors containerd's ParseDockerRef: the reference the runtime looks up in its store. */
export function parseDockerRef(input: string): Result<ImageReference, ReferenceError> {
  const parsed = parseImageReference(input);
  return parsed.ok ? ok(toDockerRef(parsed.value)) : parsed;
}

/** Tag `latest` when neither tag nor digest is given; with both, the tag is dropped. */
export function toDockerRef(reference: ImageReference): ImageReference {
  if (reference.digest !== undefined) {
    return reference.tag === undefined
      ? reference
      : buildReference(reference.registry, reference.repository, undefined, reference.digest);
  }
  return reference.tag === undefined
    ? buildReference(reference.registry, reference.repository, defaultTag, undefined)
    : reference;
}

/** `name[:tag][@digest]`, as given. */
export function formatReference(reference: ImageReference): string {
  return appendTagAndDigest(reference.name, reference);
}

/** The string containerd's image store is keyed by: `name:tag` or `name@digest`. */
export function normalizedReference(reference: ImageReference): string {
  return formatReference(toDockerRef(reference));
}

/**
 * The short form users type (`nginx:1.27`, `user/app`). Unlike upstream
 * FamiliarString, keeps `docker.io/` where dropping it would change the meaning
 * (`docker.io/example.com/app` is not `example.com/app`), so the familiar form
 * always parses back to the same reference.
 */
export function familiarReference(reference: ImageReference): string {
  const familiar = appendTagAndDigest(familiarName(reference), reference);
  return anchoredIdentifierRegExp.test(familiar) ? formatReference(reference) : familiar;
}

/** Removes the `docker-pullable://` or `docker://` scheme of pod `containerStatuses[].imageID`. */
export function stripRuntimePrefix(text: string): string {
  for (const prefix of runtimePrefixes) {
    if (text.startsWith(prefix)) {
      return text.slice(prefix.length);
    }
  }
  return text;
}

const runtimePrefixes = ['docker-pullable://', 'docker://'] as const;

/** A CRI `repo_tags` entry, normalized. */
export function parseRepoTag(text: string): Result<RepoTag, ReferenceError> {
  const parsed = parseImageReference(text);
  if (!parsed.ok) {
    return parsed;
  }
  const repoTag = repoTagOf(parsed.value);
  return repoTag === undefined ? err(notARepoTag(text)) : ok(repoTag);
}

/**
 * A CRI `repo_digests` entry, normalized. A name carrying both tag and digest is
 * refused: containerd stores it verbatim, so no ParseDockerRef lookup can reach it.
 */
export function parseRepoDigest(text: string): Result<RepoDigest, ReferenceError> {
  const parsed = parseImageReference(text);
  if (!parsed.ok) {
    return parsed;
  }
  return parsed.value.tag === undefined && parsed.value.digest !== undefined
    ? ok(`${parsed.value.name}@${parsed.value.digest}` as RepoDigest)
    : err(notARepoDigest(text));
}

/** `name:tag` when the reference is tagged and not pinned to a digest. */
export function repoTagOf(reference: ImageReference): RepoTag | undefined {
  return reference.tag !== undefined && reference.digest === undefined
    ? (`${reference.name}:${reference.tag}` as RepoTag)
    : undefined;
}

/** `name@digest` when the reference has a digest (a tag beside it does not matter). */
export function repoDigestOf(reference: ImageReference): RepoDigest | undefined {
  return reference.digest === undefined
    ? undefined
    : (`${reference.name}@${reference.digest}` as RepoDigest);
}

// splitDockerDomain in normalize.go.
function splitDockerRegistry(input: string): { registry: string; remainder: string } {
  const slash = input.indexOf('/');
  if (slash === -1) {
    return { registry: defaultRegistry, remainder: officialRepositoryPrefix + input };
  }
  const first = input.slice(0, slash);
  const rest = input.slice(slash + 1);
  let registry: string;
  let remainder: string;
  if (first === legacyDefaultRegistry) {
    registry = defaultRegistry;
    remainder = rest;
  } else if (looksLikeRegistry(first)) {
    registry = first;
    remainder = rest;
  } else {
    registry = defaultRegistry;
    remainder = input;
  }
  if (registry === defaultRegistry && !remainder.includes('/')) {
    remainder = officialRepositoryPrefix + remainder;
  }
  return { registry, remainder };
}

function looksLikeRegistry(component: string): boolean {
  return (
    component === 'localhost' ||
    component.includes('.') ||
    component.includes(':') ||
    component.toLowerCase() !== component
  );
}

// Parse in reference.go, given the registry-qualified string.
function parseQualified(qualified: string, input: string): Result<ImageReference, ReferenceError> {
  const match = referenceRegExp.exec(qualified);
  if (match === null) {
    return err(diagnoseMismatch(qualified, input));
  }
  const [, name = '', tag, digestText] = match;
  const nameMatch = anchoredNameRegExp.exec(name);
  const registry = nameMatch?.[1] ?? '';
  const repository = nameMatch?.[2] ?? name;
  if (repository.length > repositoryLengthLimit) {
    return err(nameTooLong(input, repository.length, repositoryLengthLimit));
  }
  if (digestText === undefined) {
    return ok(buildReference(registry, repository, tag, undefined));
  }
  const problem = findDigestProblem(digestText);
  if (problem !== undefined) {
    return err(invalidDigest(input, problem));
  }
  return ok(buildReference(registry, repository, tag, digestText as Digest));
}

// Upstream reports only "invalid reference format" here; naming the part at fault
// helps the user and does not change which strings are accepted.
function diagnoseMismatch(qualified: string, input: string): ReferenceError {
  const lowered = qualified.toLowerCase();
  if (lowered !== qualified && referenceRegExp.test(lowered)) {
    return uppercaseRepository(input);
  }
  const at = qualified.indexOf('@');
  const nameAndTag = at === -1 ? qualified : qualified.slice(0, at);
  const tagSeparator = nameAndTag.indexOf(':', nameAndTag.lastIndexOf('/') + 1);
  const name = tagSeparator === -1 ? nameAndTag : nameAndTag.slice(0, tagSeparator);
  if (!anchoredNameRegExp.test(name)) {
    return invalidFormat(input);
  }
  if (tagSeparator !== -1 && !anchoredTagRegExp.test(nameAndTag.slice(tagSeparator + 1))) {
    return invalidTag(input);
  }
  if (at !== -1 && !anchoredDigestSyntaxRegExp.test(qualified.slice(at + 1))) {
    return invalidDigest(input, 'format');
  }
  return invalidFormat(input);
}

function buildReference(
  registry: string,
  repository: string,
  tag: string | undefined,
  digest: Digest | undefined,
): ImageReference {
  return Object.freeze({
    registry,
    repository,
    name: registry === '' ? repository : `${registry}/${repository}`,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  });
}

function appendTagAndDigest(name: string, reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return name + tag + digest;
}

// familiarizeName in normalize.go, plus the guard described at familiarReference.
function familiarName(reference: ImageReference): string {
  if (reference.registry !== defaultRegistry) {
    return reference.name;
  }
  const official = reference.repository.startsWith(officialRepositoryPrefix)
    ? reference.repository.slice(officialRepositoryPrefix.length)
    : undefined;
  if (official !== undefined && !official.includes('/')) {
    return official;
  }
  const slash = reference.repository.indexOf('/');
  const readsAsRegistry = slash !== -1 && looksLikeRegistry(reference.repository.slice(0, slash));
  return readsAsRegistry ? reference.name : reference.repository;
}

// The image allowlist of `--prevention-allowlist`: images the webhook never forces to pull.
// Same syntax and matching as the kubelet's `preloadedImagesVerificationAllowlist` (KEP-2535),
// so one list can serve both: kubernetes/kubernetes pkg/kubelet/images/pullmanager/
// image_pull_policies.go, getAllowlistImagePattern and NeverVerifyAllowlistedImages.imageMatches.
// A pattern is either a full image name without tag or digest, compared with the image's
// normalized name exactly, or a prefix ending in `/*`, compared as a string prefix of it.
import { parseImageReference } from '../image/reference.ts';
import { err, ok, type Result } from '../result.ts';

export interface ImageAllowlist {
  /** Normalized names (`docker.io/library/nginx`), matched exactly. */
  readonly names: ReadonlySet<string>;
  /** Patterns with their `*` removed (`registry.example.com/base/`), matched as prefixes. */
  readonly prefixes: readonly string[];
}

export const EMPTY_ALLOWLIST: ImageAllowlist = { names: new Set(), prefixes: [] };

/** One pattern, validated as the kubelet validates it; the error quotes the pattern. */
function parsePattern(pattern: string): Result<{ text: string; wildcard: boolean }, string> {
  if (pattern !== pattern.trim())
    return err(`leading/trailing spaces are not allowed: ${JSON.stringify(pattern)}`);
  const wildcard = pattern.endsWith('/*');
  const text = wildcard ? pattern.slice(0, -1) : pattern;
  if (text === '') return err(`the supplied pattern is too short: ${JSON.stringify(pattern)}`);
  if (text.includes('*'))
    return err(
      `not a valid wildcard pattern, only patterns ending with '/*' are allowed: ${JSON.stringify(pattern)}`,
    );
  if (wildcard) {
    if (text.length === 1) return err('at least registry hostname is required');
    return ok({ text, wildcard });
  }
  const reference = parseImageReference(text);
  if (!reference.ok)
    return err(
      `failed to parse as an image name: ${JSON.stringify(pattern)}: ${reference.error.message}`,
    );
  // The kubelet compares the pattern with its own normalized name: `nginx` is refused (it
  // means docker.io/library/nginx, and must be written so), and so are tags and digests.
  if (reference.value.name !== text)
    return err(
      `neither tag nor digest is accepted, and the name must be written in full (${reference.value.name}): ${JSON.stringify(pattern)}`,
    );
  return ok({ text, wildcard });
}

export function parseImageAllowlist(patterns: readonly string[]): Result<ImageAllowlist, string> {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const pattern of patterns) {
    const parsed = parsePattern(pattern);
    if (!parsed.ok) return parsed;
    if (parsed.value.wildcard) prefixes.push(parsed.value.text);
    else names.add(parsed.value.text);
  }
  return ok({ names, prefixes });
}

/** Whether the image (as written in a pod) is allow-listed; an unparsable image never is. */
export function isAllowlisted(allowlist: ImageAllowlist, image: string): boolean {
  if (allowlist.names.size === 0 && allowlist.prefixes.length === 0) return false;
  const reference = parseImageReference(image);
  if (!reference.ok) return false;
  const { name } = reference.value;
  return allowlist.names.has(name) || allowlist.prefixes.some((prefix) => name.startsWith(prefix));
}

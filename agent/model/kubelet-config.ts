// What a node's kubelet configuration files say about KEP-2535 ("ensure secret pulled images"),
// as agent/kubelet-config reads them. A value, never a guess: what cannot be told is 'unknown'
// with the reason, and nothing here ever defaults to "protected".
import { parseImageReference } from '../image/reference.ts';
import { err, ok, type Result } from '../result.ts';

/**
 * The kubelet's imagePullCredentialsVerificationPolicy values (pkg/kubelet/apis/config types.go;
 * the kubelet refuses to start with any other string).
 */
export const VERIFICATION_POLICIES = [
  'NeverVerify',
  'NeverVerifyPreloadedImages',
  'NeverVerifyAllowlistedImages',
  'AlwaysVerify',
] as const;
export type VerificationPolicy = (typeof VERIFICATION_POLICIES)[number];

export function isVerificationPolicy(value: unknown): value is VerificationPolicy {
  return (VERIFICATION_POLICIES as readonly unknown[]).includes(value);
}

/** The feature gate that turns the check on (alpha, off, in 1.33-1.34; beta, on, from 1.35). */
export const ENSURE_SECRET_PULLED_IMAGES_GATE = 'KubeletEnsureSecretPulledImages';

export type KubeletConfigReading =
  | {
      readonly kind: 'read';
      /** The files merged, main file first, then the drop-ins in the kubelet's order. */
      readonly files: readonly string[];
      /** featureGates.KubeletEnsureSecretPulledImages, when a file sets it. */
      readonly featureGate: boolean | undefined;
      /** imagePullCredentialsVerificationPolicy, when a file sets it. */
      readonly policy: VerificationPolicy | undefined;
      /** preloadedImagesVerificationAllowlist as written (validated as the kubelet does). */
      readonly allowlist: readonly string[];
    }
  | {
      readonly kind: 'unknown';
      readonly files: readonly string[];
      /** A sentence: which file, and what is wrong with it. */
      readonly reason: string;
    }
  /** --kubelet-config off: the files are not read at all. */
  | { readonly kind: 'off' };

/** The policy in force: one of the kubelet's, the gate off, or not known (with why). */
export type KubeletPolicyState = VerificationPolicy | 'gate-off' | 'unknown';

export interface KubeletPosture {
  readonly policy: KubeletPolicyState;
  /** preloadedImagesVerificationAllowlist; used by the kubelet only under NeverVerifyAllowlistedImages. */
  readonly allowlist: readonly string[];
  /** Why pullwatch believes it (or, for 'unknown', why it cannot tell): a sentence. */
  readonly basis: string;
  /** The configuration files it was read from. */
  readonly files: readonly string[];
  /** The gate and policy were both read from the files, not inferred from records or events. */
  readonly fromConfig: boolean;
}

/** One preloadedImagesVerificationAllowlist entry: an image name, or a prefix ending in `/`. */
export type AllowlistPattern =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'prefix'; readonly prefix: string };

/**
 * An allowlist entry as the kubelet validates it (pkg/kubelet/images/pullmanager
 * image_pull_policies.go, getAllowlistImagePattern): no surrounding spaces; the only wildcard is
 * a trailing `/*`, which keeps the `/` (so `registry.example/*` does not cover
 * `registry.example.evil/x`) and needs more than the `/`; any other entry is a fully normalized
 * image name without tag or digest.
 */
export function parseAllowlistPattern(pattern: string): Result<AllowlistPattern, string> {
  if (pattern !== pattern.trim())
    return err(`"${pattern}": leading or trailing spaces are not allowed`);
  const wildcard = pattern.endsWith('/*');
  const trimmed = wildcard ? pattern.slice(0, -1) : pattern;
  if (trimmed === '') return err(`"${pattern}" is too short`);
  if (trimmed.includes('*')) return err(`"${pattern}": the only wildcard allowed is a trailing /*`);
  if (wildcard) {
    return trimmed.length === 1
      ? err(`"${pattern}": at least a registry host is required before /*`)
      : ok({ kind: 'prefix', prefix: trimmed });
  }
  const parsed = parseImageReference(trimmed);
  if (!parsed.ok) return err(`"${pattern}" is not an image name: ${parsed.error.message}`);
  if (parsed.value.name !== trimmed)
    return err(
      `"${pattern}" is not a fully normalized image name without tag or digest (the kubelet wants ${parsed.value.name})`,
    );
  return ok({ kind: 'name', name: trimmed });
}

/** The entry of the allowlist that covers an image name (`registry/repository`), if any. */
export function allowlistEntryFor(allowlist: readonly string[], name: string): string | undefined {
  return allowlist.find((entry) => {
    const pattern = parseAllowlistPattern(entry);
    if (!pattern.ok) return false;
    return pattern.value.kind === 'name'
      ? pattern.value.name === name
      : name.startsWith(pattern.value.prefix);
  });
}

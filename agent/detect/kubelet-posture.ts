// What the node's kubelet enforces (KEP-2535), from its configuration files and what its
// records and events show, and what that means for one cached image. Mirrors
// pkg/kubelet/images/pullmanager image_pull_policies.go (which images need verification) and
// pull_manager.go MustAttemptImagePull (an image "pulled by the kubelet" has a pulled record).
import type { InventoryEntry } from '../image/inventory.ts';
import type { NodeSnapshot } from '../model/snapshot.ts';
import {
  allowlistEntryFor,
  ENSURE_SECRET_PULLED_IMAGES_GATE,
  type KubeletConfigReading,
  type KubeletPosture,
  type VerificationPolicy,
} from '../model/kubelet-config.ts';

const DEFAULT_POLICY: VerificationPolicy = 'NeverVerifyPreloadedImages';

/**
 * @param evidence what the kubelet visibly does: 'on' when it writes KEP-2535 records or says
 * "can be accessed by the pod", 'off' when it says "already present on machine" alone.
 */
export function kubeletPostureOf(
  reading: KubeletConfigReading,
  evidence: 'on' | 'off' | 'unknown',
): KubeletPosture {
  if (reading.kind === 'off')
    return unknown('reading the kubelet configuration is turned off (--kubelet-config off)', []);
  if (reading.kind === 'unknown') return unknown(reading.reason, reading.files);
  const { files, featureGate, policy } = reading;
  const where = files.join(', ');
  let gateBasis: string;
  if (featureGate === false)
    return {
      policy: 'gate-off',
      allowlist: reading.allowlist,
      basis: `featureGates.${ENSURE_SECRET_PULLED_IMAGES_GATE} is false in ${where}: the kubelet verifies no cached image`,
      files,
      fromConfig: true,
    };
  if (featureGate === true) gateBasis = `the gate is on in ${where}`;
  else if (evidence === 'on')
    gateBasis = `the gate is not set in ${where}, and the kubelet visibly verifies (its KEP-2535 records or "can be accessed by the pod" events)`;
  else if (evidence === 'off')
    return {
      policy: 'gate-off',
      allowlist: reading.allowlist,
      basis: `the gate is not set in ${where}, and the kubelet's events say "already present on machine" without "can be accessed by the pod": it does not verify`,
      files,
      fromConfig: false,
    };
  else
    return unknown(
      `${ENSURE_SECRET_PULLED_IMAGES_GATE} is not set in ${where} and its default depends on the kubelet version (on from 1.35); no KEP-2535 record or event shows it on`,
      files,
    );
  return {
    policy: policy ?? DEFAULT_POLICY,
    allowlist: reading.allowlist,
    basis:
      policy === undefined
        ? `${gateBasis}; imagePullCredentialsVerificationPolicy is not set, so the kubelet's default ${DEFAULT_POLICY} applies`
        : `${gateBasis}; imagePullCredentialsVerificationPolicy is ${policy}`,
    files,
    fromConfig: featureGate === true,
  };
}

function unknown(reason: string, files: readonly string[]): KubeletPosture {
  return { policy: 'unknown', allowlist: [], basis: reason, files, fromConfig: false };
}

/** Whether the kubelet checks a pod's own credentials before it starts this cached image. */
export type KubeletCheck =
  | { readonly kind: 'verified' }
  | { readonly kind: 'exempt-preloaded' }
  | { readonly kind: 'exempt-allowlisted'; readonly entry: string; readonly name: string }
  | { readonly kind: 'not-verifying' }
  | { readonly kind: 'unknown' };

/**
 * @param names the image's names (`registry/repository`), any of which a pod may name.
 * @param pulledByKubelet whether the kubelet holds a pulled record for it; undefined when its
 * records cannot be read.
 */
export function kubeletCheckOf(
  posture: KubeletPosture,
  names: readonly string[],
  pulledByKubelet: boolean | undefined,
): KubeletCheck {
  switch (posture.policy) {
    case 'unknown':
      return { kind: 'unknown' };
    case 'gate-off':
    case 'NeverVerify':
      return { kind: 'not-verifying' };
    // The allowlist is read only under NeverVerifyAllowlistedImages
    // (NewImagePullCredentialVerificationPolicy ignores it otherwise).
    case 'AlwaysVerify':
      return { kind: 'verified' };
    case 'NeverVerifyPreloadedImages':
      if (pulledByKubelet === undefined) return { kind: 'unknown' };
      return pulledByKubelet ? { kind: 'verified' } : { kind: 'exempt-preloaded' };
    case 'NeverVerifyAllowlistedImages':
      for (const name of names) {
        const entry = allowlistEntryFor(posture.allowlist, name);
        if (entry !== undefined) return { kind: 'exempt-allowlisted', entry, name };
      }
      return { kind: 'verified' };
  }
}

/** Which mechanism keeps a tenant from starting another tenant's cached private image here. */
export const PROTECTION_MECHANISMS = [
  'always-pull-images',
  'kubelet-always-verify',
  'kubelet-partial',
  'none',
  'unknown',
] as const;
export type ProtectionMechanism = (typeof PROTECTION_MECHANISMS)[number];

/**
 * The strongest mechanism in force: every container pulling (AlwaysPullImages or a policy
 * equivalent), else the kubelet verifying every image (AlwaysVerify), else verifying only some
 * (preloaded or allow-listed images exempt), else none, when both are known to be off.
 */
export function protectedByOf(
  alwaysPullImages: 'enforced' | 'not-enforced' | 'unknown',
  posture: KubeletPosture,
): ProtectionMechanism {
  if (alwaysPullImages === 'enforced') return 'always-pull-images';
  switch (posture.policy) {
    case 'AlwaysVerify':
      return 'kubelet-always-verify';
    case 'NeverVerifyPreloadedImages':
    case 'NeverVerifyAllowlistedImages':
      return 'kubelet-partial';
    case 'gate-off':
    case 'NeverVerify':
      return alwaysPullImages === 'not-enforced' ? 'none' : 'unknown';
    case 'unknown':
      return 'unknown';
  }
}

/** kubeletCheckOf for a cached image of the snapshot, with whether the kubelet pulled it. */
export function kubeletCheckOfEntry(
  snapshot: NodeSnapshot,
  entry: InventoryEntry,
): { readonly check: KubeletCheck; readonly pulledByKubelet: boolean | undefined } {
  const pulledByKubelet = snapshot.pulledByKubelet?.has(entry.id);
  return {
    check: kubeletCheckOf(
      snapshot.kubeletPosture,
      entry.references.map((r) => r.name),
      pulledByKubelet,
    ),
    pulledByKubelet,
  };
}

/**
 * The kubelet's check is on, yet it lets any pod start this image from the cache because the
 * kubelet never pulled it (no pulled record): exempt as preloaded, or by the allowlist.
 */
export function isPreloadedExemption(c: {
  readonly check: KubeletCheck;
  readonly pulledByKubelet: boolean | undefined;
}): boolean {
  return (
    c.check.kind === 'exempt-preloaded' ||
    (c.check.kind === 'exempt-allowlisted' && c.pulledByKubelet === false)
  );
}

import { createHash } from 'node:crypto';
import type { DetectionMemory } from './memory.ts';
import type { PullPolicy, TenantId } from '../model/snapshot.ts';

export const RULES = [
  'unauthorized-cached-image-use',
  'private-image-exposed',
  'preloaded-private-image-exposed',
  'always-pull-images-not-enforced',
] as const;
export type Rule = (typeof RULES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * confirmed: the kubelet said the image was already present, or it was cached before the pod
 * existed; likely: the image is cached and the policy lets the kubelet use it; possible: the
 * tenant holds a matching credential that could not be checked.
 */
export const CONFIDENCES = ['possible', 'likely', 'confirmed'] as const;
export type Confidence = (typeof CONFIDENCES)[number];

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Who brought a private image onto the node. Never a credential, only where it lives. */
export interface OwnerRef {
  readonly tenant: TenantId;
  readonly namespace: string;
  readonly secret: string | null;
}

/** What every finding has. */
interface FindingBase {
  readonly id: string;
  readonly severity: Severity;
  readonly confidence: Confidence;
  readonly node: string;
  /** Sentences a security engineer can act on. */
  readonly evidence: readonly string[];
  readonly remediation: string;
}

/** The cached image a finding is about. */
interface ImageFacts {
  /** The image as the pod wrote it, or the image's first cached name for image-level findings. */
  readonly image: string;
  readonly imageId: string;
  readonly repoDigest: string | null;
  readonly registry: string;
  readonly repository: string;
  readonly owners: readonly OwnerRef[];
}

/** The container a finding is about. */
interface ContainerFacts {
  readonly tenant: TenantId;
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string;
  readonly container: string;
  readonly containerKind: 'init' | 'regular' | 'ephemeral';
  readonly pullPolicy: PullPolicy;
}

/** A tenant's container runs another tenant's private image from the cache. */
export interface UnauthorizedCachedImageUse extends FindingBase, ImageFacts, ContainerFacts {
  readonly rule: 'unauthorized-cached-image-use';
  /**
   * Tenants whose pods ran the image, found cached at the agent's start, with a credential that
   * matches the registry but that nobody could verify reads it. Never trusted as owners.
   */
  readonly possibleOwners: readonly OwnerRef[];
}

/** A private image is cached where tenants without a right to it run pods that may start it. */
export interface PrivateImageExposed extends FindingBase, ImageFacts {
  readonly rule: 'private-image-exposed';
  readonly exposedTenants: readonly TenantId[];
}

/**
 * A private image the kubelet never pulled (no KEP-2535 pulled record: imported, pre-pulled or
 * baked into the node) sits in the cache of a node whose kubelet verifies credentials, but
 * exempts it (NeverVerifyPreloadedImages, or its allowlist): tenants without a right to it run
 * pods that may start it.
 */
export interface PreloadedPrivateImageExposed extends FindingBase, ImageFacts {
  readonly rule: 'preloaded-private-image-exposed';
  readonly exposedTenants: readonly TenantId[];
  readonly kubeletPolicy: 'NeverVerifyPreloadedImages' | 'NeverVerifyAllowlistedImages';
  /** The preloadedImagesVerificationAllowlist entry that exempts it, under the allowlist policy. */
  readonly allowlistEntry: string | null;
}

/** The node as a whole: pods run with a pull policy other than Always. */
export interface AlwaysPullImagesNotEnforced extends FindingBase {
  readonly rule: 'always-pull-images-not-enforced';
  readonly containersByPolicy: Readonly<Record<PullPolicy, number>>;
}

/** What detect() returns: a finding without the times, which the findings store keeps. */
export type DetectedFinding =
  | UnauthorizedCachedImageUse
  | PrivateImageExposed
  | PreloadedPrivateImageExposed
  | AlwaysPullImagesNotEnforced;

export type Finding = DetectedFinding & { readonly firstSeen: string; readonly lastSeen: string };

const hashId = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 20);

/**
 * Stable across agent restarts: a hash of what identifies the situation, not of when. Every
 * reconcile names every finding again and hashing is the costly part, so a memory keeps them.
 */
export function findingId(
  memory: DetectionMemory | undefined,
  rule: Rule,
  ...parts: readonly string[]
): string {
  const key = [rule, ...parts].join('\0');
  return memory === undefined ? hashId(key) : memory.findingIds.get(key, hashId);
}

/** Where a finding sits, with null for what its rule has none of (the API names every field). */
export interface FindingPlace {
  readonly tenant: TenantId | null;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly container: string | null;
  readonly pullPolicy: PullPolicy | null;
  readonly image: string | null;
  readonly imageId: string | null;
  readonly repoDigest: string | null;
  readonly registry: string | null;
  readonly repository: string | null;
  readonly owners: readonly OwnerRef[];
}

const NO_IMAGE = {
  image: null,
  imageId: null,
  repoDigest: null,
  registry: null,
  repository: null,
  owners: [],
} as const;
const NO_CONTAINER = {
  tenant: null,
  namespace: null,
  pod: null,
  container: null,
  pullPolicy: null,
} as const;

export function placeOf(finding: DetectedFinding): FindingPlace {
  switch (finding.rule) {
    case 'unauthorized-cached-image-use':
      return finding;
    case 'private-image-exposed':
    case 'preloaded-private-image-exposed':
      return { ...NO_CONTAINER, ...imageFactsOf(finding) };
    case 'always-pull-images-not-enforced':
      return { ...NO_CONTAINER, ...NO_IMAGE };
  }
}

function imageFactsOf(f: ImageFacts): ImageFacts {
  const { image, imageId, repoDigest, registry, repository, owners } = f;
  return { image, imageId, repoDigest, registry, repository, owners };
}

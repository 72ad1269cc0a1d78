import { createHash } from 'node:crypto';
import type { DetectionMemory } from './memory.ts';
import type { PullPolicy, TenantId } from '../model/snapshot.ts';

export const RULES = [
  'unauthorized-cached-image-use',
  'private-image-exposed',
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

interface FindingFields {
  readonly id: string;
  readonly severity: Severity;
  readonly confidence: Confidence;
  readonly node: string;
  readonly tenant: TenantId | null;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly container: string | null;
  /** The image as the pod wrote it, or the image's first cached name for node-level findings. */
  readonly image: string | null;
  readonly imageId: string | null;
  readonly repoDigest: string | null;
  readonly registry: string | null;
  readonly repository: string | null;
  readonly pullPolicy: PullPolicy | null;
  readonly owners: readonly OwnerRef[];
  /** Sentences a security engineer can act on. */
  readonly evidence: readonly string[];
  readonly remediation: string;
}

export interface UnauthorizedCachedImageUse extends FindingFields {
  readonly rule: 'unauthorized-cached-image-use';
  /**
   * Tenants whose pods ran the image, found cached at the agent's start, with a credential that
   * matches the registry but that nobody could verify reads it. Never trusted as owners.
   */
  readonly possibleOwners: readonly OwnerRef[];
  readonly podUid: string;
  readonly containerKind: 'init' | 'regular' | 'ephemeral';
}

export interface PrivateImageExposed extends FindingFields {
  readonly rule: 'private-image-exposed';
  readonly exposedTenants: readonly TenantId[];
}

export interface AlwaysPullImagesNotEnforced extends FindingFields {
  readonly rule: 'always-pull-images-not-enforced';
  readonly containersByPolicy: Readonly<Record<PullPolicy, number>>;
}

/** What detect() returns: a finding without the times, which the findings store keeps. */
export type DetectedFinding =
  UnauthorizedCachedImageUse | PrivateImageExposed | AlwaysPullImagesNotEnforced;

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

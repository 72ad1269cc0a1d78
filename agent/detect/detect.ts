// The detection core: a pure function from one node snapshot to its findings.
import type { DetectedFinding } from './finding.ts';
import { alwaysPullImagesNotEnforced } from './rules/always-pull-not-enforced.ts';
import { privateImageExposed } from './rules/private-image-exposed.ts';
import { preloadedPrivateImageExposed } from './rules/preloaded-private-image-exposed.ts';
import { unauthorizedCachedImageUse } from './rules/unauthorized-use.ts';
import { DetectionMemory } from './memory.ts';
import type { NodeSnapshot } from '../model/snapshot.ts';

type RuleFunction = (snapshot: NodeSnapshot, memory: DetectionMemory) => readonly DetectedFinding[];

const rules: readonly RuleFunction[] = [
  unauthorizedCachedImageUse,
  privateImageExposed,
  preloadedPrivateImageExposed,
  alwaysPullImagesNotEnforced,
];

/**
 * The findings of one snapshot. `memory` is what the loop lets detection remember between
 * snapshots (see DetectionMemory); the answer is the same with a fresh one, only slower.
 */
export function detect(
  snapshot: NodeSnapshot,
  memory: DetectionMemory = new DetectionMemory(),
): DetectedFinding[] {
  const findings = rules.flatMap((rule) => rule(snapshot, memory));
  memory.fitFindings(findings.length);
  return findings;
}

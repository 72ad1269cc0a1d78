// The detection core: a pure function from one node snapshot to its findings.
import type { DetectedFinding } from './finding.ts';
import { alwaysPullImagesNotEnforced } from './rules/always-pull-not-enforced.ts';
import { privateImageExposed } from './rules/private-image-exposed.ts';
import { unauthorizedCachedImageUse } from './rules/unauthorized-use.ts';
import type { NodeSnapshot } from './snapshot.ts';

const rules: readonly ((snapshot: NodeSnapshot) => readonly DetectedFinding[])[] = [
  unauthorizedCachedImageUse,
  privateImageExposed,
  alwaysPullImagesNotEnforced,
];

export function detect(snapshot: NodeSnapshot): DetectedFinding[] {
  return rules.flatMap((rule) => rule(snapshot));
}

import { parseImageReference } from '../image/reference.ts';
import type { PullPolicy } from './snapshot.ts';

/**
 * Kubernetes' defaulting of an unset imagePullPolicy (pkg/apis/core/v1/defaults.go):
 * Always when the tag is `latest` or absent and there is no digest, else IfNotPresent.
 * An explicit policy is kept; an unknown value is treated as IfNotPresent, the kubelet's
 * cache-using behaviour, so that nothing risky is hidden.
 */
export function effectivePullPolicy(image: string, declared: string | undefined): PullPolicy {
  if (declared === 'Always' || declared === 'IfNotPresent' || declared === 'Never') return declared;
  if (declared !== undefined && declared !== '') return 'IfNotPresent';
  const reference = parseImageReference(image);
  if (!reference.ok) return 'Always';
  const { tag, digest } = reference.value;
  if (digest !== undefined) return 'IfNotPresent';
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

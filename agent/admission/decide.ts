// The admission decision for one pod, from answers already gathered: pure, so every branch is
// a named case in decide.test.ts. The webhook (agent/controller/admission-webhook.ts) asks the
// questions (imagesToProve), gathers the answers (registry, pull secrets) and sends the result.
//
// A container whose effective pull policy is Always is never asked about: the kubelet pulls it
// with the pod's own credentials. IfNotPresent and Never start from the node's cache, where
// another tenant's copy may be: unless the pod's own credentials prove it may read the image,
// IfNotPresent becomes Always (the kubelet then pulls, and a tenant without access gets
// ErrImagePull) and Never is refused (changing it silently would surprise its owner).
import { isAllowlisted, type ImageAllowlist } from './allowlist.ts';
import { CONTAINER_LISTS, type AdmittedContainer, type AdmittedPod } from './admitted-pod.ts';
import type { PreventionMode } from './prevention-mode.ts';

/** What the registry and the pod's pull secrets say about one image. */
export type Proof =
  /**
   * Anyone may read it, the kubelet's own credentials reach it, a pod secret reads it, or it is
   * no image name at all (the kubelet fails it with InvalidImageName and starts nothing).
   */
  | {
      readonly kind: 'proven';
      readonly by: 'public' | 'node-credentials' | 'pod-secret' | 'invalid-reference';
    }
  /** Private, and none of the pod's pull secrets reads it (or the pod has none that match). */
  | { readonly kind: 'not-proven' }
  /** The registry could not answer (down, timeout, rate limit, 5xx): nothing is known. */
  | { readonly kind: 'registry-error' };

export type OnRegistryError = 'always' | 'allow';

export const FORCED_ANNOTATION = 'pullwatch.dev/forced-always-pull';

/** RFC 6902 operations the decision emits; `add` sets a member whether or not it exists. */
export interface JsonPatchAdd {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

export type Outcome = 'exempt' | 'allowed' | 'forced' | 'warned' | 'denied';

export interface Decision {
  readonly outcome: Outcome;
  readonly allowed: boolean;
  /** For the requester (kubectl prints them): about its own pod only. */
  readonly warnings: readonly string[];
  /** Kept in the API server's audit log, under the webhook's name. */
  readonly auditAnnotations: Readonly<Record<string, string>>;
  /** Empty unless `forced`. */
  readonly patch: readonly JsonPatchAdd[];
  /** Why a pod is denied, and what to do: `status.message` of the answer. */
  readonly message?: string;
  /** The containers whose pull policy is (or in warn mode would be) set to Always. */
  readonly forced: readonly string[];
  /** Images the registry could not answer about. */
  readonly registryErrors: number;
}

/** The containers whose images need an answer: not Always, not allow-listed. */
export function imagesToProve(
  pod: AdmittedPod,
  allowlist: ImageAllowlist,
): readonly AdmittedContainer[] {
  return pod.containers.filter(
    (c) => c.pullPolicy !== 'Always' && !isAllowlisted(allowlist, c.image),
  );
}

export interface DecisionInput {
  readonly pod: AdmittedPod;
  readonly mode: PreventionMode;
  readonly onRegistryError: OnRegistryError;
  readonly allowlist: ImageAllowlist;
  /** Key: the image as written in the pod. Missing: treated as a registry error. */
  readonly proofs: ReadonlyMap<string, Proof>;
}

const quote = (text: string): string => JSON.stringify(text);

/** Escapes a JSON Pointer token (RFC 6901): `~` as `~0`, `/` as `~1`. */
function pointerToken(text: string): string {
  return text.replaceAll('~', '~0').replaceAll('/', '~1');
}

function why(proof: Proof, onRegistryError: OnRegistryError): string {
  return proof.kind === 'registry-error'
    ? `the registry could not be asked whether this pod's pull secrets read it (--on-registry-error=${onRegistryError})`
    : "it is private and none of this pod's imagePullSecrets is known to read it";
}

const NOTHING: Omit<Decision, 'outcome'> = {
  allowed: true,
  warnings: [],
  auditAnnotations: {},
  patch: [],
  forced: [],
  registryErrors: 0,
};

export function decide(input: DecisionInput): Decision {
  const { pod, mode, onRegistryError } = input;
  if (mode === 'off') return { ...NOTHING, outcome: 'exempt' };
  const toProve = imagesToProve(pod, input.allowlist);

  const force: AdmittedContainer[] = [];
  const deny: AdmittedContainer[] = [];
  const reasons = new Map<string, string>();
  const warnings: string[] = [];
  let registryErrors = 0;
  for (const container of toProve) {
    const proof = input.proofs.get(container.image) ?? { kind: 'registry-error' };
    if (proof.kind === 'registry-error') registryErrors += 1;
    if (proof.kind === 'proven') continue;
    if (proof.kind === 'registry-error' && onRegistryError === 'allow') {
      warnings.push(
        `pullwatch: could not verify that this pod may read image ${quote(container.image)} of container ${quote(container.name)}: the registry did not answer; admitted unchanged (--on-registry-error=allow).`,
      );
      continue;
    }
    reasons.set(container.name, why(proof, onRegistryError));
    (container.pullPolicy === 'Never' ? deny : force).push(container);
  }

  if (force.length === 0 && deny.length === 0)
    return { ...NOTHING, outcome: 'allowed', warnings, registryErrors };

  const forcedNames = force.map((c) => c.name);
  const deniedNames = deny.map((c) => c.name);
  const audit: Record<string, string> = {};
  if (forcedNames.length > 0) audit['forced-always-pull'] = forcedNames.join(',');
  if (deniedNames.length > 0) audit['denied-never-pull'] = deniedNames.join(',');

  if (mode === 'warn') {
    audit['mode'] = 'warn';
    for (const c of force)
      warnings.push(
        `pullwatch (warn mode): container ${quote(c.name)} would get imagePullPolicy Always in enforce mode: image ${quote(c.image)} may be started from the node's cache although ${reasons.get(c.name) ?? ''}.`,
      );
    for (const c of deny)
      warnings.push(
        `pullwatch (warn mode): this pod would be denied in enforce mode: container ${quote(c.name)} has imagePullPolicy Never with image ${quote(c.image)}, and ${reasons.get(c.name) ?? ''}.`,
      );
    return {
      ...NOTHING,
      outcome: 'warned',
      warnings,
      auditAnnotations: audit,
      forced: forcedNames,
      registryErrors,
    };
  }

  if (deny.length > 0) {
    const first = deny[0] as AdmittedContainer;
    const also =
      deny.length > 1
        ? ` (and ${deny.length - 1} more: ${deniedNames.slice(1).map(quote).join(', ')})`
        : '';
    return {
      ...NOTHING,
      outcome: 'denied',
      allowed: false,
      auditAnnotations: audit,
      registryErrors,
      message:
        `pullwatch: container ${quote(first.name)}${also} has imagePullPolicy Never with image ${quote(first.image)}, and ${reasons.get(first.name) ?? ''}: ` +
        "it would start whatever copy is cached on the node, pulled with someone else's credentials. " +
        'Add an imagePullSecret that can read the image, or use imagePullPolicy IfNotPresent or Always, ' +
        'or ask your cluster admin to allow-list the image (--prevention-allowlist).',
    };
  }

  const patch: JsonPatchAdd[] = force.map((c) => ({
    op: 'add',
    path: `/spec/${CONTAINER_LISTS[c.kind]}/${c.index}/imagePullPolicy`,
    value: 'Always',
  }));
  // The subresource keeps only spec.ephemeralContainers: an annotation would be dropped.
  if (pod.scope === 'pod') {
    const previous = pod.annotations?.[FORCED_ANNOTATION];
    const names = new Set([
      ...(previous === undefined || previous === '' ? [] : previous.split(',')),
      ...forcedNames,
    ]);
    const value = [...names].join(',');
    patch.push(
      pod.annotations === undefined
        ? { op: 'add', path: '/metadata/annotations', value: { [FORCED_ANNOTATION]: value } }
        : { op: 'add', path: `/metadata/annotations/${pointerToken(FORCED_ANNOTATION)}`, value },
    );
  }
  for (const c of force)
    warnings.push(
      `pullwatch: container ${quote(c.name)} now has imagePullPolicy Always: image ${quote(c.image)} would otherwise start from the node's cache, and ${reasons.get(c.name) ?? ''}. The kubelet pulls it with this pod's own credentials.`,
    );
  return {
    ...NOTHING,
    outcome: 'forced',
    warnings,
    auditAnnotations: audit,
    patch,
    forced: forcedNames,
    registryErrors,
  };
}

// The part of an admitted Pod the decision reads, parsed from the AdmissionReview's raw
// objects: the containers this request brings (every one on CREATE; on the
// `pods/ephemeralcontainers` UPDATE of `kubectl debug`, only the ephemeral containers that
// were not there before), their effective pull policies and the pod's pull secret names.
import { effectivePullPolicy } from '../model/pull-policy.ts';
import type { ContainerKind, PullPolicy } from '../model/snapshot.ts';
import { err, ok, type Result } from '../result.ts';

export interface AdmittedContainer {
  readonly kind: ContainerKind;
  /** Position in its list (spec.initContainers, spec.containers, spec.ephemeralContainers). */
  readonly index: number;
  readonly name: string;
  readonly image: string;
  /** With Kubernetes' defaulting (pkg/apis/core/v1/defaults.go), as the kubelet will see it. */
  readonly pullPolicy: PullPolicy;
}

/**
 * `pod`: a Pod CREATE, whose metadata the webhook may change. `ephemeral-containers`: the
 * subresource UPDATE, where the API server keeps only spec.ephemeralContainers of the new
 * object (pkg/registry/core/pod/strategy.go, ephemeralContainersStrategy), so a patch may
 * change nothing else.
 */
export type AdmissionScope = 'pod' | 'ephemeral-containers';

export interface AdmittedPod {
  readonly scope: AdmissionScope;
  readonly namespace: string;
  /** spec.imagePullSecrets: the service account's are copied in before webhooks run. */
  readonly pullSecretNames: readonly string[];
  /** metadata.annotations, undefined when the pod has none (a patch must add the map). */
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly containers: readonly AdmittedContainer[];
}

export const CONTAINER_LISTS: Readonly<Record<ContainerKind, string>> = {
  init: 'initContainers',
  regular: 'containers',
  ephemeral: 'ephemeralContainers',
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function containersOf(
  spec: Record<string, unknown>,
  kind: ContainerKind,
): Result<AdmittedContainer[], string> {
  const list = spec[CONTAINER_LISTS[kind]];
  if (list === undefined || list === null) return ok([]);
  if (!Array.isArray(list)) return err(`spec.${CONTAINER_LISTS[kind]} is not a list`);
  const containers: AdmittedContainer[] = [];
  for (const [index, item] of (list as unknown[]).entries()) {
    const where = `spec.${CONTAINER_LISTS[kind]}[${index}]`;
    if (!isRecord(item)) return err(`${where} is not an object`);
    const { name, image, imagePullPolicy } = item;
    if (typeof name !== 'string' || name === '') return err(`${where}.name is missing`);
    // The API server refuses a container without an image after admission; nothing to decide.
    if (typeof image !== 'string') return err(`${where}.image is missing`);
    if (imagePullPolicy !== undefined && typeof imagePullPolicy !== 'string')
      return err(`${where}.imagePullPolicy is not a string`);
    containers.push({
      kind,
      index,
      name,
      image,
      pullPolicy: effectivePullPolicy(image, imagePullPolicy),
    });
  }
  return ok(containers);
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const map: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string') map[key] = v;
  return map;
}

export interface PodAdmission {
  readonly scope: AdmissionScope;
  /** request.namespace, which names the pod's namespace even when the object omits it. */
  readonly namespace: string;
  readonly object: unknown;
  /** The pod before an ephemeral-containers UPDATE. */
  readonly oldObject?: unknown;
}

/** Reads what the decision needs; an error names the field, never a value. */
export function readAdmittedPod(admission: PodAdmission): Result<AdmittedPod, string> {
  const { object } = admission;
  if (!isRecord(object)) return err('request.object is not a Pod');
  const spec = object['spec'];
  if (!isRecord(spec)) return err('request.object.spec is missing');
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};

  const secrets = spec['imagePullSecrets'];
  const pullSecretNames: string[] = [];
  if (Array.isArray(secrets))
    for (const s of secrets as unknown[])
      if (isRecord(s) && typeof s['name'] === 'string' && s['name'] !== '')
        pullSecretNames.push(s['name']);

  const kinds: readonly ContainerKind[] =
    admission.scope === 'pod' ? ['init', 'regular', 'ephemeral'] : ['ephemeral'];
  const containers: AdmittedContainer[] = [];
  for (const kind of kinds) {
    const read = containersOf(spec, kind);
    if (!read.ok) return read;
    containers.push(...read.value);
  }

  let admitted = containers;
  if (admission.scope === 'ephemeral-containers') {
    // Ephemeral containers cannot be changed or removed once added: only new ones are asked.
    const old = admission.oldObject;
    const oldSpec = isRecord(old) && isRecord(old['spec']) ? old['spec'] : {};
    const before = containersOf(oldSpec, 'ephemeral');
    const known = new Set(before.ok ? before.value.map((c) => c.name) : []);
    admitted = containers.filter((c) => !known.has(c.name));
  }
  return ok({
    scope: admission.scope,
    namespace: admission.namespace,
    pullSecretNames,
    annotations: stringMap(metadata['annotations']),
    containers: admitted,
  });
}

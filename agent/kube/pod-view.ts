// A Pod as the API server sends it (plain JSON from a list or watch, or a client-node model
// with Date fields) reduced to the PodView detection reads. Pure: no I/O, no clock.
import type {
  ContainerKind,
  ContainerRunState,
  PodContainer,
  PodController,
  PodView,
} from '../model/snapshot.ts';
import { err, ok, type Result } from '../result.ts';
import { effectivePullPolicy } from '../model/pull-policy.ts';

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(record: JsonObject, field: string): JsonObject {
  const value = record[field];
  return isObject(value) ? value : {};
}

function stringAt(record: JsonObject, field: string): string | undefined {
  const value = record[field];
  return typeof value === 'string' ? value : undefined;
}

/** RFC 3339 text (JSON) or a Date (client-node's deserialized models) as ms since the epoch. */
export function timestampMs(value: unknown): number | undefined {
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

// The pod spec fields that hold containers, and the status fields that report on them
// (core/v1 PodSpec and PodStatus).
const CONTAINER_FIELDS: readonly {
  readonly kind: ContainerKind;
  readonly spec: string;
  readonly status: string;
}[] = [
  { kind: 'init', spec: 'initContainers', status: 'initContainerStatuses' },
  { kind: 'regular', spec: 'containers', status: 'containerStatuses' },
  { kind: 'ephemeral', spec: 'ephemeralContainers', status: 'ephemeralContainerStatuses' },
];

function runState(status: JsonObject | undefined, podCreatedAt: number): ContainerRunState {
  if (status === undefined) return { kind: 'not-started' };
  const state = objectAt(status, 'state');
  // The kubelet reports exactly one of the three; a status without any is treated as not started.
  if (isObject(state['running'])) {
    // A running container without startedAt does not occur from a real kubelet; the pod's
    // creation is the earliest it can have started.
    const startedAt = timestampMs(state['running']['startedAt']) ?? podCreatedAt;
    return { kind: 'running', startedAt };
  }
  if (isObject(state['terminated'])) {
    const terminated = state['terminated'];
    const exitCode = terminated['exitCode'];
    return {
      kind: 'terminated',
      exitCode: typeof exitCode === 'number' && Number.isInteger(exitCode) ? exitCode : -1,
      startedAt: timestampMs(terminated['startedAt']),
    };
  }
  if (isObject(state['waiting'])) {
    return { kind: 'waiting', reason: stringAt(state['waiting'], 'reason') ?? '' };
  }
  return { kind: 'not-started' };
}

function containersOf(
  spec: JsonObject,
  status: JsonObject,
  podCreatedAt: number,
  where: string,
): Result<PodContainer[], string> {
  const containers: PodContainer[] = [];
  for (const { kind, spec: specField, status: statusField } of CONTAINER_FIELDS) {
    const declared = spec[specField];
    if (declared === undefined || declared === null) continue;
    if (!Array.isArray(declared)) return err(`pod ${where}: spec.${specField} is not a list`);
    const statuses = new Map<string, JsonObject>();
    const reported = status[statusField];
    if (Array.isArray(reported)) {
      for (const entry of reported as unknown[]) {
        if (!isObject(entry)) continue;
        const name = stringAt(entry, 'name');
        if (name !== undefined) statuses.set(name, entry);
      }
    }
    for (const [index, entry] of (declared as unknown[]).entries()) {
      if (!isObject(entry))
        return err(`pod ${where}: spec.${specField}[${index}] is not an object`);
      const name = stringAt(entry, 'name');
      if (name === undefined || name === '') {
        return err(`pod ${where}: spec.${specField}[${index}] has no name`);
      }
      const image = stringAt(entry, 'image');
      if (image === undefined || image === '') {
        return err(`pod ${where}: container ${name} has no image`);
      }
      const containerStatus = statuses.get(name);
      const imageId = containerStatus ? stringAt(containerStatus, 'imageID') : undefined;
      containers.push({
        kind,
        name,
        image,
        pullPolicy: effectivePullPolicy(image, stringAt(entry, 'imagePullPolicy')),
        state: runState(containerStatus, podCreatedAt),
        statusImageId: imageId === '' ? undefined : imageId,
      });
    }
  }
  return ok(containers);
}

function pullSecretNamesOf(spec: JsonObject): string[] {
  const references = spec['imagePullSecrets'];
  if (!Array.isArray(references)) return [];
  const names: string[] = [];
  for (const reference of references as unknown[]) {
    const name = isObject(reference) ? stringAt(reference, 'name') : undefined;
    // The kubelet skips empty names and looks each secret up once.
    if (name !== undefined && name !== '' && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The pod's managing controller: the ownerReference marked `controller: true`, of which the
 * API server allows at most one (ValidateOwnerReferences); one without its four fields is
 * ignored, as the garbage collector could not follow it either.
 */
function controllerOf(metadata: JsonObject): PodController | undefined {
  const references = metadata['ownerReferences'];
  if (!Array.isArray(references)) return undefined;
  for (const reference of references as unknown[]) {
    if (!isObject(reference) || reference['controller'] !== true) continue;
    const apiVersion = stringAt(reference, 'apiVersion');
    const kind = stringAt(reference, 'kind');
    const name = stringAt(reference, 'name');
    const uid = stringAt(reference, 'uid');
    if (!apiVersion || !kind || !name || !uid) return undefined;
    return { apiVersion, kind, name, uid };
  }
  return undefined;
}

/**
 * The PodView of a Pod object, or why it cannot be one (the message names the pod when its
 * namespace and name are known). Needs metadata.uid, namespace, name, creationTimestamp and a
 * spec whose containers have names and images; everything else is read leniently.
 */
export function podViewFromObject(pod: unknown): Result<PodView, string> {
  if (!isObject(pod)) return err('the pod is not a JSON object');
  const metadata = objectAt(pod, 'metadata');
  const namespace = stringAt(metadata, 'namespace') ?? '';
  const name = stringAt(metadata, 'name') ?? '';
  const where = `${namespace || '?'}/${name || '?'}`;
  if (namespace === '' || name === '') return err(`pod ${where} has no namespace or name`);
  const uid = stringAt(metadata, 'uid') ?? '';
  if (uid === '') return err(`pod ${where} has no uid`);
  const createdAt = timestampMs(metadata['creationTimestamp']);
  if (createdAt === undefined) return err(`pod ${where} has no valid creationTimestamp`);
  if (!isObject(pod['spec'])) return err(`pod ${where} has no spec`);
  const spec = pod['spec'];
  const status = objectAt(pod, 'status');

  const containers = containersOf(spec, status, createdAt, where);
  if (!containers.ok) return containers;
  if (!containers.value.some((c) => c.kind === 'regular')) {
    return err(`pod ${where} has no containers`);
  }

  const phase = stringAt(status, 'phase');
  const deleting =
    metadata['deletionTimestamp'] !== undefined && metadata['deletionTimestamp'] !== null;
  const controller = controllerOf(metadata);
  return ok({
    uid,
    namespace,
    name,
    createdAt,
    // spec.serviceAccount is the deprecated alias the API server still fills in.
    serviceAccountName:
      stringAt(spec, 'serviceAccountName') || stringAt(spec, 'serviceAccount') || '',
    pullSecretNames: pullSecretNamesOf(spec),
    containers: containers.value,
    finished: phase === 'Succeeded' || phase === 'Failed' || deleting,
    ...(controller === undefined ? {} : { controller }),
  });
}

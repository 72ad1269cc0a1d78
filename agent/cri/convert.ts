// Raw protobuf objects (proto-loader: camelCase, longs as strings, enums as names)
// become validated domain values here, and nowhere else.
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type {
  ContainerState,
  CriContainer,
  CriContainerStatus,
  CriImage,
  CriPodSandbox,
  ImageFsUsage,
  Listing,
  PodIdentity,
} from './types.ts';

type Raw = Record<string, unknown>;

function isRaw(x: unknown): x is Raw {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function str(x: unknown): string {
  return typeof x === 'string' ? x : '';
}

function strings(x: unknown): string[] {
  return Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string' && v !== '') : [];
}

function labels(x: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRaw(x)) return out;
  for (const [k, v] of Object.entries(x)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** uint64/int64 as sent by proto-loader with `longs: String`; garbage becomes undefined. */
export function parseWireInteger(x: unknown): bigint | undefined {
  if (typeof x === 'string' && /^-?\d{1,20}$/.test(x)) return BigInt(x);
  if (typeof x === 'number' && Number.isSafeInteger(x)) return BigInt(x);
  return undefined;
}

function nonNegative(x: unknown): bigint {
  const n = parseWireInteger(x);
  return n !== undefined && n >= 0n ? n : 0n;
}

function nonEmptyId(raw: Raw, field: string): Result<string, string> {
  const v = raw[field];
  return typeof v === 'string' && v !== '' ? ok(v) : err(`missing ${field}`);
}

export function convertImage(raw: unknown): Result<CriImage, string> {
  if (!isRaw(raw)) return err('not an object');
  const id = nonEmptyId(raw, 'id');
  if (!id.ok) return id;
  return ok({
    id: id.value,
    repoTags: strings(raw.repoTags),
    repoDigests: strings(raw.repoDigests),
    sizeBytes: nonNegative(raw.size),
    pinned: raw.pinned === true,
  });
}

const podLabels = {
  namespace: 'io.kubernetes.pod.namespace',
  name: 'io.kubernetes.pod.name',
  uid: 'io.kubernetes.pod.uid',
} as const;

/** The kubelet labels every sandbox and container with its pod; other clients do not. */
export function podIdentityFromLabels(
  l: Readonly<Record<string, string>>,
): PodIdentity | undefined {
  const namespace = l[podLabels.namespace];
  const name = l[podLabels.name];
  const uid = l[podLabels.uid];
  if (namespace === undefined || name === undefined || uid === undefined) return undefined;
  return { namespace, name, uid };
}

export function convertPodSandbox(raw: unknown): Result<CriPodSandbox, string> {
  if (!isRaw(raw)) return err('not an object');
  const id = nonEmptyId(raw, 'id');
  if (!id.ok) return id;
  const meta = isRaw(raw.metadata) ? raw.metadata : {};
  const l = labels(raw.labels);
  // Metadata is authoritative for sandboxes; labels are the fallback for odd runtimes.
  const fromLabels = podIdentityFromLabels(l);
  const pod: PodIdentity = {
    namespace: str(meta.namespace) || (fromLabels?.namespace ?? ''),
    name: str(meta.name) || (fromLabels?.name ?? ''),
    uid: str(meta.uid) || (fromLabels?.uid ?? ''),
  };
  if (pod.name === '' || pod.namespace === '') return err('sandbox without pod name or namespace');
  return ok({
    id: id.value,
    pod,
    attempt: typeof meta.attempt === 'number' ? meta.attempt : 0,
    state: raw.state === 'SANDBOX_READY' ? 'ready' : 'not-ready',
    createdAtNs: nonNegative(raw.createdAt),
    labels: l,
  });
}

const containerStates: Record<string, ContainerState> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};

function containerState(x: unknown): ContainerState {
  // Own keys only: a name like "toString" must not reach Object.prototype.
  return (
    (typeof x === 'string' && Object.hasOwn(containerStates, x) ? containerStates[x] : undefined) ??
    'unknown'
  );
}

export function convertContainer(raw: unknown): Result<CriContainer, string> {
  if (!isRaw(raw)) return err('not an object');
  const id = nonEmptyId(raw, 'id');
  if (!id.ok) return id;
  const meta = isRaw(raw.metadata) ? raw.metadata : {};
  const image = isRaw(raw.image) ? str(raw.image.image) : '';
  const l = labels(raw.labels);
  return ok({
    id: id.value,
    podSandboxId: str(raw.podSandboxId),
    name: str(meta.name),
    attempt: typeof meta.attempt === 'number' ? meta.attempt : 0,
    image,
    imageRef: str(raw.imageRef),
    state: containerState(raw.state),
    createdAtNs: nonNegative(raw.createdAt),
    labels: l,
    pod: podIdentityFromLabels(l),
  });
}

export function convertContainerStatus(raw: unknown): Result<CriContainerStatus, string> {
  const base = convertContainer(raw);
  if (!base.ok) return base;
  const r = raw as Raw;
  return ok({
    ...base.value,
    startedAtNs: nonNegative(r.startedAt),
    finishedAtNs: nonNegative(r.finishedAt),
    exitCode: typeof r.exitCode === 'number' ? r.exitCode : 0,
    reason: str(r.reason),
    message: str(r.message),
  });
}

export function convertImageFsUsage(raw: unknown): Result<ImageFsUsage, string> {
  if (!isRaw(raw)) return err('not an object');
  const fsId = isRaw(raw.fsId) ? raw.fsId : {};
  const wrapped = (x: unknown): bigint | undefined =>
    isRaw(x) ? parseWireInteger(x.value) : undefined;
  return ok({
    mountpoint: str(fsId.mountpoint),
    usedBytes: wrapped(raw.usedBytes),
    inodesUsed: wrapped(raw.inodesUsed),
    timestampNs: nonNegative(raw.timestamp),
  });
}

/** Converts every element; a bad element is reported, never allowed to hide the good ones. */
export function convertList<T>(
  raw: unknown,
  convert: (item: unknown) => Result<T, string>,
): Listing<T> {
  const items: T[] = [];
  const rejected: { index: number; reason: string }[] = [];
  if (!Array.isArray(raw)) return { items, rejected };
  raw.forEach((item: unknown, index) => {
    const converted = convert(item);
    if (converted.ok) items.push(converted.value);
    else rejected.push({ index, reason: converted.error });
  });
  return { items, rejected };
}

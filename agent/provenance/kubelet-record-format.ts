// The kubelet's KEP-2535 pull records as it writes them under <kubelet root>/image_manager/,
// read without touching the disk: file names and content. The kubelet's own reader and writer
// are pkg/kubelet/images/pullmanager/fs_pullrecords.go; the types are ImagePullIntent and
// ImagePulledRecord in k8s.io/kubelet/config/v1alpha1 (1.33-1.34) and v1beta1 (1.35+).
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/images/pullmanager/fs_pullrecords.go
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ImageId } from '../image/digest.ts';
import type { CredentialHash } from '../credentials/credential-identity.ts';
import { err, ok, type Result } from '../result.ts';

export const KUBELET_RECORD_API_VERSIONS = [
  'kubelet.config.k8s.io/v1alpha1',
  'kubelet.config.k8s.io/v1beta1',
] as const;
export type KubeletRecordApiVersion = (typeof KUBELET_RECORD_API_VERSIONS)[number];

/** Records are a few hundred bytes; anything this big was not written by a kubelet. */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** A pull secret the kubelet used for the pull: coordinates and a hash, never the credential. */
export interface RecordedSecret {
  readonly uid: string | undefined;
  readonly namespace: string;
  readonly name: string;
  /** Undefined when the record holds something other than a hex SHA-256. */
  readonly credentialHash: CredentialHash | undefined;
}

/** A service account whose token a credential provider plugin exchanged for the pull. */
export interface RecordedServiceAccount {
  readonly uid: string | undefined;
  readonly namespace: string;
  readonly name: string;
}

/** ImagePullCredentials: what one image name was pulled with. */
export interface RecordedCredentials {
  readonly kubernetesSecrets: readonly RecordedSecret[];
  readonly kubernetesServiceAccounts: readonly RecordedServiceAccount[];
  /** Node credentials or an anonymous pull: every pod of the node may use the image. */
  readonly nodePodsAccessible: boolean;
}

export interface PulledRecord {
  readonly kind: 'ImagePulledRecord';
  readonly apiVersion: KubeletRecordApiVersion;
  /** ms since epoch. */
  readonly lastUpdatedTime: number;
  /** The image reference the runtime returned for the pull (the CRI image ID in containerd). */
  readonly imageRef: string;
  /**
   * Keyed by the pod's image name without tag or digest, as the kubelet wrote it. Empty means
   * "pulled by the kubelet, verify the credentials next time".
   */
  readonly credentialMapping: ReadonlyMap<string, RecordedCredentials>;
  /** Parts of the record that were skipped because they did not have the expected shape. */
  readonly warnings: readonly string[];
}

export interface PullIntent {
  readonly kind: 'ImagePullIntent';
  readonly apiVersion: KubeletRecordApiVersion;
  /** The image string from the pod spec, as written. */
  readonly image: string;
}

export type KubeletRecord = PulledRecord | PullIntent;

const FILE_PREFIX = 'sha256-';

/** The kubelet's cacheFilename: "sha256-" and the hex SHA-256 of the string. */
export function recordFileName(imageRefOrImage: string): string {
  return FILE_PREFIX + createHash('sha256').update(imageRefOrImage, 'utf8').digest('hex');
}

export function pulledRecordsDir(kubeletRoot: string): string {
  return join(kubeletRoot, 'image_manager', 'pulled');
}

export function pullIntentsDir(kubeletRoot: string): string {
  return join(kubeletRoot, 'image_manager', 'pulling');
}

/** Where the kubelet keeps the pulled record of a cached image (named after the CRI image ID). */
export function recordPathForImageId(kubeletRoot: string, imageId: ImageId): string {
  return join(pulledRecordsDir(kubeletRoot), recordFileName(imageId));
}

/** Where the kubelet keeps its intent to pull an image string from a pod spec. */
export function intentPathForImage(kubeletRoot: string, image: string): string {
  return join(pullIntentsDir(kubeletRoot), recordFileName(image));
}

/**
 * Whether a directory entry is a record file the kubelet would read: it skips other names and
 * its own temporary files (suffix ".tmp").
 */
export function isRecordFileName(name: string): boolean {
  return /^sha256-[0-9a-f]{64}$/.test(name);
}

/** Reads an ImagePulledRecord or ImagePullIntent. Never throws. */
export function parseKubeletRecord(text: string): Result<KubeletRecord, string> {
  const document = parseDocument(text);
  if (!document.ok) return document;
  const { kind, apiVersion, object } = document.value;
  if (kind === 'ImagePulledRecord') return pulledRecordFrom(object, apiVersion);
  if (kind === 'ImagePullIntent') return pullIntentFrom(object, apiVersion);
  return err(`kind ${quote(kind)} is neither ImagePulledRecord nor ImagePullIntent`);
}

/** Reads an ImagePulledRecord; anything else (another kind included) is an error. Never throws. */
export function parsePulledRecord(text: string): Result<PulledRecord, string> {
  const record = parseKubeletRecord(text);
  if (!record.ok) return record;
  return record.value.kind === 'ImagePulledRecord'
    ? ok(record.value)
    : err(`kind ${record.value.kind} is not ImagePulledRecord`);
}

/** Reads an ImagePullIntent; anything else (another kind included) is an error. Never throws. */
export function parsePullIntent(text: string): Result<PullIntent, string> {
  const record = parseKubeletRecord(text);
  if (!record.ok) return record;
  return record.value.kind === 'ImagePullIntent'
    ? ok(record.value)
    : err(`kind ${record.value.kind} is not ImagePullIntent`);
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseDocument(
  text: string,
): Result<{ kind: unknown; apiVersion: KubeletRecordApiVersion; object: JsonObject }, string> {
  // A UTF-16 code unit never takes less than one UTF-8 byte: the cheap test settles most cases.
  if (text.length > MAX_RECORD_BYTES || Buffer.byteLength(text, 'utf8') > MAX_RECORD_BYTES) {
    return err(`the record is larger than ${MAX_RECORD_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return err(
      `the record is not JSON (${error instanceof Error ? error.message : 'parse error'})`,
    );
  }
  if (!isObject(value)) return err('the record is not a JSON object');
  const apiVersion = value['apiVersion'];
  if (!KUBELET_RECORD_API_VERSIONS.some((known) => known === apiVersion)) {
    return err(
      `apiVersion ${quote(apiVersion)} is not one of ${KUBELET_RECORD_API_VERSIONS.join(', ')}`,
    );
  }
  return ok({
    kind: value['kind'],
    apiVersion: apiVersion as KubeletRecordApiVersion,
    object: value,
  });
}

function pullIntentFrom(
  object: JsonObject,
  apiVersion: KubeletRecordApiVersion,
): Result<PullIntent, string> {
  const image = object['image'];
  if (typeof image !== 'string' || image === '') {
    return err('ImagePullIntent has no image');
  }
  return ok({ kind: 'ImagePullIntent', apiVersion, image });
}

function pulledRecordFrom(
  object: JsonObject,
  apiVersion: KubeletRecordApiVersion,
): Result<PulledRecord, string> {
  const imageRef = object['imageRef'];
  if (typeof imageRef !== 'string' || imageRef === '') {
    return err('ImagePulledRecord has no imageRef');
  }
  const lastUpdatedTime = parseMetaTime(object['lastUpdatedTime']);
  if (lastUpdatedTime === undefined) {
    return err(
      `ImagePulledRecord lastUpdatedTime ${quote(object['lastUpdatedTime'])} is not an RFC 3339 time`,
    );
  }
  const rawMapping = object['credentialMapping'];
  // The kubelet omits an empty mapping altogether.
  if (rawMapping !== undefined && rawMapping !== null && !isObject(rawMapping)) {
    return err('ImagePulledRecord credentialMapping is not an object');
  }
  const warnings: string[] = [];
  const credentialMapping = new Map<string, RecordedCredentials>();
  for (const [imageName, value] of Object.entries(rawMapping ?? {})) {
    const credentials = credentialsFrom(imageName, value, warnings);
    if (credentials !== undefined) credentialMapping.set(imageName, credentials);
  }
  return ok({
    kind: 'ImagePulledRecord',
    apiVersion,
    lastUpdatedTime,
    imageRef,
    credentialMapping,
    warnings,
  });
}

function credentialsFrom(
  imageName: string,
  value: unknown,
  warnings: string[],
): RecordedCredentials | undefined {
  const where = `credentialMapping[${quote(imageName)}]`;
  if (!isObject(value)) {
    warnings.push(`${where} is not an object; skipped`);
    return undefined;
  }
  // Early kubelet test data spells the field "kubernetesSecretCoordinates" (the KEP's name).
  const secretsField =
    value['kubernetesSecrets'] !== undefined ? 'kubernetesSecrets' : 'kubernetesSecretCoordinates';
  const kubernetesSecrets = listFrom(value[secretsField], `${where}.${secretsField}`, warnings)
    .map((entry, i) => secretFrom(entry, `${where}.${secretsField}[${i}]`, warnings))
    .filter((secret) => secret !== undefined);
  const kubernetesServiceAccounts = listFrom(
    value['kubernetesServiceAccounts'],
    `${where}.kubernetesServiceAccounts`,
    warnings,
  )
    .map((entry, i) => coordinatesFrom(entry, `${where}.kubernetesServiceAccounts[${i}]`, warnings))
    .filter((account) => account !== undefined);
  const rawNodeWide = value['nodePodsAccessible'];
  if (rawNodeWide !== undefined && rawNodeWide !== null && typeof rawNodeWide !== 'boolean') {
    warnings.push(`${where}.nodePodsAccessible is not a boolean; read as false`);
  }
  return {
    kubernetesSecrets,
    kubernetesServiceAccounts,
    nodePodsAccessible: rawNodeWide === true,
  };
}

function listFrom(value: unknown, where: string, warnings: string[]): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value as unknown[];
  warnings.push(`${where} is not a list; skipped`);
  return [];
}

function coordinatesFrom(
  value: unknown,
  where: string,
  warnings: string[],
): RecordedServiceAccount | undefined {
  if (!isObject(value)) {
    warnings.push(`${where} is not an object; skipped`);
    return undefined;
  }
  const namespace = value['namespace'];
  const name = value['name'];
  if (
    typeof namespace !== 'string' ||
    namespace === '' ||
    typeof name !== 'string' ||
    name === ''
  ) {
    warnings.push(`${where} has no namespace or name; skipped`);
    return undefined;
  }
  const uid = value['uid'];
  return { uid: typeof uid === 'string' && uid !== '' ? uid : undefined, namespace, name };
}

function secretFrom(value: unknown, where: string, warnings: string[]): RecordedSecret | undefined {
  const coordinates = coordinatesFrom(value, where, warnings);
  if (coordinates === undefined || !isObject(value)) return undefined;
  const raw = value['credentialHash'];
  const hash = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) {
    warnings.push(`${where}.credentialHash is not a hex SHA-256; kept without it`);
    return { ...coordinates, credentialHash: undefined };
  }
  return { ...coordinates, credentialHash: hash as CredentialHash };
}

// metav1.Time is RFC 3339 with seconds precision (MicroTime-style fractions are accepted too).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function parseMetaTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !RFC3339.test(value)) return undefined;
  const ms = Date.parse(value.toUpperCase());
  return Number.isFinite(ms) ? ms : undefined;
}

/** A value for a message: short, and never more than one line. */
function quote(value: unknown): string {
  if (value === undefined) return '(missing)';
  let text: string;
  try {
    // JSON.stringify is undefined only for functions and symbols, which JSON.parse never makes.
    text = JSON.stringify(value) ?? typeof value;
  } catch {
    // JSON.parse reads nesting deeper than JSON.stringify's stack can write back (RangeError).
    text = Array.isArray(value) ? 'a deeply nested array' : 'a deeply nested object';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

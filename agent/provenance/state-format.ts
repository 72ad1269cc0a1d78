// The provenance state file's format, without the disk: what is written and how a file is
// judged on load. Only identities are stored (tenant, namespace, secret name, keyed fingerprint,
// the kubelet's credentialHash), never a credential. A file is accepted whole or not at all:
// one bad entry rejects it, so a torn or edited file can never be applied in part.
import { z } from 'zod';
import { parseImageId, type ImageId } from '../image/digest.ts';
import type { CredentialFingerprint, CredentialHash } from '../credentials/credential-identity.ts';
import type { ImageOwner, ImageProvenance, ProvenanceSource, TenantId } from '../model/snapshot.ts';
import { PROVENANCE_SOURCES } from '../model/snapshot.ts';
import { err, ok, type Result } from '../result.ts';

/**
 * 2 added the owner sources pulled-event, verified-bootstrap and unverified-bootstrap. A version
 * 1 file is still read: its 'running-pod' owners were never verified, so they come back as
 * unverified-bootstrap (possible owners), which better evidence then corrects.
 */
export const STATE_SCHEMA_VERSION = 2;
const OLDEST_READABLE_SCHEMA_VERSION = 1;

/** Far above any real node (thousands of images, a few owners each). */
export const MAX_STATE_BYTES = 64 * 1024 * 1024;

export interface ProvenanceState {
  readonly node: string;
  /** ms since epoch. */
  readonly savedAt: number;
  readonly images: ReadonlyMap<ImageId, ImageProvenance>;
}

export type DecodeFailure =
  | { readonly kind: 'corrupt'; readonly reason: string }
  | { readonly kind: 'newer-schema'; readonly schemaVersion: number; readonly reason: string }
  | { readonly kind: 'other-node'; readonly node: string; readonly reason: string };

const hexSha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');
const time = z.iso.datetime();
const name = z.string().min(1).max(1024);

const ownerSchema = z
  .strictObject({
    tenant: name,
    namespace: name,
    secret: name.nullable(),
    fingerprint: hexSha256.nullable(),
    credentialHash: hexSha256.nullable(),
    // 'running-pod' is version 1's name for what is now an unverified bootstrap.
    source: z.enum([...PROVENANCE_SOURCES, 'running-pod']),
    firstSeen: time,
    lastSeen: time,
  })
  .refine((owner) => Date.parse(owner.firstSeen) <= Date.parse(owner.lastSeen), {
    message: 'firstSeen is after lastSeen',
  });

const imageSchema = z.strictObject({
  imageId: z.string().refine((id) => parseImageId(id) !== undefined, 'not an image ID'),
  cachedSince: time.nullable(),
  nodeWide: z.boolean(),
  owners: z.array(ownerSchema),
});

const fileSchema = z.strictObject({
  schemaVersion: z.int().min(OLDEST_READABLE_SCHEMA_VERSION).max(STATE_SCHEMA_VERSION),
  node: name,
  savedAt: time,
  images: z
    .array(imageSchema)
    .refine(
      (images) => new Set(images.map((image) => image.imageId)).size === images.length,
      'an image ID appears twice',
    ),
});

type OwnerJson = z.input<typeof ownerSchema>;
type ImageJson = z.input<typeof imageSchema>;
type FileJson = z.input<typeof fileSchema>;

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

// Field by field, so that nothing a caller attached to an owner at run time is ever written.
function ownerJson(owner: ImageOwner): OwnerJson {
  return {
    tenant: owner.tenant,
    namespace: owner.namespace,
    secret: owner.secret ?? null,
    fingerprint: owner.fingerprint ?? null,
    credentialHash: owner.credentialHash ?? null,
    source: owner.source,
    firstSeen: isoTime(owner.firstSeen),
    lastSeen: isoTime(owner.lastSeen),
  };
}

function imageJson(image: ImageProvenance): ImageJson {
  return {
    imageId: image.imageId,
    cachedSince: image.cachedSince === undefined ? null : isoTime(image.cachedSince),
    nodeWide: image.nodeWide,
    owners: image.owners.map(ownerJson),
  };
}

/**
 * The file's text: images sorted by ID so that two saves of the same knowledge are the same
 * bytes. Times must be valid ms since epoch (a bug otherwise: toISOString throws).
 */
export function encodeProvenanceState(state: ProvenanceState): string {
  const file: FileJson = {
    schemaVersion: STATE_SCHEMA_VERSION,
    node: state.node,
    savedAt: isoTime(state.savedAt),
    images: [...state.images.values()]
      .sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0))
      .map(imageJson),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Judges a state file's text: the whole state, or why none of it can be used. Never throws. */
export function decodeProvenanceState(
  text: string,
  expectedNode: string,
): Result<ProvenanceState, DecodeFailure> {
  if (text.length > MAX_STATE_BYTES) {
    return err({ kind: 'corrupt', reason: `larger than ${MAX_STATE_BYTES} bytes` });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : 'parse error';
    return err({ kind: 'corrupt', reason: `not JSON: ${detail}` });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return err({ kind: 'corrupt', reason: 'not a JSON object' });
  }
  const version: unknown = (value as Record<string, unknown>)['schemaVersion'];
  if (
    typeof version === 'number' &&
    Number.isSafeInteger(version) &&
    version > STATE_SCHEMA_VERSION
  ) {
    return err({
      kind: 'newer-schema',
      schemaVersion: version,
      reason: `schemaVersion ${version} is newer than ${STATE_SCHEMA_VERSION}, the newest this version understands`,
    });
  }
  if (
    typeof version !== 'number' ||
    !Number.isSafeInteger(version) ||
    version < OLDEST_READABLE_SCHEMA_VERSION
  ) {
    return err({
      kind: 'corrupt',
      reason: `schemaVersion ${JSON.stringify(version) ?? 'missing'} is not one of ${OLDEST_READABLE_SCHEMA_VERSION}..${STATE_SCHEMA_VERSION}`,
    });
  }
  if (version === 1 && hasNewSources(value)) {
    return err({ kind: 'corrupt', reason: 'a schemaVersion 1 file names a version 2 source' });
  }
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : issue.path.map(String).join('.');
    return err({
      kind: 'corrupt',
      reason: `invalid ${where === '' ? 'file' : where}: ${issue?.message ?? 'unknown problem'}`,
    });
  }
  const file = parsed.data;
  if (file.node !== expectedNode) {
    return err({
      kind: 'other-node',
      node: file.node,
      reason: `written by node ${JSON.stringify(file.node)}, this agent runs on ${JSON.stringify(expectedNode)}`,
    });
  }
  const images = new Map<ImageId, ImageProvenance>();
  for (const image of file.images) {
    const imageId = image.imageId as ImageId;
    images.set(imageId, {
      imageId,
      cachedSince: image.cachedSince === null ? undefined : Date.parse(image.cachedSince),
      nodeWide: image.nodeWide,
      owners: image.owners.map((owner) => ({
        tenant: owner.tenant as TenantId,
        namespace: owner.namespace,
        secret: owner.secret ?? undefined,
        fingerprint: (owner.fingerprint ?? undefined) as CredentialFingerprint | undefined,
        credentialHash: (owner.credentialHash ?? undefined) as CredentialHash | undefined,
        source: sourceOf(owner.source),
        firstSeen: Date.parse(owner.firstSeen),
        lastSeen: Date.parse(owner.lastSeen),
      })),
    });
  }
  return ok({ node: file.node, savedAt: Date.parse(file.savedAt), images });
}

function sourceOf(stored: ProvenanceSource | 'running-pod'): ProvenanceSource {
  return stored === 'running-pod' ? 'unverified-bootstrap' : stored;
}

function hasNewSources(file: object): boolean {
  const version1Sources = new Set(['kubelet-record', 'observed-pull', 'running-pod']);
  const images: unknown = (file as { images?: unknown }).images;
  if (!Array.isArray(images)) return false;
  return images.some((image: unknown) => {
    const owners: unknown = (image as { owners?: unknown } | null)?.owners;
    return (
      Array.isArray(owners) &&
      owners.some((owner: unknown) => {
        const source: unknown = (owner as { source?: unknown } | null)?.source;
        return typeof source === 'string' && !version1Sources.has(source);
      })
    );
  });
}

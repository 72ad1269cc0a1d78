// Small OCI images built locally, without network: an OCI image layout
// (oci-layout, index.json, blobs/sha256/...) on disk for skopeo to push, or one
// OCI archive (a tar of a layout) holding many images for `ctr images import`.
//
// Every image has one tiny gzip'd layer (one file) and a config whose
// `config.Labels` carry a marker, so image IDs (config digests) differ per image.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export const MEDIA_TYPE = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** containerd reads the full image name from this index annotation on import. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
/** OCI: the tag (or reference) of a manifest in an image layout. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Label in every config this module writes; its value is the image's marker. */
export const MARKER_LABEL = 'dev.pullwatch.test.marker';

/** Fixed timestamps keep builds reproducible (same marker, same digests). */
const EPOCH = new Date('2024-01-01T00:00:00Z');
const CREATED = EPOCH.toISOString();

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: { readonly architecture: string; readonly os: string };
}

const sha256 = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Blobs by digest plus the index of an image layout, built in memory. */
interface Layout {
  readonly blobs: Map<string, Buffer>;
  readonly manifests: Descriptor[];
}

function addBlob(layout: Layout, mediaType: string, data: Buffer): Descriptor {
  const digest = sha256(data);
  layout.blobs.set(digest, data);
  return { mediaType, digest, size: data.length };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

// ---- tar writing (headers from node-tar, blocks assembled here) -------------

function tarHeader(path: string, size: number, type: 'File' | 'Directory'): Buffer {
  const header = new Header({
    path,
    mode: type === 'Directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    size,
    mtime: EPOCH,
    type,
  });
  const needPax = header.encode();
  if (needPax || header.block === undefined) {
    throw new Error(`tar path too long for a plain ustar header: ${path}`);
  }
  return header.block;
}

function tarFile(path: string, data: Buffer): Buffer[] {
  const pad = (512 - (data.length % 512)) % 512;
  return [tarHeader(path, data.length, 'File'), data, Buffer.alloc(pad)];
}

function tarDir(path: string): Buffer[] {
  return [tarHeader(path.endsWith('/') ? path : `${path}/`, 0, 'Directory')];
}

/** End of archive: two zero blocks. */
const TAR_END = Buffer.alloc(1024);

// ---- image parts ----------------------------------------------------------

interface Layer {
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  readonly diffId: string;
}

/** A one-file layer: `/pullwatch-marker` holding `content`. */
function buildLayer(layout: Layout, content: string): Layer {
  const tar = Buffer.concat([...tarFile('pullwatch-marker', Buffer.from(`${content}\n`)), TAR_END]);
  const descriptor = addBlob(layout, MEDIA_TYPE.layerGzip, gzipSync(tar, { level: 9 }));
  return { descriptor, diffId: sha256(tar) };
}

interface BuiltImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
}

function buildImage(layout: Layout, layer: Layer, marker: string): BuiltImage {
  const config = addBlob(
    layout,
    MEDIA_TYPE.config,
    json({
      created: CREATED,
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/pullwatch-marker'],
        Labels: { [MARKER_LABEL]: marker },
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: CREATED, created_by: `pullwatch test harness: ${marker}` }],
    }),
  );
  const manifest = addBlob(
    layout,
    MEDIA_TYPE.manifest,
    json({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.manifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [layer.descriptor],
    }),
  );
  return { manifest, config };
}

function indexJson(layout: Layout): Buffer {
  return json({ schemaVersion: 2, mediaType: MEDIA_TYPE.index, manifests: layout.manifests });
}

const OCI_LAYOUT = json({ imageLayoutVersion: '1.0.0' });

const blobPath = (digest: string): string => join('blobs', ...digest.split(':'));

// ---- public API -----------------------------------------------------------

export interface ImageLayout {
  /** The OCI image layout directory (`oci:DIR` for skopeo). */
  readonly layoutDir: string;
  /** Config digest: the image ID that CRI reports (`Image.id`, PullImage's image_ref). */
  readonly configDigest: string;
  /** Manifest digest: what a registry serves and CRI lists in `repo_digests`. */
  readonly manifestDigest: string;
  readonly layerDigest: string;
  /** sha256 of the uncompressed layer tar. */
  readonly diffId: string;
  /** The tag recorded as `org.opencontainers.image.ref.name` in index.json. */
  readonly refName: string;
}

export interface BuildImageOptions {
  /** Makes this image distinct: goes into the layer file and the config labels. */
  readonly marker: string;
  /** Tag recorded in index.json (`oci:DIR:REF`). Default `latest`. */
  readonly refName?: string;
}

/**
 * Writes an OCI image layout holding one single-platform (linux/amd64) image to
 * `dir` (created if needed). The same marker always gives the same digests.
 */
export async function buildImageLayout(
  dir: string,
  options: BuildImageOptions,
): Promise<ImageLayout> {
  const refName = options.refName ?? 'latest';
  const layout: Layout = { blobs: new Map(), manifests: [] };
  const layer = buildLayer(layout, options.marker);
  const image = buildImage(layout, layer, options.marker);
  layout.manifests.push({
    ...image.manifest,
    annotations: { [ANNOTATION_REF_NAME]: refName },
  });
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), OCI_LAYOUT);
  await writeFile(join(dir, 'index.json'), indexJson(layout));
  for (const [digest, data] of layout.blobs) {
    await writeFile(join(dir, blobPath(digest)), data);
  }
  return {
    layoutDir: dir,
    configDigest: image.config.digest,
    manifestDigest: image.manifest.digest,
    layerDigest: layer.descriptor.digest,
    diffId: layer.diffId,
    refName,
  };
}

export interface BulkImage {
  /** Full name, e.g. `docker.io/pullwatch/bulk-0001:v1`. */
  readonly name: string;
  readonly configDigest: string;
  readonly manifestDigest: string;
}

export interface BulkArchive {
  readonly archivePath: string;
  readonly images: readonly BulkImage[];
}

export interface BulkOptions {
  /** Tag of every image. Default `v1`. */
  readonly tag?: string;
}

/**
 * Writes ONE OCI archive (an uncompressed tar of an image layout) at `path`
 * whose index.json lists `count` manifests named `${namePrefix}-0001:v1` ...
 * (numbers zero-padded to at least 4 digits). They share one layer and differ
 * in their configs, so `ctr -n k8s.io images import` creates `count` images with
 * distinct IDs. `namePrefix` should be a full name such as
 * `docker.io/pullwatch/bulk`; containerd takes `io.containerd.image.name`.
 * Built in memory: 2,000 images take well under a second.
 */
export async function buildManyImagesArchive(
  path: string,
  count: number,
  namePrefix: string,
  options: BulkOptions = {},
): Promise<BulkArchive> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be >= 1: ${count}`);
  const tag = options.tag ?? 'v1';
  const width = Math.max(4, String(count).length);
  const layout: Layout = { blobs: new Map(), manifests: [] };
  const layer = buildLayer(layout, `bulk layer for ${namePrefix}`);
  const images: BulkImage[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `${namePrefix}-${String(i).padStart(width, '0')}:${tag}`;
    const image = buildImage(layout, layer, name);
    layout.manifests.push({
      ...image.manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { [ANNOTATION_CONTAINERD_NAME]: name, [ANNOTATION_REF_NAME]: tag },
    });
    images.push({
      name,
      configDigest: image.config.digest,
      manifestDigest: image.manifest.digest,
    });
  }
  const parts: Buffer[] = [
    ...tarFile('oci-layout', OCI_LAYOUT),
    ...tarFile('index.json', indexJson(layout)),
    ...tarDir('blobs'),
    ...tarDir('blobs/sha256'),
  ];
  for (const [digest, data] of layout.blobs) parts.push(...tarFile(blobPath(digest), data));
  parts.push(TAR_END);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, Buffer.concat(parts));
  return { archivePath: path, images };
}

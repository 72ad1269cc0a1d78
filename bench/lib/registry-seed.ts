// Fills a real registry with thousands of repositories quickly: one tiny OCI image is uploaded
// to the first repository and every other one mounts its blobs (distribution's cross-repository
// blob mount) and gets the same manifest, over the registry's HTTP API. skopeo would take
// a process per repository. Every repository then holds tag v1 with the same manifest digest.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Blob {
  readonly digest: string;
  readonly bytes: Buffer;
}

const blobOf = (bytes: Buffer): Blob => ({
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  bytes,
});

function tinyImage(): { config: Blob; layer: Blob; manifest: Buffer } {
  // An empty tar archive (two zero blocks), gzipped.
  const tar = Buffer.alloc(1024);
  const layer = blobOf(gzipSync(tar));
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [diffId] },
      }),
    ),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.bytes.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: layer.digest,
          size: layer.bytes.length,
        },
      ],
    }),
  );
  return { config, layer, manifest };
}

export interface SeedOptions {
  /** `http://host:port` of the registry itself. */
  readonly url: string;
  readonly credentials?: { readonly username: string; readonly password: string };
  readonly concurrency?: number;
}

/** Pushes the image to every repository as `:v1`; returns its manifest digest. */
export async function seedRepositories(
  repositories: readonly string[],
  options: SeedOptions,
): Promise<string> {
  const { config, layer, manifest } = tinyImage();
  const auth =
    options.credentials === undefined
      ? {}
      : {
          authorization: `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`,
        };
  const call = async (
    method: string,
    path: string,
    body?: Buffer,
    headers: Record<string, string> = {},
  ): Promise<Response> => {
    const url = path.startsWith('http') ? path : `${options.url}${path}`;
    const res = await fetch(url, {
      method,
      headers: { ...auth, ...headers },
      ...(body === undefined ? {} : { body: new Uint8Array(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    return res;
  };
  const upload = async (repo: string, blob: Blob, from: string | undefined): Promise<void> => {
    const mount = from === undefined ? '' : `?mount=${blob.digest}&from=${from}`;
    const started = await call('POST', `/v2/${repo}/blobs/uploads/${mount}`);
    if (started.status === 201) return; // mounted
    if (started.status !== 202)
      throw new Error(`starting an upload to ${repo}: HTTP ${started.status}`);
    const location = new URL(started.headers.get('location') ?? '', options.url);
    location.searchParams.set('digest', blob.digest);
    const put = await call('PUT', location.toString(), blob.bytes, {
      'content-type': 'application/octet-stream',
    });
    if (put.status !== 201) throw new Error(`uploading a blob to ${repo}: HTTP ${put.status}`);
  };
  const push = async (repo: string, from: string | undefined): Promise<void> => {
    await upload(repo, config, from);
    await upload(repo, layer, from);
    const put = await call('PUT', `/v2/${repo}/manifests/v1`, manifest, {
      'content-type': OCI_MANIFEST,
    });
    if (put.status !== 201) throw new Error(`pushing the manifest to ${repo}: HTTP ${put.status}`);
  };
  const [first, ...rest] = repositories;
  if (first === undefined) throw new Error('no repository to seed');
  await push(first, undefined);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rest.length) {
      const repo = rest[next] as string;
      next += 1;
      await push(repo, first);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
}

// Reading a small file that someone else may have written, without trusting its size: regular
// files only, no symbolic link at the last component, never more than a limit in memory.
import { Buffer } from 'node:buffer';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export type BoundedRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'error'; readonly reason: string }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'bytes'; readonly bytes: Buffer };

export type BoundedTextRead =
  | Exclude<BoundedRead, { kind: 'bytes' }>
  | { readonly kind: 'not-utf8' }
  | { readonly kind: 'text'; readonly text: string };

const CHUNK_BYTES = 64 * 1024;

/** The file's bytes, if it exists, is a regular file and holds at most `maxBytes`. */
export async function readBoundedBytes(path: string, maxBytes: number): Promise<BoundedRead> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted in place of the file must not hang the agent.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return errorCode(error) === 'ENOENT'
      ? { kind: 'missing' }
      : { kind: 'error', reason: describeError(error) };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { kind: 'error', reason: 'not a regular file' };
    if (info.size > maxBytes) return { kind: 'too-large' };
    // Read to the end rather than to the size fstat gave: the file may have grown since.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) return { kind: 'too-large' };
    }
    return { kind: 'bytes', bytes: Buffer.concat(chunks, length) };
  } catch (error) {
    return { kind: 'error', reason: describeError(error) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** As readBoundedBytes, decoded as strict UTF-8 (a leading BOM is dropped). */
export async function readBoundedText(path: string, maxBytes: number): Promise<BoundedTextRead> {
  const read = await readBoundedBytes(path, maxBytes);
  if (read.kind !== 'bytes') return read;
  try {
    return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(read.bytes) };
  } catch {
    return { kind: 'not-utf8' };
  }
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** "EACCES: permission denied, open '/x'" for system errors; the message otherwise. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = errorCode(error);
    return code !== undefined && !error.message.startsWith(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

// ListImages answers are decoded only when they differ from the previous answer: a runtime
// repeating its listing, in any order, gets the same Listing object back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import type { Test } from 'tap';
import { connectCri } from './client.ts';
import { parseCriEndpoint } from './endpoint.ts';
import { loadCriServices } from './proto.ts';

const listImages = loadCriServices('v1').ImageService.service.ListImages;
if (listImages === undefined) throw new Error('no ListImages in the v1 proto');

const image = (n: number) => ({
  id: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  repoTags: [`registry.example.com/app:${n}`],
  size: '10',
});
const response = (...ns: number[]): Buffer =>
  listImages.responseSerialize({ images: ns.map(image) });

const passThrough = (b: Buffer): Buffer => b;

/** A v1 runtime whose ListImages answers are the given bytes, one per call. */
async function runtimeAnswering(t: Test, answers: Buffer[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pullwatch-listing-'));
  const server = new grpc.Server();
  const method = (path: string, answer: () => Buffer) => ({
    definition: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: passThrough,
      requestDeserialize: passThrough,
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
    implementation: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
      callback(null, answer());
    },
  });
  const version = method('/runtime.v1.RuntimeService/Version', () => Buffer.alloc(0));
  const list = method('/runtime.v1.ImageService/ListImages', () => {
    const next = answers.shift();
    if (next === undefined) throw new Error('no answer left');
    return next;
  });
  server.addService({ Version: version.definition }, { Version: version.implementation });
  server.addService({ ListImages: list.definition }, { ListImages: list.implementation });
  const target = `unix://${join(dir, 'cri.sock')}`;
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
  t.teardown(() => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  return target;
}

const idsOf = (listing: { items: readonly { id: string }[] }) =>
  listing.items.map((i) => i.id.slice(7, 8)).join('');

t.test(
  'a repeated listing is the same object, in whatever order the runtime sends it',
  async (t) => {
    const target = await runtimeAnswering(t, [
      response(1, 2, 3),
      response(1, 2, 3),
      response(3, 1, 2),
      response(1, 2, 3, 4),
      response(4, 3, 2, 1),
    ]);
    const endpoint = parseCriEndpoint(target);
    if (!endpoint.ok) throw new Error(endpoint.error.message);
    const cri = connectCri(endpoint.value);
    t.teardown(() => {
      cri.close();
    });
    const listings = [];
    for (let i = 0; i < 5; i += 1) {
      const listing = await cri.listImages();
      if (!listing.ok) throw new Error(listing.error.message);
      listings.push(listing.value);
    }
    const [first, same, reordered, grown, grownReordered] = listings;
    t.equal(first && idsOf(first), '123');
    t.equal(same, first, 'the same bytes: the same listing');
    t.equal(reordered, first, 'the same images in another order: the same listing');
    t.not(grown, first, 'an image more: a new listing');
    t.equal(grown && idsOf(grown), '1234');
    t.equal(grownReordered, grown);
  },
);

t.test(
  'an answer that is not a ListImagesResponse is an invalid response, then a new listing',
  async (t) => {
    // Cut into fields fine, but field 1 holds a varint where an Image message belongs.
    const notImages = Buffer.from([0x0a, 0x02, 0x08, 0x01, 0x0a, 0x01, 0xff]);
    const target = await runtimeAnswering(t, [response(1), notImages, notImages, response(1)]);
    const endpoint = parseCriEndpoint(target);
    if (!endpoint.ok) throw new Error(endpoint.error.message);
    const cri = connectCri(endpoint.value);
    t.teardown(() => {
      cri.close();
    });
    const first = await cri.listImages();
    for (const attempt of ['first', 'second']) {
      t.match(
        await cri.listImages(),
        { ok: false, error: { kind: 'invalid-response', method: 'ListImages' } },
        `the ${attempt} bad answer`,
      );
    }
    const again = await cri.listImages();
    t.ok(first.ok && again.ok);
    if (first.ok && again.ok) {
      t.not(again.value, first.value, 'decoded again after the bad answers');
      t.equal(idsOf(again.value), '1');
    }
  },
);

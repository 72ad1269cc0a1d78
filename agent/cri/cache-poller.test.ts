import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEmbeddedCriRuntime } from '../embedded/cri-runtime.ts';
import { CachePoller } from './cache-poller.ts';
import { connectCri, type CriReader } from './client.ts';
import { parseCriEndpoint } from './endpoint.ts';

const image = (n: number) => ({
  id: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  repoTags: [`registry.example.com/app:${n}`],
  repoDigests: [],
  sizeBytes: 10n,
  pinned: false,
});

t.test(
  'the poller keeps the last good cache while the runtime is down, and recovers',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pullwatch-poller-'));
    t.teardown(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const socket = join(dir, 'cri.sock');
    let runtime = await startEmbeddedCriRuntime(socket, { images: [image(1)] });
    const endpoint = parseCriEndpoint(runtime.target);
    if (!endpoint.ok) throw new Error(endpoint.error.message);
    const cri = connectCri(endpoint.value, { callTimeoutMs: 500, listTimeoutMs: 500 });
    let changes = 0;
    const poller = new CachePoller(cri, { intervalMs: 60_000, onChange: () => (changes += 1) });
    t.teardown(() => {
      poller.stop();
      cri.close();
      return runtime.stop();
    });

    await poller.refresh();
    t.ok(poller.status().synced && poller.status().up);
    t.equal(poller.inventory().size, 1);
    t.equal(poller.previousImageIds(), undefined, 'at start nothing counts as newly arrived');

    runtime.setContents({ images: [image(1), image(2)] });
    await poller.refresh();
    t.equal(poller.inventory().size, 2);
    t.same([...(poller.previousImageIds() ?? [])], [image(1).id], 'image 2 is the new arrival');
    const before = changes;
    await poller.refresh();
    t.equal(changes, before, 'an unchanged cache is not a change');

    await runtime.stop();
    await poller.refresh();
    t.notOk(poller.status().up, 'down while the runtime is away');
    t.match(poller.status().lastError, /unavailable/);
    t.equal(poller.inventory().size, 2, 'the last good view is kept');

    runtime = await startEmbeddedCriRuntime(socket, { images: [image(2)] });
    const deadline = Date.now() + 10_000;
    while (!poller.status().up && Date.now() < deadline) {
      await poller.refresh();
      await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(poller.status().up, 'up again once the socket is back');
    t.equal(poller.inventory().size, 1);
  },
);

t.test(
  'a listing that repeats the cache in another order is no change; a new size is',
  async (t) => {
    let listing = [image(1), image(2)];
    const reader = {
      listImages: () =>
        Promise.resolve({ ok: true as const, value: { items: listing, rejected: [] } }),
    } as unknown as CriReader;
    let changes = 0;
    const poller = new CachePoller(reader, { intervalMs: 60_000, onChange: () => (changes += 1) });
    t.teardown(() => {
      poller.stop();
    });
    await poller.refresh();
    const first = poller.inventory();
    listing = [image(2), image(1)];
    await poller.refresh();
    t.equal(changes, 1, 'the same images in another order');
    t.equal(poller.inventory(), first, 'the inventory is kept');
    listing = [image(2), { ...image(1), sizeBytes: 20n }];
    await poller.refresh();
    t.equal(changes, 2, 'a size that changed');
    t.equal(poller.inventory().byId(image(1).id)?.sizeBytes, 20n);
    t.same([...(poller.previousImageIds() ?? [])].sort(), [image(1).id, image(2).id].sort());
  },
);

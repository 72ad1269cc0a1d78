import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { sleep, waitFor } from '../../test/helpers/wait.ts';
import { startEmbeddedCriRuntime } from '../../test/kit/embedded/cri-runtime.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import { CachePoller, type CachePollerOptions } from './cache-poller.ts';
import { connectCri, type CriReader } from './client.ts';
import { parseCriEndpoint } from './endpoint.ts';
import type { CriError } from './errors.ts';

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
    const previous = poller.previousImageIds();
    t.ok(previous?.has(image(1).id), 'image 1 was listed before');
    t.notOk(previous?.has(image(2).id), 'image 2 is the new arrival');
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
      endpoint: 'unix:///fake/cri.sock',
      version: () =>
        Promise.resolve(
          err<CriError>({
            kind: 'unimplemented',
            endpoint: 'unix:///fake/cri.sock',
            method: 'Version',
            message: 'not in this test',
          }),
        ),
      listImages: () => Promise.resolve(ok({ items: listing, rejected: [] })),
      close: () => undefined,
    } satisfies CriReader;
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
    t.ok(
      [image(1).id, image(2).id].every((id) => poller.previousImageIds()?.has(id)),
      'both were listed before',
    );
  },
);

/** A runtime the test switches on and off; records when it was asked to list. */
class FakeRuntime {
  readonly endpoint = 'unix:///fake/cri.sock';
  answering = false;
  /** The error a listing gets while the runtime is not answering. */
  listError: CriError = {
    kind: 'internal',
    endpoint: this.endpoint,
    method: 'ListImages',
    message: 'server is not initialized yet',
  };
  readonly listCalls: number[] = [];
  versionCalls = 0;
  /** When set, Version answers when the test says so. */
  heldVersion: ((answer: boolean) => void) | undefined;
  holdVersion = false;
  readonly #listeners = new Set<(connected: boolean) => void>();

  reader(withConnection = true): CriReader {
    const down = (method: string): Result<never, CriError> =>
      err({ kind: 'unavailable', endpoint: this.endpoint, method, message: 'connect ENOENT' });
    return {
      endpoint: this.endpoint,
      listImages: () => {
        this.listCalls.push(Date.now());
        return Promise.resolve(
          this.answering ? ok({ items: [image(1), image(2)], rejected: [] }) : err(this.listError),
        );
      },
      version: () => {
        this.versionCalls += 1;
        const answer = (up: boolean) =>
          up
            ? ok({
                api: 'v1' as const,
                runtimeName: 'fake',
                runtimeVersion: '1',
                runtimeApiVersion: 'v1',
              })
            : down('Version');
        if (!this.holdVersion) return Promise.resolve(answer(this.answering));
        return new Promise((resolve) => {
          this.heldVersion = (up) => {
            resolve(answer(up));
          };
        });
      },
      ...(withConnection
        ? {
            onConnectionChange: (listener: (connected: boolean) => void) => {
              this.#listeners.add(listener);
              return () => {
                this.#listeners.delete(listener);
              };
            },
          }
        : {}),
      close: () => undefined,
    } satisfies CriReader;
  }

  /** The connection to the runtime drops, as when it stops or crashes. */
  disconnect(): void {
    for (const listener of this.#listeners) listener(false);
  }

  /** The connection to the runtime is established. */
  connect(): void {
    for (const listener of this.#listeners) listener(true);
  }
}

function startPoller(
  t: Test,
  runtime: FakeRuntime,
  options: Partial<CachePollerOptions> = {},
): { poller: CachePoller; errors: CriError[] } {
  const errors: CriError[] = [];
  const poller = new CachePoller(runtime.reader(), {
    intervalMs: 60_000,
    onChange: () => undefined,
    onError: (e) => errors.push(e),
    ...options,
  });
  t.teardown(() => {
    poller.stop();
  });
  poller.start();
  return { poller, errors };
}

t.test('a failed first listing is retried within a second, not at the poll interval', async (t) => {
  const runtime = new FakeRuntime();
  const { poller } = startPoller(t, runtime);
  await waitFor(
    'two failed listings',
    () => (runtime.listCalls.length >= 2 ? true : undefined),
    5_000,
  );
  t.match(poller.status(), { up: false, synced: false, lastError: /not initialized yet/ });

  runtime.answering = true;
  const answered = Date.now();
  await waitFor('the first listing', () => (poller.status().synced ? true : undefined), 10_000);
  const readyMs = Date.now() - answered;
  t.ok(readyMs <= 3_000, `listed ${readyMs} ms after the runtime answered`);
  t.equal(poller.inventory().size, 2);

  // Once a listing succeeded, the next one waits for the interval again (60 s here).
  const calls = runtime.listCalls.length;
  await sleep(1_000);
  t.equal(runtime.listCalls.length, calls, 'no listing within a second of a good one');
});

t.test(
  'retries back off to 2 s: a runtime down for long is listed within 3 s of answering',
  async (t) => {
    const runtime = new FakeRuntime();
    const started = Date.now();
    const { poller } = startPoller(t, runtime);
    // Six failed listings: the delay between retries has reached its 2 s ceiling.
    await waitFor(
      'six failed listings',
      () => (runtime.listCalls.length >= 6 ? true : undefined),
      15_000,
    );
    const elapsed = Date.now() - started;
    // Jitter keeps each delay above half its ceiling: 100 + 200 + 400 + 800 + 1000 ms at least.
    t.ok(elapsed >= 2_000, `six listings took ${elapsed} ms: the retries back off`);

    runtime.answering = true;
    const answered = Date.now();
    await waitFor('the first listing', () => (poller.status().synced ? true : undefined), 20_000);
    const readyMs = Date.now() - answered;
    t.ok(readyMs <= 3_000, `listed ${readyMs} ms after the runtime answered`);
  },
);

t.test('retries never wait longer than the poll interval', async (t) => {
  const runtime = new FakeRuntime();
  const started = Date.now();
  startPoller(t, runtime, { intervalMs: 300 });
  // 200 ms, then 300 ms apart (2 s apart, were the backoff alone to decide: 8.5 s at least).
  await waitFor(
    'twelve failed listings',
    () => (runtime.listCalls.length >= 12 ? true : undefined),
    6_000,
  );
  t.pass(`twelve listings in ${Date.now() - started} ms`);
});

t.test('an answer that would only come again waits for the poll interval', async (t) => {
  const runtime = new FakeRuntime();
  runtime.listError = {
    kind: 'resource-exhausted',
    endpoint: runtime.endpoint,
    method: 'ListImages',
    message: 'Received message larger than max (17000000 vs. 16777216)',
  };
  const { poller } = startPoller(t, runtime);
  await waitFor(
    'a failed listing',
    () => (poller.status().lastError !== undefined ? true : undefined),
    5_000,
  );
  await sleep(1_000);
  t.equal(runtime.listCalls.length, 1, 'no retry within a second: the runtime is not asked again');
});

t.test('a dropped connection shows the runtime down at once, the last listing kept', async (t) => {
  const runtime = new FakeRuntime();
  runtime.answering = true;
  const { poller, errors } = startPoller(t, runtime);
  await waitFor('the first listing', () => (poller.status().up ? true : undefined), 5_000);
  const listings = runtime.listCalls.length;

  runtime.answering = false;
  runtime.listError = { ...runtime.listError, kind: 'unavailable', message: 'connect ENOENT' };
  const dropped = Date.now();
  runtime.disconnect();
  await waitFor('the runtime down', () => (poller.status().up ? undefined : true), 10_000);
  const downMs = Date.now() - dropped;
  t.ok(downMs <= 2_000, `down ${downMs} ms after the connection dropped`);
  t.ok(runtime.versionCalls >= 1, 'Version was asked');
  t.match(poller.status(), {
    up: false,
    synced: true,
    lastError: /container runtime unavailable \(Version on unix:\/\/\/fake\/cri\.sock\)/,
  });
  t.equal(poller.inventory().size, 2, 'the last listing is still served');
  t.equal(errors.length, 1, 'the outage is reported once');
  t.ok(runtime.listCalls.length <= listings + 1, 'the outage did not wait for a listing');

  // Back: the retries of item 2 list it again within seconds.
  runtime.answering = true;
  const back = Date.now();
  await waitFor('the runtime up', () => (poller.status().up ? true : undefined), 10_000);
  const upMs = Date.now() - back;
  t.ok(upMs <= 3_000, `up ${upMs} ms after the runtime answered again`);
  t.ok(runtime.listCalls.length > listings, 'a listing was taken when it came back');
  t.equal(errors.length, 1, 'the retries that failed for the same cause were not reported again');
});

t.test('a connection established while the runtime is down lists at once', async (t) => {
  const runtime = new FakeRuntime();
  const { poller } = startPoller(t, runtime);
  // Two failed listings, the second over: a retry is pending, none under way.
  await waitFor(
    'two failed listings',
    () => (runtime.listCalls.length >= 2 ? true : undefined),
    5_000,
  );
  await new Promise(setImmediate);
  const listings = runtime.listCalls.length;
  runtime.answering = true;
  runtime.connect();
  t.equal(
    runtime.listCalls.length,
    listings + 1,
    'listed when the connection came, not at the retry',
  );
  await waitFor('the first listing', () => (poller.status().synced ? true : undefined), 5_000);
  runtime.connect();
  t.equal(runtime.listCalls.length, listings + 1, 'while up, a new connection lists nothing');
});

t.test(
  'a dropped connection to a runtime that still answers is no outage: it lists again',
  async (t) => {
    const runtime = new FakeRuntime();
    runtime.answering = true;
    const { poller, errors } = startPoller(t, runtime);
    await waitFor('the first listing', () => (poller.status().up ? true : undefined), 5_000);
    const listings = runtime.listCalls.length;
    runtime.disconnect();
    await waitFor(
      'a new listing',
      () => (runtime.listCalls.length > listings ? true : undefined),
      5_000,
    );
    t.equal(runtime.versionCalls, 1);
    t.ok(poller.status().up, 'still up');
    t.same(errors, [], 'no error reported');
  },
);

t.test('a Version failure older than the last good listing changes nothing', async (t) => {
  const runtime = new FakeRuntime();
  runtime.answering = true;
  runtime.holdVersion = true;
  const { poller, errors } = startPoller(t, runtime);
  await waitFor('the first listing', () => (poller.status().up ? true : undefined), 5_000);
  runtime.disconnect();
  await waitFor('the Version call', () => runtime.heldVersion, 5_000);
  await poller.refresh();
  runtime.heldVersion?.(false);
  // The answer is handled in promise callbacks, all run before the next turn of the loop.
  await new Promise(setImmediate);
  t.ok(poller.status().up, 'a listing after the connection dropped showed the runtime answering');
  t.same(errors, []);
});

t.test('without a connection to watch, the poller still works (fakes, benchmarks)', async (t) => {
  const runtime = new FakeRuntime();
  runtime.answering = true;
  const poller = new CachePoller(runtime.reader(false), {
    intervalMs: 60_000,
    onChange: () => undefined,
  });
  t.teardown(() => {
    poller.stop();
  });
  poller.start();
  await waitFor('the first listing', () => (poller.status().up ? true : undefined), 5_000);
  t.equal(poller.inventory().size, 2);
});

t.test(
  'over real gRPC: a runtime that goes away shows down within 2 s, and back when it returns',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pullwatch-poller-'));
    t.teardown(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const socket = join(dir, 'cri.sock');
    let runtime = await startEmbeddedCriRuntime(socket, { images: [image(1)] });
    const endpoint = parseCriEndpoint(runtime.target);
    if (!endpoint.ok) throw new Error(endpoint.error.message);
    const cri = connectCri(endpoint.value);
    const poller = new CachePoller(cri, { intervalMs: 60_000, onChange: () => undefined });
    t.teardown(() => {
      poller.stop();
      cri.close();
      return runtime.stop();
    });
    poller.start();
    await waitFor('the first listing', () => (poller.status().up ? true : undefined), 5_000);

    const stopped = Date.now();
    await runtime.stop();
    await waitFor('the runtime down', () => (poller.status().up ? undefined : true), 10_000);
    const downMs = Date.now() - stopped;
    t.ok(downMs <= 2_000, `down ${downMs} ms after the runtime stopped (poll interval 60 s)`);
    t.match(poller.status(), { synced: true, lastError: /unavailable/ });
    t.equal(poller.inventory().size, 1, 'the last listing is kept');

    runtime = await startEmbeddedCriRuntime(socket, { images: [image(1), image(2)] });
    const back = Date.now();
    await waitFor('the runtime up', () => (poller.status().up ? true : undefined), 10_000);
    const upMs = Date.now() - back;
    t.ok(upMs <= 3_000, `up ${upMs} ms after the runtime answered again`);
    t.equal(poller.inventory().size, 2, 'listed again when it came back');
  },
);

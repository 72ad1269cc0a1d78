// Clean-up for everything a benchmark starts, run last-in first-out; it implements the
// TeardownHost the test helpers (containerd, temp dirs) register with.
import type { TeardownHost } from '../../test/helpers/tmp.ts';

export class Teardowns implements TeardownHost {
  readonly #steps: (() => unknown)[] = [];

  teardown(fn: () => unknown): void {
    this.#steps.push(fn);
  }

  async run(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop();
      try {
        await step?.();
      } catch (error) {
        console.error('bench teardown failed:', error);
      }
    }
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Polls `probe` every `everyMs` until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

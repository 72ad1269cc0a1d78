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

export { sleep, waitFor } from '../../test/helpers/wait.ts';

// Saves one piece of the agent's state (provenance, finding times) to the state dir when it
// changed: one save at a time, the latest value when the save under way ends, a failed save
// retried with the next change, and a failing state dir logged once per failing period.
import type { Logger } from 'pino';

export interface StateSaverOptions<T> {
  /** What is saved, for the log ("provenance", "finding times"). */
  readonly what: string;
  /** Undefined when saved, else why not. */
  readonly save: (value: T) => Promise<string | undefined>;
  readonly logger: Logger;
  readonly onError: () => void;
}

export class StateSaver<T> {
  readonly #o: StateSaverOptions<T>;
  #dirty = false;
  #saving: Promise<void> | undefined;
  #failing = false;

  constructor(options: StateSaverOptions<T>) {
    this.#o = options;
  }

  /** Marks the state changed and saves the latest (from `current`) unless a save runs. */
  changed(current: () => T): void {
    this.#dirty = true;
    if (this.#saving !== undefined) return;
    this.#dirty = false;
    this.#saving = this.#save(current()).finally(() => {
      this.#saving = undefined;
    });
  }

  /** A retry of an earlier failure, or of a change made while a save ran. */
  retry(current: () => T): void {
    if (this.#dirty) this.changed(current);
  }

  /** Waits for a save under way, then saves once more if something is unsaved. */
  async flush(current: () => T): Promise<void> {
    await this.#saving;
    if (!this.#dirty) return;
    const error = await this.#o.save(current());
    if (error !== undefined) this.#o.logger.error({ source: 'state' }, error);
  }

  async #save(value: T): Promise<void> {
    const error = await this.#o.save(value);
    if (error !== undefined) {
      this.#o.onError();
      this.#dirty = true;
      // Once per failing period, not on every reconcile.
      if (!this.#failing) this.#o.logger.error({ source: 'state' }, error);
      this.#failing = true;
    } else if (this.#failing) {
      this.#failing = false;
      this.#o.logger.info({ source: 'state' }, `state dir writable again; ${this.#o.what} saved`);
    }
  }
}

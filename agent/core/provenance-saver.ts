// Saves provenance to the state dir when it changed: one save at a time, a failed save retried
// with the next change, and a failing state dir logged once per failing period.
import type { Logger } from 'pino';
import type { ImageProvenance } from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import type { ProvenancePort } from './ports.ts';

type Provenance = ReadonlyMap<ImageId, ImageProvenance>;

export class ProvenanceSaver {
  readonly #port: ProvenancePort;
  readonly #logger: Logger;
  readonly #onError: () => void;
  #dirty = false;
  #saving: Promise<void> | undefined;
  #failing = false;

  constructor(port: ProvenancePort, logger: Logger, onError: () => void) {
    this.#port = port;
    this.#logger = logger;
    this.#onError = onError;
  }

  /** Marks the provenance changed and saves the latest (from `current`) unless a save runs. */
  changed(current: () => Provenance): void {
    this.#dirty = true;
    if (this.#saving !== undefined) return;
    this.#dirty = false;
    this.#saving = this.#save(current()).finally(() => {
      this.#saving = undefined;
    });
  }

  /** A retry of an earlier failure, or of a change made while a save ran. */
  retry(current: () => Provenance): void {
    if (this.#dirty) this.changed(current);
  }

  /** Waits for a save under way, then saves once more if something is unsaved. */
  async flush(current: () => Provenance): Promise<void> {
    await this.#saving;
    if (!this.#dirty) return;
    const error = await this.#port.save(current());
    if (error !== undefined) this.#logger.error({ source: 'state' }, error);
  }

  async #save(provenance: Provenance): Promise<void> {
    const error = await this.#port.save(provenance);
    if (error !== undefined) {
      this.#onError();
      this.#dirty = true;
      // Once per failing period, not on every reconcile.
      if (!this.#failing) this.#logger.error({ source: 'state' }, error);
      this.#failing = true;
    } else if (this.#failing) {
      this.#failing = false;
      this.#logger.info({ source: 'state' }, 'state dir writable again; provenance saved');
    }
  }
}

// The kubelet's KEP-2535 records the loop holds: those of every image the cache lists. A
// listing's new image IDs are read when it arrives (only those); the resync re-reads them all,
// since the kubelet rewrites a record when it pulls or verifies again.
import type { Logger } from 'pino';
import type { ImageId } from '../image/digest.ts';
import type { Inventory } from '../image/inventory.ts';
import type { PulledRecord } from '../provenance/kubelet-record-format.ts';
import type { KubeletRecordsReading, ProvenancePort } from './ports.ts';

export class KubeletRecords {
  readonly #port: ProvenancePort;
  readonly #logger: Logger;
  #records: ReadonlyMap<ImageId, PulledRecord> = new Map();
  #available = false;
  readonly #read = new Set<ImageId>();
  /** The inventory all of whose IDs have been read. */
  #readFor: Inventory | undefined;

  constructor(port: ProvenancePort, logger: Logger) {
    this.#port = port;
    this.#logger = logger;
  }

  records(): ReadonlyMap<ImageId, PulledRecord> {
    return this.#records;
  }

  /** The kubelet writes records on this node (its pulled/ directory exists). */
  available(): boolean {
    return this.#available;
  }

  /** Every ID of this inventory has been read. */
  readFor(inventory: Inventory): boolean {
    return this.#readFor === inventory;
  }

  /**
   * Reads the records of the IDs the current listing brought for the first time, and forgets
   * those of images no longer listed; again if the listing changed meanwhile.
   */
  async readNew(currentInventory: () => Inventory): Promise<void> {
    for (;;) {
      const inventory = currentInventory();
      if (inventory === this.#readFor) return;
      const listed = new Set(inventory.entries().map((e) => e.id));
      const unread = [...listed].filter((id) => !this.#read.has(id));
      let records = this.#records;
      if (unread.length > 0) {
        const reading = await this.#safely(unread);
        records = new Map([...records, ...reading.records]);
        for (const id of unread) this.#read.add(id);
      }
      for (const id of this.#read) if (!listed.has(id)) this.#read.delete(id);
      if ([...records.keys()].some((id) => !listed.has(id)))
        records = new Map([...records].filter(([id]) => listed.has(id)));
      this.#records = records;
      if (currentInventory() === inventory) {
        this.#readFor = inventory;
        return;
      }
    }
  }

  /** Reads every listed image's record again (the resync's safety net). */
  async readAll(inventory: Inventory): Promise<void> {
    const ids = inventory.entries().map((e) => e.id);
    const reading = await this.#safely(ids);
    this.#records = reading.records;
    this.#read.clear();
    for (const id of ids) this.#read.add(id);
    this.#readFor = inventory;
  }

  async #safely(ids: readonly ImageId[]): Promise<KubeletRecordsReading> {
    const reading = await this.#port
      .readKubeletRecords(ids)
      .catch((error: unknown): KubeletRecordsReading => ({
        records: new Map(),
        available: this.#available,
        problems: [`reading the kubelet's records failed: ${String(error)}`],
      }));
    for (const p of reading.problems) this.#logger.warn({ source: 'kubelet-records' }, p);
    this.#available = reading.available;
    return reading;
  }
}

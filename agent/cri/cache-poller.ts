// Keeps the node's image cache as last listed by the runtime. A failed listing never wipes
// what we knew: the last good inventory stays, marked stale, until the runtime answers again.
import { Inventory } from '../image/inventory.ts';
import type { CriReader } from './client.ts';
import type { CriError } from './errors.ts';
import { describeCriError } from './errors.ts';
import type { CriImage } from './types.ts';

export interface SourceStatus {
  /** The last attempt succeeded. */
  readonly up: boolean;
  /** A first complete answer has arrived. */
  readonly synced: boolean;
  /** ms since epoch of the last success. */
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
}

export interface CachePollerOptions {
  readonly intervalMs: number;
  readonly now?: () => number;
  /** Called after every listing that changed the inventory or the status. */
  readonly onChange: () => void;
  readonly onError?: (error: CriError) => void;
}

export class CachePoller {
  readonly #cri: CriReader;
  readonly #options: CachePollerOptions;
  readonly #now: () => number;
  #inventory = new Inventory([]);
  #previousIds: ReadonlySet<string> | undefined;
  #status: SourceStatus = { up: false, synced: false, lastSync: undefined, lastError: undefined };
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** A first listing has arrived: what it holds was there before us, not freshly pulled. */
  #listed = false;
  /** The last listing the runtime gave: the CRI client hands the same object back for a repeat. */
  #lastItems: readonly CriImage[] | undefined;

  constructor(cri: CriReader, options: CachePollerOptions) {
    this.#cri = cri;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  inventory(): Inventory {
    return this.#inventory;
  }

  /**
   * Image IDs of the listing before the current one: what arrived since is new. Undefined
   * until two listings were seen: at start, everything cached is old, not a fresh pull.
   */
  previousImageIds(): ReadonlySet<string> | undefined {
    return this.#previousIds;
  }

  status(): SourceStatus {
    return this.#status;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Lists now (coalesced with a listing already under way), e.g. when a pod starts. */
  refresh(): Promise<void> {
    if (this.#inFlight !== undefined) {
      this.#again = true;
      return this.#inFlight;
    }
    this.#inFlight = this.#poll().finally(() => {
      this.#inFlight = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.refresh();
      }
    });
    return this.#inFlight;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.refresh().then(() => {
        this.#schedule(this.#options.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    const listing = await this.#cri.listImages();
    if (this.#stopped) return;
    if (!listing.ok) {
      const message = describeCriError(listing.error);
      const changed = this.#status.up || this.#status.lastError !== message;
      this.#status = { ...this.#status, up: false, lastError: message };
      if (changed) {
        this.#options.onError?.(listing.error);
        this.#options.onChange();
      }
      return;
    }
    const items = listing.value.items;
    const wasUp = this.#status.up && this.#status.synced;
    this.#status = { up: true, synced: true, lastSync: this.#now(), lastError: undefined };
    if (items === this.#lastItems) {
      if (!wasUp) this.#options.onChange();
      return;
    }
    this.#lastItems = items;
    const first = !this.#listed;
    this.#listed = true;
    // Entries listed as before are taken over, so a listing that only repeats the last one
    // (in another order, say) is recognised without comparing names again.
    const next = new Inventory(items, this.#inventory);
    if (!first && next.sameAs(this.#inventory)) {
      if (!wasUp) this.#options.onChange();
      return;
    }
    this.#previousIds = first ? undefined : new Set(this.#inventory.entries().map((e) => e.id));
    this.#inventory = next;
    this.#options.onChange();
  }
}

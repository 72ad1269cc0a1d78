// Keeps the node's image cache as last listed by the runtime. A failed listing never wipes
// what we knew: the last good inventory stays, marked stale, until the runtime answers again.
//
// Two things keep the status close to the runtime's without listing more often:
// - a failed listing is retried with backoff (200 ms doubling to 2 s, or to the poll interval
//   when that is shorter), not at the next poll: a runtime that comes up after the agent (node
//   boot) is listed within about 2 s of answering;
// - when the connection to the runtime drops between listings, one Version call with a short
//   deadline tells at once whether the runtime still answers: if not, the source is down now
//   (not at the next listing) and the retries above notice its return; when the connection
//   is back while the source is down, it is listed at once.
import { Backoff } from '../backoff.ts';
import { Inventory, type ImageIdSet } from '../image/inventory.ts';
import type { CriReader } from './client.ts';
import type { CriError } from './errors.ts';
import { describeCriError, isLastingError } from './errors.ts';
import type { CriImage } from './types.ts';

export interface SourceStatus {
  /** The last listing succeeded and the runtime has not been seen gone since. */
  readonly up: boolean;
  /** A first complete answer has arrived. */
  readonly synced: boolean;
  /** ms since epoch of the last success. */
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
}

export interface CachePollerOptions {
  readonly intervalMs: number;
  /** Deadline of the Version call made when the connection drops (default 1 s). */
  readonly probeTimeoutMs?: number;
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
  #previous: Inventory | undefined;
  #status: SourceStatus = { up: false, synced: false, lastSync: undefined, lastError: undefined };
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #started = false;
  #stopped = false;
  /** Delays between retries of a failed listing. */
  readonly #retry = new Backoff({ initialMs: 200, maxMs: 2_000 });
  /** Successful listings so far: tells a Version answer older than the last listing. */
  #listings = 0;
  #unwatch: (() => void) | undefined;
  /** The runtime's last failed answer, whichever call got it. */
  #lastFailure: string | undefined;
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
  previousImageIds(): ImageIdSet | undefined {
    return this.#previous;
  }

  status(): SourceStatus {
    return this.#status;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#unwatch = this.#cri.onConnectionChange?.((connected) => {
      if (connected) this.#connected();
      else this.#connectionDropped();
    });
    this.#schedule(0);
  }

  /** Lists now (coalesced with a listing already under way), e.g. when a pod starts. */
  refresh(): Promise<void> {
    if (this.#inFlight !== undefined) {
      this.#again = true;
      return this.#inFlight;
    }
    this.#inFlight = this.#poll()
      .finally(() => {
        this.#inFlight = undefined;
      })
      .then((failure) => {
        this.#next(failure);
      });
    return this.#inFlight;
  }

  stop(): void {
    this.#stopped = true;
    this.#unwatch?.();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  /**
   * After a listing: the listing asked for meanwhile, or the next one at the interval after a
   * success, soon after a failure. An answer that would only come again (a response over the
   * size limit, one that cannot be decoded) costs the runtime a full listing each time: after
   * such an answer the next listing waits for the interval too.
   */
  #next(failure: CriError | undefined): void {
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      void this.refresh();
      return;
    }
    if (failure === undefined) this.#retry.reset();
    this.#schedule(
      failure === undefined || isLastingError(failure)
        ? this.#options.intervalMs
        : this.#retryDelay(),
    );
  }

  /** The next retry's delay: never later than the next listing would have come anyway. */
  #retryDelay(): number {
    return Math.min(this.#retry.next(), this.#options.intervalMs);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || !this.#started) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh();
    }, delayMs);
    this.#timer.unref();
  }

  /**
   * The runtime accepts connections again. While it is down, list at once: the retries alone
   * would wait up to 2 s more, since a call fails without trying while gRPC waits to reconnect.
   * A listing under way already goes through this connection.
   */
  #connected(): void {
    if (!this.#status.up && this.#inFlight === undefined) void this.refresh();
  }

  /**
   * The connection dropped: the runtime stopped, crashed or restarted. If it does not answer
   * Version within the probe deadline, it is down now; the retries take a listing as soon as
   * it is back. If it answers, it came back at once: list again, its cache may have changed.
   */
  #connectionDropped(): void {
    const listings = this.#listings;
    void this.#cri.version({ timeoutMs: this.#options.probeTimeoutMs ?? 1_000 }).then((answer) => {
      if (this.#stopped) return;
      if (answer.ok) {
        void this.refresh();
        return;
      }
      // Already down, or a listing succeeded since the connection dropped: nothing to report.
      if (!this.#status.up || this.#listings !== listings) return;
      this.#failed(answer.error);
      if (this.#inFlight === undefined) this.#schedule(this.#retryDelay());
    });
  }

  /**
   * Marks the source down with the error. It is reported (logged, counted) when the source was
   * up or the runtime's answer changed; which call got it (Version, ListImages) does not count.
   */
  #failed(error: CriError): void {
    const failure = `${error.kind}: ${error.message}`;
    const changed = this.#status.up || this.#lastFailure !== failure;
    this.#lastFailure = failure;
    this.#status = { ...this.#status, up: false, lastError: describeCriError(error) };
    if (changed) {
      this.#options.onError?.(error);
      this.#options.onChange();
    }
  }

  /** Lists the cache once; resolves to the error when the listing failed. */
  async #poll(): Promise<CriError | undefined> {
    const listing = await this.#cri.listImages();
    if (this.#stopped) return undefined;
    if (!listing.ok) {
      this.#failed(listing.error);
      return listing.error;
    }
    this.#listings += 1;
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
    this.#previous = first ? undefined : this.#inventory;
    this.#inventory = next;
    this.#options.onChange();
  }
}

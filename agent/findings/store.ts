// The findings currently true on this node, with when each was first and last seen.
// detect() is recomputed from scratch on every change; this store turns its answers into
// a history: new findings, retired findings, and first-seen times that survive restarts.
import type { DetectedFinding, Finding, Rule } from '../detect/finding.ts';
import { sameFields } from '../same-elements.ts';

/**
 * How long a lasting finding keeps its lastSeen before a reconcile that confirms it stamps it
 * again. Restamping means a new object per finding (and a new JSON text for the API), kept
 * until the next reconcile: under pod churn, with reconciles back to back, that was about a
 * quarter MiB per reconcile at 1,271 findings that outlived young GCs and so brought on full
 * ones. An idle agent reconciles every resync interval (60 s) and restamps each time.
 */
export const LAST_SEEN_STEP_MS = 30_000;

export interface FindingTimes {
  readonly firstSeen: string;
  readonly lastSeen: string;
}

export interface FindingsChange {
  readonly added: readonly Finding[];
  readonly retired: readonly Finding[];
  readonly active: readonly Finding[];
}

export class FindingsStore {
  #active = new Map<string, Finding>();
  /** First-seen times remembered from before a restart, for findings not yet re-detected. */
  readonly #remembered: Map<string, FindingTimes>;
  readonly #detectedTotal = new Map<Rule, number>();
  /** When the active findings' lastSeen was last stamped (none yet: undefined). */
  #stampedAt: number | undefined;

  constructor(remembered: ReadonlyMap<string, FindingTimes> = new Map()) {
    this.#remembered = new Map(remembered);
  }

  /** Replaces the active set with what detect() found now. */
  apply(detected: readonly DetectedFinding[], now: number): FindingsChange {
    const at = new Date(now).toISOString();
    const restamp = this.#stampedAt === undefined || now - this.#stampedAt >= LAST_SEEN_STEP_MS;
    if (restamp) this.#stampedAt = now;
    const next = new Map<string, Finding>();
    const added: Finding[] = [];
    let kept = 0;
    for (const d of detected) {
      if (next.has(d.id)) continue; // a rule may meet the same situation twice; report it once
      const previous = this.#active.get(d.id);
      if (previous !== undefined && !restamp && sameDetected(previous, d)) {
        next.set(d.id, previous);
        kept += 1;
        continue;
      }
      const remembered = this.#remembered.get(d.id);
      const firstSeen = previous?.firstSeen ?? remembered?.firstSeen ?? at;
      const finding = { ...d, firstSeen, lastSeen: at } as Finding;
      next.set(d.id, finding);
      if (previous === undefined) {
        if (remembered === undefined) {
          added.push(finding);
          this.#detectedTotal.set(d.rule, (this.#detectedTotal.get(d.rule) ?? 0) + 1);
        }
        this.#remembered.delete(d.id);
      }
    }
    // Every finding kept as it was: the map stays too, so nothing of this reconcile outlives it.
    if (kept === this.#active.size && kept === next.size)
      return { added, retired: [], active: [...this.#active.values()] };
    const retired = [...this.#active.values()].filter((f) => !next.has(f.id));
    this.#active = next;
    return { added, retired, active: [...next.values()] };
  }

  active(): readonly Finding[] {
    return [...this.#active.values()];
  }

  get(id: string): Finding | undefined {
    return this.#active.get(id);
  }

  /** Findings newly detected since start, by rule (the counter behind findings_detected_total). */
  detectedTotal(): ReadonlyMap<Rule, number> {
    return this.#detectedTotal;
  }

  /** What to persist so that first-seen times survive a restart. */
  times(): Map<string, FindingTimes> {
    const out = new Map<string, FindingTimes>(this.#remembered);
    for (const f of this.#active.values())
      out.set(f.id, { firstSeen: f.firstSeen, lastSeen: f.lastSeen });
    return out;
  }
}

/** The finding says what `detected` says (detection makes new objects every time). */
function sameDetected(finding: Finding, detected: DetectedFinding): boolean {
  // A finding is detected's fields plus firstSeen and lastSeen.
  return sameFields(
    detected as unknown as Readonly<Record<string, unknown>>,
    finding as unknown as Readonly<Record<string, unknown>>,
    2,
  );
}

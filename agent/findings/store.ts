// The findings currently true on this node, with when each was first and last seen.
// detect() is recomputed from scratch on every change; this store turns its answers into
// a history: new findings, retired findings, and first-seen times that survive restarts.
import type { DetectedFinding, Finding, Rule } from '../detect/finding.ts';

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

  constructor(remembered: ReadonlyMap<string, FindingTimes> = new Map()) {
    this.#remembered = new Map(remembered);
  }

  /** Replaces the active set with what detect() found now. */
  apply(detected: readonly DetectedFinding[], now: number): FindingsChange {
    const at = new Date(now).toISOString();
    const next = new Map<string, Finding>();
    const added: Finding[] = [];
    for (const d of detected) {
      if (next.has(d.id)) continue; // a rule may meet the same situation twice; report it once
      const previous = this.#active.get(d.id);
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

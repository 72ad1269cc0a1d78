// A prom-client Registry that renders a family again only when what it is computed from
// changed. pullwatch_finding_info is hundreds of series with nine labels each: building their
// label objects and escaping them into text was most of a scrape's CPU, for an answer that
// changes only when the findings do. Families without inputs are rendered on every scrape, as
// prom-client does.
import { Registry } from 'prom-client';
import { sameElements } from '../same-elements.ts';

interface Rendered {
  readonly inputs: readonly unknown[];
  readonly text: string;
}

interface Memo {
  readonly inputsOf: () => readonly unknown[];
  last: Rendered | undefined;
}

export class MemoRegistry extends Registry {
  readonly #memos = new Map<string, Memo>();

  /**
   * Renders the family `name` again only when `inputsOf()` returns elements that differ (by
   * identity) from those of its last rendering. The family's collect() must read nothing else
   * that changes: the view's findings and images are immutable values, replaced when they change.
   */
  renderOncePer(name: string, inputsOf: () => readonly unknown[]): void {
    this.#memos.set(name, { inputsOf, last: undefined });
  }

  override async getSingleMetricAsString(name: string): Promise<string> {
    const memo = this.#memos.get(name);
    if (memo === undefined) return super.getSingleMetricAsString(name);
    // Inputs read before rendering: if they change while it runs, the next scrape renders again.
    const inputs = memo.inputsOf();
    if (memo.last !== undefined && sameElements(memo.last.inputs, inputs)) return memo.last.text;
    const text = await super.getSingleMetricAsString(name);
    // A copy: an inputs array changed in place must not look like the one rendered.
    memo.last = { inputs: [...inputs], text };
    return text;
  }

  /**
   * The exposition text, laid out exactly as prom-client's Registry.metrics() lays out the
   * Prometheus text format (the content type of a Registry made without arguments).
   */
  override async metrics(): Promise<string> {
    const families = await Promise.all(
      this.getMetricsAsArray().map((metric) => this.getSingleMetricAsString(metric.name)),
    );
    return `${families.join('\n\n')}\n`;
  }
}

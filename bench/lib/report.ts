// BENCHMARKS.md: a header with the summary of targets, then one section per benchmark between
// markers. A run of some benchmarks replaces their sections and keeps the others (each section
// names when and where it was measured); text after the notes marker is kept as written.
import { readFile, writeFile } from 'node:fs/promises';
import type { Benchmark, BenchResult, TargetCheck } from './benchmark.ts';
import { verdict } from './benchmark.ts';

const NOTES_MARKER = '<!-- notes: kept as written by bench/run.ts -->';

interface Section {
  readonly name: string;
  readonly text: string;
  readonly targets: readonly TargetCheck[];
}

function sectionText(benchmark: Benchmark, result: BenchResult): string {
  return [
    `<!-- bench:${benchmark.name} -->`,
    `<!-- targets: ${JSON.stringify(result.targets)} -->`,
    `## ${benchmark.title}`,
    '',
    result.body.trim(),
    '',
    `<!-- /bench:${benchmark.name} -->`,
  ].join('\n');
}

function previousSections(text: string): Map<string, Section> {
  const out = new Map<string, Section>();
  const pattern = /<!-- bench:([\w-]+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g;
  for (const match of text.matchAll(pattern)) {
    const [whole, name = ''] = match;
    const targetsLine = /<!-- targets: (.*) -->/.exec(whole)?.[1];
    let targets: TargetCheck[] = [];
    try {
      targets = targetsLine === undefined ? [] : (JSON.parse(targetsLine) as TargetCheck[]);
    } catch {
      targets = [];
    }
    out.set(name, { name, text: whole, targets });
  }
  return out;
}

export async function writeReport(
  path: string,
  benchmarks: readonly Benchmark[],
  results: ReadonlyMap<string, BenchResult>,
  header: string,
): Promise<void> {
  let previous = '';
  try {
    previous = await readFile(path, 'utf8');
  } catch {
    previous = '';
  }
  const kept = previousSections(previous);
  const notesAt = previous.indexOf(NOTES_MARKER);
  const notes = notesAt >= 0 ? previous.slice(notesAt + NOTES_MARKER.length).trim() : '## Notes\n';
  const sections: Section[] = [];
  for (const b of benchmarks) {
    const result = results.get(b.name);
    if (result !== undefined) {
      sections.push({ name: b.name, text: sectionText(b, result), targets: result.targets });
    } else {
      const old = kept.get(b.name);
      if (old !== undefined) sections.push(old);
    }
  }
  const summary = [
    '| benchmark | figure | target | measured | verdict |',
    '| --- | --- | --- | --- | --- |',
    ...sections.flatMap((s) => {
      const title = benchmarks.find((b) => b.name === s.name)?.title ?? s.name;
      return s.targets.map(
        (t) => `| ${title} | ${t.figure} | ${t.target} | ${t.measured} | ${verdict(t.met)} |`,
      );
    }),
  ];
  const text = [
    header.trim(),
    '',
    '## Targets',
    '',
    ...summary,
    '',
    ...sections.map((s) => `${s.text}\n`),
    NOTES_MARKER,
    '',
    notes,
    '',
  ].join('\n');
  await writeFile(path, text);
}

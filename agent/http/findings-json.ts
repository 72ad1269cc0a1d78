// The JSON text of /api/v1/findings answers, with each finding serialized once. A finding is an
// immutable value that the agent replaces when anything in it changes, so its text is kept as
// long as the finding itself: pollers asking for the whole list again (a 1,000-finding node
// answers 1.6 MB) pay for joining the texts, not for serializing every finding again.
import type { Finding } from '../detect/finding.ts';

const findingTexts = new WeakMap<Finding, string>();

/** JSON.stringify(finding), computed once per finding object. */
export function findingJsonText(finding: Finding): string {
  let text = findingTexts.get(finding);
  if (text === undefined) {
    text = JSON.stringify(finding);
    findingTexts.set(finding, text);
  }
  return text;
}

/** Exactly the text of JSON.stringify({ items, stale }). */
export function findingsListJson(items: readonly Finding[], stale: boolean): string {
  return `{"items":[${items.map(findingJsonText).join(',')}],"stale":${String(stale)}}`;
}

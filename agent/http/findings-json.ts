// The JSON text of /api/v1/findings answers, with each finding serialized once. A finding is an
// immutable value that the agent replaces when anything in it changes, so its text is kept as
// long as the finding itself: pollers asking for the whole list again (a 1,000-finding node
// answers 1.6 MB) pay for joining the texts, not for serializing every finding again.
import { placeOf, type Finding, type FindingPlace } from '../detect/finding.ts';

/**
 * A finding as the API serves it (docs/openapi.yaml): every rule names the same fields, with
 * null (or no owners) for what the rule has none of, so a client reads one shape.
 */
export function findingJson(finding: Finding): FindingJson {
  // The finding's own fields in its own order, then the place fields its rule lacks.
  return { ...placeOf(finding), ...finding };
}

/** A finding as /api/v1/findings serves it: its rule's fields and every place field. */
export type FindingJson = Finding & FindingPlace;

const findingTexts = new WeakMap<Finding, string>();

/** JSON.stringify(findingJson(finding)), computed once per finding object. */
export function findingJsonText(finding: Finding): string {
  let text = findingTexts.get(finding);
  if (text === undefined) {
    text = JSON.stringify(findingJson(finding));
    findingTexts.set(finding, text);
  }
  return text;
}

/** Exactly the text of JSON.stringify({ items, stale }). */
export function findingsListJson(items: readonly Finding[], stale: boolean): string {
  return `{"items":[${items.map(findingJsonText).join(',')}],"stale":${String(stale)}}`;
}

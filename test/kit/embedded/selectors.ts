// fieldSelector and labelSelector: parsing (grammar of k8s.io/apimachinery
// pkg/fields/selector.go and pkg/labels/selector.go) and matching.

import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import type { KubeObject } from './objects.ts';
import type { ResourceType } from './resources.ts';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

export type LabelOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

/** Splits on commas that are not escaped with a backslash, keeping escapes in place. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let current = '';
  let escaped = false;
  for (const ch of text) {
    if (escaped) {
      current += ch;
      escaped = false;
    } else if (ch === '\\') {
      current += ch;
      escaped = true;
    } else if (ch === ',') {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms;
}

function unescapeValue(value: string): Result<string, string> {
  let out = '';
  let escaped = false;
  for (const ch of value) {
    if (escaped) {
      if (ch !== '\\' && ch !== ',' && ch !== '=')
        return err(`invalid escape sequence in ${value}`);
      out += ch;
      escaped = false;
    } else if (ch === '\\') {
      escaped = true;
    } else if (ch === ',' || ch === '=') {
      return err(`invalid selector: unescaped ${ch} in ${value}`);
    } else {
      out += ch;
    }
  }
  if (escaped) return err(`invalid escape sequence in ${value}`);
  return ok(out);
}

/** Finds the first unescaped occurrence of `needle`. */
function indexUnescaped(text: string, needle: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      i++;
      continue;
    }
    if (text.startsWith(needle, i)) return i;
  }
  return -1;
}

export function parseFieldSelector(text: string): Result<FieldRequirement[], string> {
  if (text.trim() === '') return ok([]);
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(text)) {
    if (term === '') continue;
    let parsed: FieldRequirement | undefined;
    for (const operator of ['!=', '==', '='] as const) {
      const at = indexUnescaped(term, operator);
      if (at < 0) continue;
      const value = unescapeValue(term.slice(at + operator.length));
      if (!value.ok) return err(`invalid selector: '${text}'; ${value.error}`);
      parsed = {
        field: term.slice(0, at).trim(),
        operator: operator === '!=' ? '!=' : '=',
        value: value.value,
      };
      break;
    }
    if (!parsed || parsed.field === '') {
      return err(`invalid selector: '${text}'; can't understand '${term}'`);
    }
    requirements.push(parsed);
  }
  return ok(requirements);
}

/** The real server refuses unknown field labels before it looks at any object. */
export function checkFieldLabels(
  rt: ResourceType,
  requirements: readonly FieldRequirement[],
): Result<void, string> {
  for (const r of requirements) {
    if (!rt.fields.has(r.field)) return err(`field label not supported: ${r.field}`);
  }
  return ok(undefined);
}

type Token =
  | { readonly kind: 'word'; readonly text: string }
  | { readonly kind: 'op'; readonly text: '(' | ')' | ',' | '=' | '==' | '!=' | '!' };

const wordChar = /[^\s,()=!]/;

function tokenizeLabels(text: string): Result<Token[], string> {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: 'op', text: ch });
      i++;
    } else if (ch === '=') {
      const double = text[i + 1] === '=';
      tokens.push({ kind: 'op', text: double ? '==' : '=' });
      i += double ? 2 : 1;
    } else if (ch === '!') {
      const ne = text[i + 1] === '=';
      tokens.push({ kind: 'op', text: ne ? '!=' : '!' });
      i += ne ? 2 : 1;
    } else {
      let word = '';
      while (i < text.length && wordChar.test(text[i] ?? '')) word += text[i++] ?? '';
      if (word === '') return err(`unable to parse requirement: unexpected character '${ch}'`);
      tokens.push({ kind: 'word', text: word });
    }
  }
  return ok(tokens);
}

// Qualified names and label values as validated by apimachinery (util/validation).
const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export function parseLabelSelector(text: string): Result<LabelRequirement[], string> {
  const tokenized = tokenizeLabels(text);
  if (!tokenized.ok) return tokenized;
  const tokens = tokenized.value;
  const requirements: LabelRequirement[] = [];
  let i = 0;
  const fail = (why: string): Result<LabelRequirement[], string> =>
    err(`unable to parse requirement: ${why} in '${text}'`);
  const peek = (): Token | undefined => tokens[i];
  const isOp = (t: Token | undefined, op: string): boolean => t?.kind === 'op' && t.text === op;
  const atEnd = (): boolean => i >= tokens.length || isOp(peek(), ',');
  const checkKey = (key: string): string | undefined =>
    labelKey.test(key) ? undefined : `invalid label key "${key}"`;
  const checkValue = (value: string): string | undefined =>
    labelValue.test(value) ? undefined : `invalid label value: "${value}"`;

  while (i < tokens.length) {
    const first = tokens[i++];
    if (isOp(first, '!')) {
      const key = tokens[i++];
      if (key?.kind !== 'word') return fail('expected a key after !');
      const bad = checkKey(key.text);
      if (bad) return fail(bad);
      requirements.push({ key: key.text, operator: '!exists', values: [] });
    } else if (first?.kind === 'word') {
      const key = first.text;
      const bad = checkKey(key);
      if (bad) return fail(bad);
      const next = peek();
      if (atEnd()) {
        requirements.push({ key, operator: 'exists', values: [] });
      } else if (isOp(next, '=') || isOp(next, '==') || isOp(next, '!=')) {
        i++;
        let value = '';
        if (!atEnd()) {
          const v = tokens[i++];
          if (v?.kind !== 'word') return fail(`expected a value for ${key}`);
          value = v.text;
        }
        const badValue = checkValue(value);
        if (badValue) return fail(badValue);
        requirements.push({ key, operator: isOp(next, '!=') ? '!=' : '=', values: [value] });
      } else if (next?.kind === 'word' && (next.text === 'in' || next.text === 'notin')) {
        i++;
        if (!isOp(tokens[i++], '(')) return fail(`expected ( after ${next.text}`);
        const values: string[] = [];
        for (;;) {
          const t = tokens[i];
          if (t?.kind === 'word') {
            const badValue = checkValue(t.text);
            if (badValue) return fail(badValue);
            values.push(t.text);
            i++;
          } else if (values.length === 0 && isOp(t, ')')) {
            return fail(`the values of ${key} ${next.text} () cannot be empty`);
          } else {
            values.push('');
          }
          const sep = tokens[i++];
          if (isOp(sep, ')')) break;
          if (!isOp(sep, ',')) return fail(`expected , or ) in the values of ${key}`);
        }
        requirements.push({ key, operator: next.text, values });
      } else {
        return fail(`unexpected token after ${key}`);
      }
    } else {
      return fail('expected a key');
    }
    if (i < tokens.length) {
      if (!isOp(tokens[i], ',')) return fail('expected ,');
      i++;
      if (i >= tokens.length) return fail('trailing ,');
    }
  }
  return ok(requirements);
}

export function matchesFields(
  rt: ResourceType,
  requirements: readonly FieldRequirement[],
  obj: KubeObject,
): boolean {
  return requirements.every((r) => {
    const actual = rt.fields.get(r.field)?.(obj) ?? '';
    return r.operator === '=' ? actual === r.value : actual !== r.value;
  });
}

export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return requirements.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const value = has ? labels[r.key] : undefined;
    switch (r.operator) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
      case 'in':
        return value !== undefined && r.values.includes(value);
      case '!=':
      case 'notin':
        return value === undefined || !r.values.includes(value);
    }
    return false;
  });
}

/** Everything a list or watch narrows by: its namespace (from the URL) and selectors. */
export interface ObjectFilter {
  readonly namespace?: string;
  readonly fields: readonly FieldRequirement[];
  readonly labels: readonly LabelRequirement[];
}

export const everything: ObjectFilter = { fields: [], labels: [] };

export function matchesFilter(rt: ResourceType, filter: ObjectFilter, obj: KubeObject): boolean {
  if (filter.namespace && obj.metadata.namespace !== filter.namespace) return false;
  return matchesFields(rt, filter.fields, obj) && matchesLabels(filter.labels, obj.metadata.labels);
}

export interface SelectorText {
  readonly namespace?: string | undefined;
  readonly fieldSelector?: string | undefined;
  readonly labelSelector?: string | undefined;
}

export function compileFilter(rt: ResourceType, text: SelectorText): Result<ObjectFilter, string> {
  const fieldReqs = parseFieldSelector(text.fieldSelector ?? '');
  if (!fieldReqs.ok) return fieldReqs;
  const supported = checkFieldLabels(rt, fieldReqs.value);
  if (!supported.ok) return supported;
  const labelReqs = parseLabelSelector(text.labelSelector ?? '');
  if (!labelReqs.ok) return labelReqs;
  return ok({
    ...(text.namespace ? { namespace: text.namespace } : {}),
    fields: fieldReqs.value,
    labels: labelReqs.value,
  });
}

// Query strings are parsed strictly: a parameter the endpoint does not know, one given twice,
// or one without a value is a 400 naming it, so a typo (`?severty=high`) never silently
// returns everything.
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

/** The body of every 400 answer. */
export interface ParameterError {
  readonly error: string;
  readonly parameter: string;
}

/** The query part of a request target (`/path?a=1` -> `a=1`), without the fragment. */
export function rawQuery(target: string): string {
  const start = target.indexOf('?');
  return start === -1 ? '' : target.slice(start + 1);
}

/** Each known parameter's single value; refuses unknown, repeated and empty parameters. */
export function parseQuery(
  query: string,
  allowed: readonly string[],
): Result<ReadonlyMap<string, string>, ParameterError> {
  const values = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(query)) {
    if (!allowed.includes(name)) {
      const known = allowed.length === 0 ? 'none' : allowed.join(', ');
      return err({
        error: `unknown query parameter (this endpoint takes: ${known})`,
        parameter: name,
      });
    }
    if (values.has(name)) {
      return err({ error: 'query parameter given more than once', parameter: name });
    }
    if (value === '') return err({ error: 'query parameter has no value', parameter: name });
    values.set(name, value);
  }
  return ok(values);
}

/** `value` when it is one of `choices`, else a 400 listing them. */
export function oneOf<T extends string>(
  parameter: string,
  value: string,
  choices: readonly T[],
): Result<T, ParameterError> {
  return (choices as readonly string[]).includes(value)
    ? ok(value as T)
    : err({ error: `must be one of: ${choices.join(', ')}`, parameter });
}

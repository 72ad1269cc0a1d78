// The index answers prefix queries from a sorted copy; the oracle is the plain reading of
// digestset.Lookup: every ID whose hex starts with the query (and whose algorithm matches).
import fc from 'fast-check';
import t from 'tap';
import type { ImageId } from './digest.ts';
import { ImageIdIndex, type ImageIdLookup } from './image-id-index.ts';

function oracle(ids: readonly ImageId[], algorithm: string, hex: string): ImageIdLookup {
  if (hex === '') return { kind: 'missing' };
  const split = ids.map((id) => {
    const colon = id.indexOf(':');
    return colon === -1
      ? { id, algorithm: '', hex: id }
      : { id, algorithm: id.slice(0, colon), hex: id.slice(colon + 1) };
  });
  const candidates = split.filter(
    (e) => e.hex.startsWith(hex) && (algorithm === '' || e.algorithm === algorithm),
  );
  const exact = candidates.filter((e) => e.hex.length === hex.length);
  const chosen = exact.length > 0 ? exact : candidates;
  if (chosen.length === 0) return { kind: 'missing' };
  if (chosen.length === 1 && chosen[0] !== undefined)
    return { kind: 'found', id: chosen[0].id, exact: exact.length > 0 };
  return { kind: 'ambiguous', candidates: chosen.map((e) => e.id) };
}

t.test('prefix lookups agree with a linear scan, candidates in listing order', async (t) => {
  const hexArb = fc.string({
    unit: fc.constantFrom('a', 'b', '0', '1'),
    minLength: 1,
    maxLength: 4,
  });
  // Queries and, now and then, IDs with characters that are not lowercase hex (image names the
  // kubelet also tries as ID prefixes; a runtime's odd ID): the index skips some of its work then.
  const oddArb = fc.string({
    unit: fc.constantFrom('a', 'b', '0', '1', 'x', '/', 'A'),
    minLength: 1,
    maxLength: 4,
  });
  const idArb = fc
    .tuple(
      fc.constantFrom('sha256:', 'sha512:', ''),
      fc.oneof({ weight: 4, arbitrary: hexArb }, { weight: 1, arbitrary: oddArb }),
    )
    .map(([algorithm, hex]) => `${algorithm}${hex}` as ImageId);
  fc.assert(
    fc.property(
      fc.uniqueArray(idArb, { maxLength: 12 }),
      fc.constantFrom('', 'sha256', 'sha512'),
      fc.oneof(hexArb, oddArb),
      (ids, algorithm, hex) => {
        const query = algorithm === '' ? hex : `${algorithm}:${hex}`;
        t.same(
          new ImageIdIndex(ids.map((id) => ({ id }))).lookup(query),
          oracle(ids, algorithm, hex),
          query,
        );
      },
    ),
    { numRuns: 500 },
  );
});

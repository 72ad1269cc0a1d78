// A LayeredMap answers as a plain Map that had the same changes applied, whatever the overlay
// bound, and an earlier generation is left as it was.
import fc from 'fast-check';
import t from 'tap';
import { LayeredMap } from './layered-map.ts';

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
// undefined deletes the key; a number sets it.
const changesArb = fc.array(fc.tuple(keyArb, fc.option(fc.integer(), { nil: undefined })), {
  maxLength: 5,
});

t.test('answers as a Map with the same changes, across generations and folds', async (t) => {
  for (const maxOverlay of [1, 3, 256]) {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArb, fc.integer()), { maxLength: 6 }),
        fc.array(changesArb, { maxLength: 8 }),
        (start, generations) => {
          let expected = new Map(start);
          let layered = LayeredMap.of(new Map(start));
          const history: [LayeredMap<string, number>, Map<string, number>][] = [];
          for (const changes of generations) {
            history.push([layered, expected]);
            layered = layered.with(new Map(changes), maxOverlay);
            expected = new Map(expected);
            for (const [key, value] of new Map(changes)) {
              if (value === undefined) expected.delete(key);
              else expected.set(key, value);
            }
          }
          history.push([layered, expected]);
          for (const [map, want] of history)
            for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'z']) {
              if (map.get(key) !== want.get(key) || map.has(key) !== want.has(key)) return false;
            }
          return true;
        },
      ),
      { numRuns: 300 },
    );
    t.pass(`overlay bound ${maxOverlay}`);
  }
});

t.test('no changes: the same map', async (t) => {
  const map = LayeredMap.of(new Map([['a', 1]]));
  t.equal(map.with(new Map()), map);
});

import t from 'tap';
import { byCodeUnits } from './code-unit-order.ts';

// Named cases where the code-unit order and a locale's collation disagree, and the equal case.
const CASES: readonly { name: string; a: string; b: string; sign: -1 | 0 | 1 }[] = [
  { name: 'upper case before lower case', a: 'Zed', b: 'alpha', sign: -1 },
  { name: 'digits before letters', a: '9tenant', b: 'a', sign: -1 },
  { name: 'an accented letter after z', a: 'é', b: 'z', sign: 1 },
  { name: 'a prefix first', a: 'team', b: 'team-a', sign: -1 },
  { name: 'equal strings', a: 'same', b: 'same', sign: 0 },
  { name: 'the empty string first', a: '', b: 'a', sign: -1 },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    t.equal(Math.sign(byCodeUnits(c.a, c.b)), c.sign);
    t.equal(Math.sign(byCodeUnits(c.b, c.a)), -c.sign || 0, 'antisymmetric');
    t.same(
      [c.b, c.a].sort(byCodeUnits),
      [c.a, c.b].sort(),
      'the order of sort() without a comparator',
    );
  });
}

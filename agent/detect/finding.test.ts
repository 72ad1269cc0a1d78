import { createHash } from 'node:crypto';
import t from 'tap';
import { findingId } from './finding.ts';

// Finding IDs are what users bookmark, silence and join on: they must not change across
// agent versions. This is the scheme of the first release, written out.
t.test(
  'finding IDs are the first 20 hex digits of sha256(rule NUL part NUL part ...)',
  async (t) => {
    const cases: readonly (readonly [Parameters<typeof findingId>[0], ...string[]])[] = [
      ['unauthorized-cached-image-use', 'node-1', 'uid-1', 'app', 'sha256:abc'],
      ['private-image-exposed', 'node-1', 'sha256:abc'],
      ['always-pull-images-not-enforced', 'node-1'],
    ];
    for (const [rule, ...parts] of cases) {
      const expected = createHash('sha256')
        .update([rule, ...parts].join('\0'))
        .digest('hex')
        .slice(0, 20);
      t.equal(findingId(rule, ...parts), expected, rule);
      t.equal(findingId(rule, ...parts), expected, `${rule}, asked again`);
    }
  },
);

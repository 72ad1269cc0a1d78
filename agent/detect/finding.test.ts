import { createHash } from 'node:crypto';
import t from 'tap';
import { findingId, type Rule } from './finding.ts';
import { DetectionMemory } from './memory.ts';

// Finding IDs are what users bookmark, silence and join on: they must not change across
// agent versions. This is the scheme of the first release, written out.
t.test(
  'finding IDs are the first 20 hex digits of sha256(rule NUL part NUL part ...)',
  async (t) => {
    const cases: readonly (readonly [Rule, ...string[]])[] = [
      ['unauthorized-cached-image-use', 'node-1', 'uid-1', 'app', 'sha256:abc'],
      ['private-image-exposed', 'node-1', 'sha256:abc'],
      ['always-pull-images-not-enforced', 'node-1'],
    ];
    for (const [rule, ...parts] of cases) {
      const expected = createHash('sha256')
        .update([rule, ...parts].join('\0'))
        .digest('hex')
        .slice(0, 20);
      const memory = new DetectionMemory();
      t.equal(findingId(undefined, rule, ...parts), expected, rule);
      t.equal(findingId(memory, rule, ...parts), expected, `${rule}, remembered`);
      t.equal(findingId(memory, rule, ...parts), expected, `${rule}, asked again`);
    }
  },
);

import t from 'tap';
import { effectivePullPolicy } from './pull-policy.ts';

const cases = [
  { name: 'no tag defaults to Always', image: 'nginx', declared: undefined, want: 'Always' },
  {
    name: ':latest defaults to Always',
    image: 'nginx:latest',
    declared: undefined,
    want: 'Always',
  },
  {
    name: 'a version tag defaults to IfNotPresent',
    image: 'nginx:1.27',
    declared: undefined,
    want: 'IfNotPresent',
  },
  {
    name: 'a digest defaults to IfNotPresent',
    image: `nginx@sha256:${'a'.repeat(64)}`,
    declared: undefined,
    want: 'IfNotPresent',
  },
  {
    name: 'latest plus digest defaults to IfNotPresent',
    image: `nginx:latest@sha256:${'a'.repeat(64)}`,
    declared: undefined,
    want: 'IfNotPresent',
  },
  {
    name: 'registry with a port and no tag is Always',
    image: 'localhost:5000/app',
    declared: undefined,
    want: 'Always',
  },
  { name: 'an explicit Never is kept', image: 'nginx:latest', declared: 'Never', want: 'Never' },
  { name: 'an explicit Always is kept', image: 'nginx:1.27', declared: 'Always', want: 'Always' },
  { name: 'an empty string is unset', image: 'nginx:1.27', declared: '', want: 'IfNotPresent' },
  {
    name: 'an unknown value counts as using the cache',
    image: 'nginx',
    declared: 'Sometimes',
    want: 'IfNotPresent',
  },
] as const;

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(effectivePullPolicy(c.image, c.declared), c.want);
  });
}

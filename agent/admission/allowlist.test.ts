import t from 'tap';
import { isAllowlisted, parseImageAllowlist } from './allowlist.ts';

// Validation as the kubelet's getAllowlistImagePattern (image_pull_policies.go).
const patterns: readonly { name: string; patterns: string[]; error?: RegExp }[] = [
  { name: 'a full name', patterns: ['docker.io/library/nginx'] },
  { name: 'a registry wildcard', patterns: ['registry.example.com/*'] },
  { name: 'a path wildcard', patterns: ['registry.example.com/base/*'] },
  { name: 'a registry with a port', patterns: ['127.0.0.1:5000/base/*'] },
  { name: 'an empty list', patterns: [] },
  { name: 'a short name the kubelet refuses', patterns: ['nginx'], error: /written in full/ },
  { name: 'a tag', patterns: ['docker.io/library/nginx:1.27'], error: /neither tag nor digest/ },
  {
    name: 'a digest',
    patterns: [`docker.io/library/nginx@sha256:${'a'.repeat(64)}`],
    error: /neither tag nor digest/,
  },
  {
    name: 'a star in the middle',
    patterns: ['registry.example.com/*/app'],
    error: /only patterns ending/,
  },
  {
    name: 'a star without a slash',
    patterns: ['registry.example.com*'],
    error: /only patterns ending/,
  },
  { name: 'only a wildcard', patterns: ['/*'], error: /registry hostname/ },
  { name: 'an empty pattern', patterns: [''], error: /too short/ },
  { name: 'spaces around', patterns: [' registry.example.com/*'], error: /spaces/ },
  { name: 'not an image name', patterns: ['Registry.example.com/UPPER'], error: /failed to parse/ },
];

t.test('allowlist patterns are validated as the kubelet validates them', async (t) => {
  for (const c of patterns) {
    const parsed = parseImageAllowlist(c.patterns);
    if (c.error === undefined) t.ok(parsed.ok, c.name);
    else t.match(parsed.ok ? '' : parsed.error, c.error, c.name);
  }
});

const matches: readonly { name: string; patterns: string[]; image: string; expected: boolean }[] = [
  {
    name: 'exact name, short image',
    patterns: ['docker.io/library/nginx'],
    image: 'nginx:1.27',
    expected: true,
  },
  {
    name: 'exact name, digest image',
    patterns: ['docker.io/library/nginx'],
    image: `nginx@sha256:${'b'.repeat(64)}`,
    expected: true,
  },
  {
    name: 'exact name is not a prefix',
    patterns: ['docker.io/library/nginx'],
    image: 'docker.io/library/nginx-extra:1',
    expected: false,
  },
  {
    name: 'registry wildcard',
    patterns: ['registry.example.com/*'],
    image: 'registry.example.com/team-a/app:v1',
    expected: true,
  },
  {
    name: 'path wildcard',
    patterns: ['registry.example.com/base/*'],
    image: 'registry.example.com/base/os:1',
    expected: true,
  },
  {
    name: 'path wildcard ends at a slash',
    patterns: ['registry.example.com/base/*'],
    image: 'registry.example.com/base-other/os:1',
    expected: false,
  },
  {
    name: 'path wildcard does not match the path itself',
    patterns: ['registry.example.com/base/*'],
    image: 'registry.example.com/base:1',
    expected: false,
  },
  {
    name: 'another registry',
    patterns: ['registry.example.com/*'],
    image: 'ghcr.io/acme/app:1',
    expected: false,
  },
  {
    name: 'docker.io wildcard reaches short names',
    patterns: ['docker.io/library/*'],
    image: 'busybox:1.36',
    expected: true,
  },
  {
    name: 'an unparsable image never matches',
    patterns: ['docker.io/*'],
    image: 'UPPER/case:1',
    expected: false,
  },
  { name: 'an empty list matches nothing', patterns: [], image: 'nginx:1', expected: false },
];

t.test('allow-listed images match as the kubelet matches them', async (t) => {
  for (const c of matches) {
    const parsed = parseImageAllowlist(c.patterns);
    if (!parsed.ok) throw new Error(parsed.error);
    t.equal(isAllowlisted(parsed.value, c.image), c.expected, c.name);
  }
});

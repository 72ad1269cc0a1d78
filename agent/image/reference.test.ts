import t from 'tap';
import {
  familiarReference,
  formatReference,
  normalizedReference,
  parseDigest,
  parseDockerRef,
  parseImageId,
  parseImageReference,
  parseRepoDigest,
  parseRepoTag,
  stripRuntimePrefix,
  type ReferenceErrorKind,
} from './reference.ts';

const hex64 = '0123456789abcdef'.repeat(4);
const otherHex64 = 'fedcba9876543210'.repeat(4);
const hex96 = '0123456789abcdef'.repeat(6);
const hex128 = '0123456789abcdef'.repeat(8);
const sha = `sha256:${hex64}`;

interface Accepted {
  readonly name: string;
  readonly input: string;
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** containerd's ParseDockerRef string. */
  readonly normalized: string;
  readonly familiar: string;
}

const accepted: readonly Accepted[] = [
  {
    name: 'a bare official image name',
    input: 'nginx',
    registry: 'docker.io',
    repository: 'library/nginx',
    normalized: 'docker.io/library/nginx:latest',
    familiar: 'nginx',
  },
  {
    name: 'an official image with its library/ namespace',
    input: 'library/nginx',
    registry: 'docker.io',
    repository: 'library/nginx',
    normalized: 'docker.io/library/nginx:latest',
    familiar: 'nginx',
  },
  {
    name: 'docker.io without library/ gets library/',
    input: 'docker.io/nginx',
    registry: 'docker.io',
    repository: 'library/nginx',
    normalized: 'docker.io/library/nginx:latest',
    familiar: 'nginx',
  },
  {
    name: 'the legacy index.docker.io is docker.io',
    input: 'index.docker.io/library/nginx',
    registry: 'docker.io',
    repository: 'library/nginx',
    normalized: 'docker.io/library/nginx:latest',
    familiar: 'nginx',
  },
  {
    name: 'a tagged official image',
    input: 'nginx:1.27',
    registry: 'docker.io',
    repository: 'library/nginx',
    tag: '1.27',
    normalized: 'docker.io/library/nginx:1.27',
    familiar: 'nginx:1.27',
  },
  {
    name: 'a Docker Hub user image',
    input: 'bitnami/redis:7.2',
    registry: 'docker.io',
    repository: 'bitnami/redis',
    tag: '7.2',
    normalized: 'docker.io/bitnami/redis:7.2',
    familiar: 'bitnami/redis:7.2',
  },
  {
    name: 'localhost is always a registry',
    input: 'localhost/foo',
    registry: 'localhost',
    repository: 'foo',
    normalized: 'localhost/foo:latest',
    familiar: 'localhost/foo',
  },
  {
    name: 'localhost with a port',
    input: 'localhost:5000/foo',
    registry: 'localhost:5000',
    repository: 'foo',
    normalized: 'localhost:5000/foo:latest',
    familiar: 'localhost:5000/foo',
  },
  {
    name: 'an IPv4 registry with port, two path components and a tag',
    input: '127.0.0.1:5000/a/b:tag',
    registry: '127.0.0.1:5000',
    repository: 'a/b',
    tag: 'tag',
    normalized: '127.0.0.1:5000/a/b:tag',
    familiar: '127.0.0.1:5000/a/b:tag',
  },
  {
    name: 'a registry with a port but no tag',
    input: 'registry.example.com:5000/team/app',
    registry: 'registry.example.com:5000',
    repository: 'team/app',
    normalized: 'registry.example.com:5000/team/app:latest',
    familiar: 'registry.example.com:5000/team/app',
  },
  {
    name: 'a host name with a port is a registry even without a dot',
    input: 'myregistry:5000/app',
    registry: 'myregistry:5000',
    repository: 'app',
    normalized: 'myregistry:5000/app:latest',
    familiar: 'myregistry:5000/app',
  },
  {
    name: 'an IPv6 registry with port',
    input: '[::1]:5000/app:v1',
    registry: '[::1]:5000',
    repository: 'app',
    tag: 'v1',
    normalized: '[::1]:5000/app:v1',
    familiar: '[::1]:5000/app:v1',
  },
  {
    name: 'tag and digest: the digest decides and the tag is dropped',
    input: `nginx:1.27@${sha}`,
    registry: 'docker.io',
    repository: 'library/nginx',
    tag: '1.27',
    digest: sha,
    normalized: `docker.io/library/nginx@${sha}`,
    familiar: `nginx:1.27@${sha}`,
  },
  {
    name: 'digest only',
    input: `nginx@${sha}`,
    registry: 'docker.io',
    repository: 'library/nginx',
    digest: sha,
    normalized: `docker.io/library/nginx@${sha}`,
    familiar: `nginx@${sha}`,
  },
  {
    name: 'a ghcr.io image by digest',
    input: `ghcr.io/org/img@${sha}`,
    registry: 'ghcr.io',
    repository: 'org/img',
    digest: sha,
    normalized: `ghcr.io/org/img@${sha}`,
    familiar: `ghcr.io/org/img@${sha}`,
  },
  {
    name: 'a sha512 digest',
    input: `quay.io/org/img@sha512:${hex128}`,
    registry: 'quay.io',
    repository: 'org/img',
    digest: `sha512:${hex128}`,
    normalized: `quay.io/org/img@sha512:${hex128}`,
    familiar: `quay.io/org/img@sha512:${hex128}`,
  },
  {
    name: 'a sha384 digest',
    input: `quay.io/org/img@sha384:${hex96}`,
    registry: 'quay.io',
    repository: 'org/img',
    digest: `sha384:${hex96}`,
    normalized: `quay.io/org/img@sha384:${hex96}`,
    familiar: `quay.io/org/img@sha384:${hex96}`,
  },
  {
    name: 'many path components',
    input: 'gcr.io/project/team/sub/app:v1.2.3',
    registry: 'gcr.io',
    repository: 'project/team/sub/app',
    tag: 'v1.2.3',
    normalized: 'gcr.io/project/team/sub/app:v1.2.3',
    familiar: 'gcr.io/project/team/sub/app:v1.2.3',
  },
  {
    name: 'an uppercase registry host is allowed',
    input: 'Registry.Example.COM/app',
    registry: 'Registry.Example.COM',
    repository: 'app',
    normalized: 'Registry.Example.COM/app:latest',
    familiar: 'Registry.Example.COM/app',
  },
  {
    name: 'an uppercase first component is taken as a registry',
    input: 'Foo/bar',
    registry: 'Foo',
    repository: 'bar',
    normalized: 'Foo/bar:latest',
    familiar: 'Foo/bar',
  },
  {
    name: 'bare localhost without a slash is an official image name',
    input: 'localhost',
    registry: 'docker.io',
    repository: 'library/localhost',
    normalized: 'docker.io/library/localhost:latest',
    familiar: 'localhost',
  },
  {
    name: 'host:port without a slash is a name and a tag',
    input: 'test.com:5000',
    registry: 'docker.io',
    repository: 'library/test.com',
    tag: '5000',
    normalized: 'docker.io/library/test.com:5000',
    familiar: 'test.com:5000',
  },
  {
    name: 'separators: double underscore, dashes, dots',
    input: 'a__b/c--d/e.f/g_h-i:T_a.g-1',
    registry: 'docker.io',
    repository: 'a__b/c--d/e.f/g_h-i',
    tag: 'T_a.g-1',
    normalized: 'docker.io/a__b/c--d/e.f/g_h-i:T_a.g-1',
    familiar: 'a__b/c--d/e.f/g_h-i:T_a.g-1',
  },
  {
    name: 'a tag of 128 characters',
    input: `app:${'t'.repeat(128)}`,
    registry: 'docker.io',
    repository: 'library/app',
    tag: 't'.repeat(128),
    normalized: `docker.io/library/app:${'t'.repeat(128)}`,
    familiar: `app:${'t'.repeat(128)}`,
  },
  {
    name: 'a repository path of exactly 255 characters',
    input: 'a'.repeat(247),
    registry: 'docker.io',
    repository: `library/${'a'.repeat(247)}`,
    normalized: `docker.io/library/${'a'.repeat(247)}:latest`,
    familiar: 'a'.repeat(247),
  },
  {
    // distribution/reference v0.6.0 limits the path only (kubelet >= 1.31, containerd 2.x).
    name: 'a long registry does not count towards the 255-character limit',
    input: `${'r'.repeat(60)}.example.com/${'p'.repeat(250)}`,
    registry: `${'r'.repeat(60)}.example.com`,
    repository: 'p'.repeat(250),
    normalized: `${'r'.repeat(60)}.example.com/${'p'.repeat(250)}:latest`,
    familiar: `${'r'.repeat(60)}.example.com/${'p'.repeat(250)}`,
  },
  {
    name: 'a docker.io path whose first component looks like a host keeps docker.io in the familiar form',
    input: 'docker.io/example.com/app',
    registry: 'docker.io',
    repository: 'example.com/app',
    normalized: 'docker.io/example.com/app:latest',
    familiar: 'docker.io/example.com/app',
  },
  {
    name: 'an official image named by 64 hex characters keeps its namespace in the familiar form',
    input: `docker.io/${hex64}`,
    registry: 'docker.io',
    repository: `library/${hex64}`,
    normalized: `docker.io/library/${hex64}:latest`,
    familiar: `docker.io/library/${hex64}`,
  },
  {
    name: 'a first component with an underscore and a dot is a path, with no registry',
    input: 'my_host.local/app',
    registry: '',
    repository: 'my_host.local/app',
    normalized: 'my_host.local/app:latest',
    familiar: 'my_host.local/app',
  },
  {
    name: 'sha256:<hex> written as an image is the name sha256 with a hex tag',
    input: `sha256:${hex64}`,
    registry: 'docker.io',
    repository: 'library/sha256',
    tag: hex64,
    normalized: `docker.io/library/sha256:${hex64}`,
    familiar: `sha256:${hex64}`,
  },
];

for (const c of accepted) {
  t.test(`accepts ${c.name}`, async (t) => {
    const parsed = parseImageReference(c.input);
    if (!parsed.ok) {
      t.fail(parsed.error.message);
      return;
    }
    const ref = parsed.value;
    t.equal(ref.registry, c.registry, 'registry');
    t.equal(ref.repository, c.repository, 'repository');
    t.equal(ref.name, c.registry === '' ? c.repository : `${c.registry}/${c.repository}`, 'name');
    t.equal(ref.tag, c.tag, 'tag');
    t.equal(ref.digest, c.digest, 'digest');
    t.equal(normalizedReference(ref), c.normalized, 'normalized (containerd)');
    t.equal(familiarReference(ref), c.familiar, 'familiar');
    const docker = parseDockerRef(c.input);
    t.equal(docker.ok && formatReference(docker.value), c.normalized, 'parseDockerRef');
  });
}

interface Rejected {
  readonly name: string;
  readonly input: string;
  readonly kind: ReferenceErrorKind;
}

const rejected: readonly Rejected[] = [
  { name: 'an empty string', input: '', kind: 'empty' },
  { name: 'an uppercase repository', input: 'foo/Bar', kind: 'uppercase-repository' },
  { name: 'an uppercase official name', input: 'NGINX', kind: 'uppercase-repository' },
  { name: 'uppercase after a registry', input: 'ghcr.io/Org/app', kind: 'uppercase-repository' },
  { name: 'a trailing colon', input: 'nginx:', kind: 'invalid-tag' },
  { name: 'a tag starting with a dash', input: 'nginx:-1', kind: 'invalid-tag' },
  { name: 'a tag of 129 characters', input: `app:${'t'.repeat(129)}`, kind: 'invalid-tag' },
  { name: 'two tags', input: 'nginx:1:2', kind: 'invalid-tag' },
  { name: 'a trailing @', input: 'nginx@', kind: 'invalid-digest' },
  { name: 'a short digest', input: 'nginx@sha256:abc', kind: 'invalid-digest' },
  { name: 'a digest of 63 hex', input: `nginx@sha256:${hex64.slice(1)}`, kind: 'invalid-digest' },
  {
    name: 'a digest with uppercase hex',
    input: `nginx@sha256:${hex64.toUpperCase()}`,
    kind: 'invalid-digest',
  },
  { name: 'an unsupported digest algorithm', input: `nginx@md5:${hex64}`, kind: 'invalid-digest' },
  {
    name: 'a sha512 digest of 64 hex',
    input: `nginx@sha512:${hex64}`,
    kind: 'invalid-digest',
  },
  {
    // Upstream checks lowercase up to the first ':', which here reaches into the digest.
    name: 'an uppercase digest algorithm',
    input: `nginx@SHA256:${hex64}`,
    kind: 'uppercase-repository',
  },
  { name: '64 hex characters (an image ID)', input: hex64, kind: 'image-id-not-reference' },
  { name: 'a double dot in a name', input: 'a..b', kind: 'invalid-format' },
  { name: 'a double dot in a registry', input: 'a..b/c', kind: 'invalid-format' },
  { name: 'three underscores', input: 'a___b', kind: 'invalid-format' },
  { name: 'a trailing separator', input: 'app-', kind: 'invalid-format' },
  { name: 'a leading separator', input: '-app', kind: 'invalid-format' },
  { name: 'an empty path component', input: 'ghcr.io/org//app', kind: 'invalid-format' },
  { name: 'a trailing slash', input: 'ghcr.io/org/', kind: 'invalid-format' },
  { name: 'a leading slash', input: '/nginx', kind: 'invalid-format' },
  { name: 'a port that is not a number', input: 'host:port/app', kind: 'invalid-format' },
  { name: 'an IPv6 zone', input: '[fe80::1%eth0]:5000/app', kind: 'invalid-format' },
  { name: 'a leading space', input: ' nginx', kind: 'invalid-format' },
  { name: 'a scheme', input: 'https://ghcr.io/org/app', kind: 'invalid-format' },
  {
    name: 'a docker-pullable:// prefix',
    input: `docker-pullable://nginx@${sha}`,
    kind: 'invalid-format',
  },
  { name: 'non-ASCII letters', input: 'nginé', kind: 'invalid-format' },
  { name: 'a path of 256 characters', input: 'a'.repeat(248), kind: 'name-too-long' },
  { name: 'a very long name', input: `ghcr.io/${'a/'.repeat(5000)}a`, kind: 'name-too-long' },
];

for (const c of rejected) {
  t.test(`rejects ${c.name}`, async (t) => {
    const parsed = parseImageReference(c.input);
    t.notOk(parsed.ok);
    if (!parsed.ok) {
      t.equal(parsed.error.kind, c.kind, parsed.error.message);
      t.ok(parsed.error.message.length > 0);
    }
  });
}

t.test('error messages quote the input and cut very long input short', async (t) => {
  const short = parseImageReference('foo/Bar');
  t.ok(!short.ok && short.error.message.includes('"foo/Bar"'));
  const huge = `${'x'.repeat(1_000_000)}!`;
  const long = parseImageReference(huge);
  t.ok(!long.ok);
  if (!long.ok) {
    t.ok(long.error.message.length < 400, 'message stays short');
    t.match(long.error.message, /more characters/);
  }
});

t.test('a megabyte of hostile input is rejected quickly', async (t) => {
  const inputs = [
    'a.'.repeat(500_000),
    `${'a-'.repeat(500_000)}/`,
    `${'a'.repeat(1_000_000)}:`,
    `nginx@sha256:${'a'.repeat(1_000_000)}`,
    `${'[::'.repeat(300_000)}/a`,
  ];
  const started = performance.now();
  for (const input of inputs) {
    t.notOk(parseImageReference(input).ok);
  }
  t.ok(performance.now() - started < 2000, 'under two seconds');
});

t.test('stripRuntimePrefix removes the runtime scheme of a status imageID', async (t) => {
  t.equal(stripRuntimePrefix(`docker-pullable://nginx@${sha}`), `nginx@${sha}`);
  t.equal(stripRuntimePrefix(`docker://${sha}`), sha);
  t.equal(stripRuntimePrefix(`ghcr.io/org/app@${sha}`), `ghcr.io/org/app@${sha}`);
  t.equal(stripRuntimePrefix('docker-pullable://docker://x'), 'docker://x', 'only one prefix');
  const stripped = parseImageReference(stripRuntimePrefix(`docker-pullable://nginx@${sha}`));
  t.equal(stripped.ok && stripped.value.name, 'docker.io/library/nginx');
});

const repoTagCases = [
  {
    name: 'a normalized containerd repo tag',
    input: 'docker.io/library/nginx:1.27',
    expected: 'docker.io/library/nginx:1.27',
  },
  {
    name: 'a familiar cri-dockerd repo tag',
    input: 'nginx:1.27',
    expected: 'docker.io/library/nginx:1.27',
  },
  { name: 'a name without a tag', input: 'docker.io/library/nginx', kind: 'not-a-repo-tag' },
  { name: 'a digest reference', input: `nginx@${sha}`, kind: 'not-a-repo-tag' },
  { name: "docker's dangling placeholder", input: '<none>:<none>', kind: 'invalid-format' },
] as const;

for (const c of repoTagCases) {
  t.test(`parseRepoTag: ${c.name}`, async (t) => {
    const parsed = parseRepoTag(c.input);
    if ('expected' in c) {
      t.equal(parsed.ok && parsed.value, c.expected);
    } else {
      t.equal(!parsed.ok && parsed.error.kind, c.kind);
    }
  });
}

const repoDigestCases = [
  {
    name: 'a normalized containerd repo digest',
    input: `ghcr.io/org/app@${sha}`,
    expected: `ghcr.io/org/app@${sha}`,
  },
  {
    name: 'a familiar cri-dockerd repo digest',
    input: `nginx@${sha}`,
    expected: `docker.io/library/nginx@${sha}`,
  },
  { name: 'a tag instead of a digest', input: 'nginx:1.27', kind: 'not-a-repo-digest' },
  { name: 'a tag beside the digest', input: `nginx:1.27@${sha}`, kind: 'not-a-repo-digest' },
  { name: "docker's dangling placeholder", input: '<none>@<none>', kind: 'invalid-format' },
] as const;

for (const c of repoDigestCases) {
  t.test(`parseRepoDigest: ${c.name}`, async (t) => {
    const parsed = parseRepoDigest(c.input);
    if ('expected' in c) {
      t.equal(parsed.ok && parsed.value, c.expected);
    } else {
      t.equal(!parsed.ok && parsed.error.kind, c.kind);
    }
  });
}

t.test('parseDigest follows go-digest', async (t) => {
  t.ok(parseDigest(sha).ok);
  t.ok(parseDigest(`sha512:${hex128}`).ok);
  const cases = [
    ['', 'format'],
    [hex64, 'format'],
    ['sha256:', 'format'],
    [':abc', 'format'],
    [`sha256:${hex64}0`, 'length'],
    [`sha256:${otherHex64.toUpperCase()}`, 'format'],
    [`blake3:${hex64}`, 'unsupported-algorithm'],
    [`SHA256:${hex64}`, 'format'],
  ] as const;
  for (const [input, problem] of cases) {
    const parsed = parseDigest(input);
    t.equal(
      !parsed.ok && parsed.error.kind === 'invalid-digest' && parsed.error.problem,
      problem,
      input,
    );
  }
});

t.test('parseImageId accepts what a runtime lists and refuses blanks', async (t) => {
  t.equal(parseImageId(sha), sha, 'containerd config digest');
  t.equal(parseImageId(hex64), hex64, 'CRI-O bare hex');
  t.equal(parseImageId(''), undefined);
  t.equal(parseImageId('sha256:a b'), undefined);
  t.equal(parseImageId('sha256:a\n'), undefined);
});

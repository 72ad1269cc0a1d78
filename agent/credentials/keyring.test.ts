import t from 'tap';
import {
  parseRegistryKey,
  resolveCredentialsForImage,
  type ImageLocation,
  type RegistryKeyMatcher,
} from './keyring.ts';

interface Labelled {
  readonly label: string;
  readonly matcher: RegistryKeyMatcher;
}

// A credential stand-in: the registry key it was written under, plus a label to tell apart
// two credentials under the same key.
function cred(key: string, label = key): Labelled {
  const matcher = parseRegistryKey(key);
  if (!matcher.ok) throw new Error(`test key ${key} did not parse: ${matcher.error}`);
  return { label, matcher: matcher.value };
}

function image(registry: string, repository: string): ImageLocation {
  return { registry, repository };
}

const cases: readonly {
  readonly name: string;
  readonly credentials: readonly Labelled[];
  readonly image: ImageLocation;
  readonly expected: readonly string[];
}[] = [
  {
    name: 'a key naming exactly the image registry matches',
    credentials: [cred('registry.example.com')],
    image: image('registry.example.com', 'team/app'),
    expected: ['registry.example.com'],
  },
  {
    name: 'a key with a port does not match the same host without one',
    credentials: [cred('registry.example.com:5000')],
    image: image('registry.example.com', 'team/app'),
    expected: [],
  },
  {
    name: 'a key without a port does not match the same host with one',
    credentials: [cred('registry.example.com')],
    image: image('registry.example.com:5000', 'team/app'),
    expected: [],
  },
  {
    name: 'a key with a different port does not match',
    credentials: [cred('registry.example.com:5001')],
    image: image('registry.example.com:5000', 'team/app'),
    expected: [],
  },
  {
    name: '*.example.com matches a host one label deeper',
    credentials: [cred('*.example.com')],
    image: image('a.example.com', 'app'),
    expected: ['*.example.com'],
  },
  {
    name: '*.example.com does not cross labels (a.b.example.com)',
    credentials: [cred('*.example.com')],
    image: image('a.b.example.com', 'app'),
    expected: [],
  },
  {
    name: '*.example.com does not match example.com itself',
    credentials: [cred('*.example.com')],
    image: image('example.com', 'app'),
    expected: [],
  },
  {
    name: 'globs work in any label and within a label',
    credentials: [cred('prefix.*.io'), cred('*-good.kubernetes.io'), cred('k*.io')],
    image: image('prefix-good.kubernetes.io', 'app'),
    expected: ['*-good.kubernetes.io'],
  },
  {
    name: 'a character class in a host label',
    credentials: [cred('registry-[a-c].example.com')],
    image: image('registry-b.example.com', 'app'),
    expected: ['registry-[a-c].example.com'],
  },
  {
    name: 'a malformed glob never matches',
    credentials: [cred('registry-[.example.com')],
    image: image('registry-[.example.com', 'app'),
    expected: [],
  },
  {
    name: 'a key path matches repositories below it',
    credentials: [cred('example.com/team-a')],
    image: image('example.com', 'team-a/app'),
    expected: ['example.com/team-a'],
  },
  {
    name: 'a key path does not match another team',
    credentials: [cred('example.com/team-a')],
    image: image('example.com', 'team-b/app'),
    expected: [],
  },
  {
    name: 'the key path is a plain string prefix, so team-a also covers team-ab (as in the kubelet)',
    credentials: [cred('example.com/team-a')],
    image: image('example.com', 'team-ab/app'),
    expected: ['example.com/team-a'],
  },
  {
    name: 'a key path with a trailing slash does not match the repository without it',
    credentials: [cred('example.com/team-a/')],
    image: image('example.com', 'team-a'),
    expected: [],
  },
  {
    name: 'a key path matches the repository with the same name',
    credentials: [cred('example.com/team-a')],
    image: image('example.com', 'team-a'),
    expected: ['example.com/team-a'],
  },
  {
    name: 'the scheme and a trailing /v1/ are stripped',
    credentials: [cred('https://registry.example.com/v1/')],
    image: image('registry.example.com', 'app'),
    expected: ['https://registry.example.com/v1/'],
  },
  {
    name: 'http:// and /v2/ are stripped as well',
    credentials: [cred('http://registry.example.com/v2/')],
    image: image('registry.example.com', 'app'),
    expected: ['http://registry.example.com/v2/'],
  },
  {
    name: '/v2/ in front of a path is stripped, the rest stays a path',
    credentials: [cred('https://registry.example.com/v2/team-a')],
    image: image('registry.example.com', 'team-a/app'),
    expected: ['https://registry.example.com/v2/team-a'],
  },
  {
    name: '/v2 without a trailing slash is an ordinary path',
    credentials: [cred('registry.example.com/v2')],
    image: image('registry.example.com', 'app'),
    expected: [],
  },
  {
    name: 'https://index.docker.io/v1/ matches nginx (docker.io/library/nginx)',
    credentials: [cred('https://index.docker.io/v1/')],
    image: image('docker.io', 'library/nginx'),
    expected: ['https://index.docker.io/v1/'],
  },
  {
    name: 'a bare index.docker.io key is the same Docker Hub default',
    credentials: [cred('index.docker.io')],
    image: image('docker.io', 'someone/app'),
    expected: ['index.docker.io'],
  },
  {
    name: 'an image written with index.docker.io is a docker.io image',
    credentials: [cred('docker.io')],
    image: image('index.docker.io', 'library/nginx'),
    expected: ['docker.io'],
  },
  {
    name: 'a docker.io key matches docker.io images',
    credentials: [cred('docker.io')],
    image: image('docker.io', 'library/nginx'),
    expected: ['docker.io'],
  },
  {
    name: 'a docker.io/team key matches only that Docker Hub namespace',
    credentials: [cred('docker.io/team')],
    image: image('docker.io', 'other/app'),
    expected: [],
  },
  {
    name: 'a registry-1.docker.io key does not reach docker.io images (no such alias in the kubelet)',
    credentials: [cred('registry-1.docker.io')],
    image: image('docker.io', 'library/nginx'),
    expected: [],
  },
  {
    name: 'a registry-1.docker.io key matches images named with that host',
    credentials: [cred('registry-1.docker.io')],
    image: image('registry-1.docker.io', 'library/nginx'),
    expected: ['registry-1.docker.io'],
  },
  {
    name: 'the Docker Hub default is used only when no other key matched',
    credentials: [cred('https://index.docker.io/v1/'), cred('docker.io')],
    image: image('docker.io', 'library/nginx'),
    expected: ['docker.io'],
  },
  {
    name: 'the Docker Hub default is not offered to other registries',
    credentials: [cred('https://index.docker.io/v1/')],
    image: image('quay.io', 'team/app'),
    expected: [],
  },
  {
    name: 'the Docker Hub default is offered to localhost without a port (kubelet quirk)',
    credentials: [cred('https://index.docker.io/v1/')],
    image: image('localhost', 'app'),
    expected: ['https://index.docker.io/v1/'],
  },
  {
    name: 'localhost:5000 matches localhost:5000 images',
    credentials: [cred('localhost:5000')],
    image: image('localhost:5000', 'team/app'),
    expected: ['localhost:5000'],
  },
  {
    name: 'localhost:5000 does not match localhost without the port',
    credentials: [cred('localhost:5000')],
    image: image('localhost', 'team/app'),
    expected: [],
  },
  {
    name: 'an IP address with a port',
    credentials: [cred('127.0.0.1:5000'), cred('127.0.0.1')],
    image: image('127.0.0.1:5000', 'app'),
    expected: ['127.0.0.1:5000'],
  },
  {
    name: 'an IPv6 address with a port',
    credentials: [cred('[::1]:5000')],
    image: image('[::1]:5000', 'app'),
    expected: ['[::1]:5000'],
  },
  {
    name: 'userinfo in a key is ignored for matching',
    credentials: [cred('https://someone@registry.example.com')],
    image: image('registry.example.com', 'app'),
    expected: ['https://someone@registry.example.com'],
  },
  {
    name: 'the most specific path is tried first',
    credentials: [cred('quay.io'), cred('quay.io/team/app'), cred('quay.io/team')],
    image: image('quay.io', 'team/app'),
    expected: ['quay.io/team/app', 'quay.io/team', 'quay.io'],
  },
  {
    name: 'keys are tried in reverse byte order, so an exact host comes before a glob',
    credentials: [cred('*.example.com'), cred('a.example.com')],
    image: image('a.example.com', 'app'),
    expected: ['a.example.com', '*.example.com'],
  },
  {
    name: 'reverse byte order is not length order',
    credentials: [cred('registry.example.com/aaaa'), cred('registry.example.com/b')],
    image: image('registry.example.com', 'b/aaaa'),
    expected: ['registry.example.com/b'],
  },
  {
    name: 'credentials under one key are all returned, in input order',
    credentials: [
      cred('quay.io', 'first secret'),
      cred('https://quay.io/v1/', 'second secret'),
      cred('quay.io/team', 'third secret'),
    ],
    image: image('quay.io', 'team/app'),
    expected: ['third secret', 'first secret', 'second secret'],
  },
  {
    name: 'no credentials, no matches',
    credentials: [],
    image: image('docker.io', 'library/nginx'),
    expected: [],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = resolveCredentialsForImage(c.credentials, c.image).map((x) => x.label);
    t.same(got, c.expected);
  });
}

const keyCases: readonly {
  readonly key: string;
  readonly expected: RegistryKeyMatcher | 'unusable';
}[] = [
  {
    key: 'https://index.docker.io/v1/',
    expected: { indexKey: 'index.docker.io', host: 'index.docker.io', port: '', path: '' },
  },
  {
    key: 'registry.example.com:5000/team/',
    expected: {
      indexKey: 'registry.example.com:5000/team/',
      host: 'registry.example.com',
      port: '5000',
      path: '/team/',
    },
  },
  {
    key: 'registry.example.com/',
    expected: {
      indexKey: 'registry.example.com',
      host: 'registry.example.com',
      port: '',
      path: '',
    },
  },
  {
    key: 'registry.example.com?query#fragment',
    expected: {
      indexKey: 'registry.example.com',
      host: 'registry.example.com',
      port: '',
      path: '',
    },
  },
  {
    key: 'b%C3%BCcher.example',
    expected: { indexKey: 'bücher.example', host: 'bücher.example', port: '', path: '' },
  },
  // Go's url.Parse refuses these, so the kubelet skips the entry.
  { key: 'registry.example.com:port', expected: 'unusable' },
  { key: 'registry example.com', expected: 'unusable' },
  { key: 'a%41.example.com', expected: 'unusable' },
  { key: 'registry.example.com/%zz', expected: 'unusable' },
  { key: 'registry.example.com\n', expected: 'unusable' },
  { key: 'user name@registry.example.com', expected: 'unusable' },
  // Parsed once, but the index key ("example.com/100%") cannot be parsed again in Lookup.
  { key: 'example.com/100%25', expected: 'unusable' },
  // Host bytes that are not UTF-8 can never equal an image registry.
  { key: 'a%FF.example.com', expected: 'unusable' },
];

for (const c of keyCases) {
  t.test(`registry key ${JSON.stringify(c.key)}`, async (t) => {
    const got = parseRegistryKey(c.key);
    if (c.expected === 'unusable') t.notOk(got.ok, 'the kubelet never uses it');
    else t.same(got, { ok: true, value: c.expected });
  });
}

// Keyring answers per registry (host matched once, then a repository prefix per key). This
// pins it to the literal reading of keyring.go, written out here as the oracle: parse
// "https://" + name with Go's url.Parse and match every key's host labels, port and path.
import fc from 'fast-check';
import t from 'tap';
import { globMatch } from './glob.ts';
import { parseGoUrl, splitHostPort } from './go-url.ts';
import {
  Keyring,
  parseRegistryKey,
  type ImageLocation,
  type RegistryKeyMatcher,
} from './keyring.ts';

interface Labelled {
  readonly label: string;
  readonly matcher: RegistryKeyMatcher;
}

function oracle(credentials: readonly Labelled[], image: ImageLocation): string[] {
  const registry = image.registry === 'index.docker.io' ? 'docker.io' : image.registry;
  const name = registry === '' ? image.repository : `${registry}/${image.repository}`;
  const sortedKeys = [...new Set(credentials.map((c) => c.matcher.indexKey))].sort((a, b) =>
    Buffer.compare(Buffer.from(b), Buffer.from(a)),
  );
  const url = parseGoUrl(`https://${name}`);
  const matched: string[] = [];
  if (url.ok) {
    const hostPort = splitHostPort(url.value.host);
    const host = hostPort?.host ?? url.value.host;
    const port = hostPort?.port ?? '';
    for (const indexKey of sortedKeys) {
      const group = credentials.filter((c) => c.matcher.indexKey === indexKey);
      const key = group[0]?.matcher;
      if (key === undefined || key.port !== port) continue;
      const keyLabels = key.host.split('.');
      const labels = host.split('.');
      if (keyLabels.length !== labels.length || !url.value.path.startsWith(key.path)) continue;
      if (keyLabels.every((l, i) => globMatch(l, labels[i] ?? '')))
        matched.push(...group.map((c) => c.label));
    }
  }
  if (matched.length > 0) return matched;
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  const hub =
    first.length > 0 &&
    (slash < 0 || first === 'docker.io' || first === 'index.docker.io' || !/[.:]/.test(first));
  return hub
    ? credentials.filter((c) => c.matcher.indexKey === 'index.docker.io').map((c) => c.label)
    : [];
}

const hosts = [
  'registry.example.com',
  '*.example.com',
  'reg?stry.example.com',
  'quay.io',
  'docker.io',
  'index.docker.io',
  'localhost',
  '127.0.0.1',
  '[::1]',
  'r[a-f]g.example.com',
];
const keyArb = fc
  .record({
    scheme: fc.constantFrom('', 'https://', 'http://'),
    host: fc.constantFrom(...hosts),
    port: fc.constantFrom('', ':5000', ':443'),
    path: fc.constantFrom(
      '',
      '/',
      '/v1/',
      '/v2/',
      '/team',
      '/team/',
      '/team-a/app',
      '/library',
      '/t',
    ),
  })
  .map(({ scheme, host, port, path }) => `${scheme}${host}${port}${path}`);
const imageArb = fc.record({
  registry: fc.constantFrom(
    'registry.example.com',
    'rag.example.com',
    'regstry.example.com',
    'a.example.com',
    'quay.io',
    'docker.io',
    'index.docker.io',
    'localhost:5000',
    '127.0.0.1:5000',
    '[::1]:5000',
    'registry.example.com:5000',
    'example.com',
    '',
  ),
  repository: fc.constantFrom(
    'team/app',
    'team-a/app',
    'team-ab/app',
    'library/nginx',
    't',
    'other/x',
    'localhost/app',
  ),
});

t.test('Keyring.lookup answers as keyring.go, for every image and set of keys', async (t) => {
  fc.assert(
    fc.property(
      fc.array(keyArb, { maxLength: 6 }),
      fc.array(imageArb, { minLength: 1, maxLength: 8 }),
      (keys, images) => {
        const credentials: Labelled[] = [];
        keys.forEach((key, i) => {
          const matcher = parseRegistryKey(key);
          if (matcher.ok) credentials.push({ label: `${i}:${key}`, matcher: matcher.value });
        });
        const keyring = new Keyring(credentials);
        for (const image of images) {
          // Asked twice: the second answer comes from what the first one worked out.
          for (let round = 0; round < 2; round++) {
            const got = keyring.lookup(image).map((c) => c.label);
            const want = oracle(credentials, image);
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              throw new Error(
                `${JSON.stringify(image)}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
              );
            }
          }
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2,000 random keyrings agree with the oracle');
});

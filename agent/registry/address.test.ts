import t from 'tap';
import { manifestUrl, registryBaseUrl } from './address.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

t.test('registry base URLs: HTTPS unless loopback or listed insecure', async (t) => {
  const cases: readonly [registry: string, insecure: readonly string[], expected: string][] = [
    ['docker.io', [], 'https://registry-1.docker.io'],
    ['index.docker.io', [], 'https://registry-1.docker.io'],
    ['ghcr.io', [], 'https://ghcr.io'],
    ['Registry.Example.COM:8443', [], 'https://registry.example.com:8443'],
    ['localhost', [], 'http://localhost'],
    ['localhost:5000', [], 'http://localhost:5000'],
    ['127.0.0.1:5000', [], 'http://127.0.0.1:5000'],
    ['127.9.8.7', [], 'http://127.9.8.7'],
    ['[::1]:5000', [], 'http://[::1]:5000'],
    ['[2001:db8::1]:5000', [], 'https://[2001:db8::1]:5000'],
    ['128.0.0.1:5000', [], 'https://128.0.0.1:5000'],
    ['localhost.example.com', [], 'https://localhost.example.com'],
    ['10.1.2.3:5000', ['10.0.0.0/8'], 'http://10.1.2.3:5000'],
    ['10.1.2.3:5000', ['10.1.2.3'], 'http://10.1.2.3:5000'],
    ['10.1.2.3:5000', ['10.1.2.3:6000'], 'https://10.1.2.3:5000'],
    ['reg.internal:5000', ['REG.internal:5000'], 'http://reg.internal:5000'],
    ['reg.internal:5000', ['reg.internal/8', 'garbage::', ''], 'https://reg.internal:5000'],
    ['[2001:db8::1]:5000', ['2001:db8::/32'], 'http://[2001:db8::1]:5000'],
  ];
  for (const [registry, insecure, expected] of cases) {
    t.same(
      registryBaseUrl(registry, insecure),
      { ok: true, value: expected },
      `${registry} ${insecure.join(',')}`,
    );
  }
  for (const bad of ['', 'a/b', 'host:99999', 'host:0', '[nothex]:1', 'user@host', '-bad-']) {
    t.equal(registryBaseUrl(bad).ok, false, `refuses ${JSON.stringify(bad)}`);
  }
});

t.test('manifest URLs refuse names that could leave the manifest path', async (t) => {
  const url = manifestUrl({
    registry: 'docker.io',
    repository: 'library/nginx',
    reference: DIGEST,
  });
  t.equal(
    url.ok && url.value.href,
    `https://registry-1.docker.io/v2/library/nginx/manifests/${DIGEST}`,
  );
  const tag = manifestUrl({
    registry: 'localhost:5000',
    repository: 'a/b-c/d__e',
    reference: 'v1.2_3',
  });
  t.equal(tag.ok && tag.value.href, 'http://localhost:5000/v2/a/b-c/d__e/manifests/v1.2_3');
  for (const repository of ['../x', 'A/b', 'a?b=1', 'a//b', 'a/', '', 'a#b', 'a%2fb']) {
    t.equal(manifestUrl({ registry: 'r.io', repository, reference: 'v1' }).ok, false, repository);
  }
  for (const reference of ['', '../x', 'a b', '-x', 'sha256:xyz', 'a'.repeat(129)]) {
    t.equal(manifestUrl({ registry: 'r.io', repository: 'a', reference }).ok, false, reference);
  }
});

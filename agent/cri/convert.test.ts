import t from 'tap';
import {
  convertContainer,
  convertImage,
  convertList,
  convertPodSandbox,
  parseWireInteger,
} from './convert.ts';

t.test('image sizes above 2^53 survive exactly', async (t) => {
  const r = convertImage({ id: 'sha256:a', size: '18446744073709551615' });
  t.ok(r.ok && r.value.sizeBytes === 18446744073709551615n);
});

const imageCases = [
  {
    name: 'complete image',
    raw: {
      id: 'sha256:a',
      repoTags: ['x:1'],
      repoDigests: ['x@sha256:b'],
      size: '10',
      pinned: true,
    },
    ok: true,
  },
  { name: 'missing id', raw: { repoTags: ['x:1'] }, ok: false },
  { name: 'empty id', raw: { id: '' }, ok: false },
  { name: 'not an object', raw: 'sha256:a', ok: false },
  { name: 'null', raw: null, ok: false },
  {
    name: 'tags of the wrong type are dropped',
    raw: { id: 'sha256:a', repoTags: [1, null, 'x:1', ''] },
    ok: true,
    tags: ['x:1'],
  },
  {
    name: 'negative or garbage size becomes 0',
    raw: { id: 'sha256:a', size: '-5' },
    ok: true,
    size: 0n,
  },
  {
    name: 'size as text that is not a number',
    raw: { id: 'sha256:a', size: '1e9' },
    ok: true,
    size: 0n,
  },
] as const;

for (const c of imageCases) {
  t.test(`convert image: ${c.name}`, async (t) => {
    const r = convertImage(c.raw);
    t.equal(r.ok, c.ok);
    if (r.ok && 'tags' in c) t.same(r.value.repoTags, c.tags);
    if (r.ok && 'size' in c) t.equal(r.value.sizeBytes, c.size);
  });
}

t.test('wire integers', async (t) => {
  t.equal(parseWireInteger('42'), 42n);
  t.equal(parseWireInteger(42), 42n);
  t.equal(parseWireInteger(1.5), undefined);
  t.equal(
    parseWireInteger('123456789012345678901'),
    undefined,
    'more digits than any 64-bit value',
  );
  t.equal(parseWireInteger({}), undefined);
});

t.test('containers are tied to their pod through the kubelet labels', async (t) => {
  const r = convertContainer({
    id: 'c1',
    podSandboxId: 's1',
    metadata: { name: 'app', attempt: 2 },
    image: { image: 'sha256:abc' },
    imageRef: 'sha256:abc',
    state: 'CONTAINER_RUNNING',
    createdAt: '1700000000000000000',
    labels: {
      'io.kubernetes.pod.namespace': 'tenant-b',
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.pod.uid': 'u1',
      'io.kubernetes.container.name': 'app',
    },
  });
  t.ok(r.ok);
  if (r.ok) {
    t.same(r.value.pod, { namespace: 'tenant-b', name: 'web', uid: 'u1' });
    t.equal(r.value.state, 'running');
    t.equal(r.value.attempt, 2);
    t.equal(r.value.createdAtNs, 1700000000000000000n);
  }
});

t.test('a container without kubelet labels has no pod', async (t) => {
  const r = convertContainer({ id: 'c1', state: 'BOGUS' });
  t.ok(r.ok && r.value.pod === undefined && r.value.state === 'unknown');
});

t.test('a sandbox without pod metadata is rejected; labels are the fallback', async (t) => {
  t.notOk(convertPodSandbox({ id: 's1' }).ok);
  const r = convertPodSandbox({
    id: 's1',
    state: 'SANDBOX_READY',
    labels: {
      'io.kubernetes.pod.namespace': 'a',
      'io.kubernetes.pod.name': 'p',
      'io.kubernetes.pod.uid': 'u',
    },
  });
  t.ok(r.ok && r.value.pod.name === 'p' && r.value.state === 'ready');
});

t.test('one bad item in a list is reported without hiding the good ones', async (t) => {
  const listing = convertList([{ id: 'sha256:a' }, { nope: 1 }, { id: 'sha256:b' }], convertImage);
  t.same(
    listing.items.map((i) => i.id),
    ['sha256:a', 'sha256:b'],
  );
  t.same(listing.rejected, [{ index: 1, reason: 'missing id' }]);
  t.same(convertList(undefined, convertImage), { items: [], rejected: [] });
});

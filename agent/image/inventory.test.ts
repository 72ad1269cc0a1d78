import fc from 'fast-check';
import t from 'tap';
import type { CachedImageRecord } from '../model/cached-image.ts';
import { Inventory, type Presence } from './inventory.ts';

const hex = (seed: string) => seed.repeat(64).slice(0, 64);
const nginxId = `sha256:${hex('a1')}`;
const redisId = `sha256:${hex('b2')}`;
const privateId = `sha256:${hex('c3')}`;
const twinA = `sha256:abcd${hex('1')}`.slice(0, 71);
const twinB = `sha256:abcd${hex('2')}`.slice(0, 71);
const manifest = `sha256:${hex('d4')}`;
const otherManifest = `sha256:${hex('e5')}`;

function image(id: string, fields: Partial<Omit<CachedImageRecord, 'id'>> = {}): CachedImageRecord {
  return {
    id,
    repoTags: fields.repoTags ?? [],
    repoDigests: fields.repoDigests ?? [],
    sizeBytes: fields.sizeBytes ?? 1000n,
    pinned: fields.pinned ?? false,
  };
}

const node = new Inventory([
  image(nginxId, {
    repoTags: ['docker.io/library/nginx:1.27', 'registry.example.com/mirror/nginx:1.27'],
    repoDigests: [`docker.io/library/nginx@${manifest}`],
  }),
  image(redisId, { repoTags: ['docker.io/library/redis:latest'] }),
  image(privateId, {
    repoTags: ['ghcr.io/tenant-a/private:v1'],
    repoDigests: [`ghcr.io/tenant-a/private@${otherManifest}`],
  }),
  image(twinA, { repoTags: ['docker.io/library/twin:a'] }),
  image(twinB, { repoTags: ['docker.io/library/twin:b'] }),
]);

interface PresenceCase {
  readonly name: string;
  readonly image: string;
  readonly expected:
    | { readonly present: true; readonly id: string; readonly matchedBy: string }
    | { readonly present: false; readonly reason: string };
}

const presenceCases: readonly PresenceCase[] = [
  {
    name: 'an image pulled by tag',
    image: 'nginx:1.27',
    expected: { present: true, id: nginxId, matchedBy: 'tag' },
  },
  {
    name: 'an image pulled by digest',
    image: `nginx@${manifest}`,
    expected: { present: true, id: nginxId, matchedBy: 'digest' },
  },
  {
    name: 'one image under a second name',
    image: 'registry.example.com/mirror/nginx:1.27',
    expected: { present: true, id: nginxId, matchedBy: 'tag' },
  },
  {
    name: 'a different tag of the same content the node never pulled',
    image: 'nginx:1.27.3',
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'the same digest under another repository name',
    image: `ghcr.io/tenant-b/nginx@${manifest}`,
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'the same digest under the mirror name it was not pulled by',
    image: `registry.example.com/mirror/nginx@${manifest}`,
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'a bare name means docker.io/library/<name>:latest',
    image: 'redis',
    expected: { present: true, id: redisId, matchedBy: 'tag' },
  },
  {
    name: 'a bare name is not another cached tag',
    image: 'nginx',
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'the fully qualified name',
    image: 'docker.io/library/redis:latest',
    expected: { present: true, id: redisId, matchedBy: 'tag' },
  },
  {
    name: 'the legacy index.docker.io name',
    image: 'index.docker.io/library/redis',
    expected: { present: true, id: redisId, matchedBy: 'tag' },
  },
  {
    name: 'a wrong tag beside a cached digest: the digest decides',
    image: `nginx:wrong@${manifest}`,
    expected: { present: true, id: nginxId, matchedBy: 'digest' },
  },
  {
    name: 'a cached tag beside a digest that is not cached: the digest decides',
    image: `nginx:1.27@${otherManifest}`,
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'the full image ID',
    image: privateId,
    expected: { present: true, id: privateId, matchedBy: 'id' },
  },
  {
    name: 'a full image ID that is not cached',
    image: `sha256:${hex('f6')}`,
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'a short ID prefix with its algorithm',
    image: privateId.slice(0, 19),
    expected: { present: true, id: privateId, matchedBy: 'id-prefix' },
  },
  {
    name: 'a bare short ID prefix',
    image: privateId.slice(7, 19),
    expected: { present: true, id: privateId, matchedBy: 'id-prefix' },
  },
  {
    name: 'a bare full ID',
    image: privateId.slice(7),
    expected: { present: true, id: privateId, matchedBy: 'id' },
  },
  {
    name: 'a prefix shared by two images',
    image: 'sha256:abcd',
    expected: { present: false, reason: 'ambiguous-id-prefix' },
  },
  {
    name: 'a prefix under another algorithm',
    image: privateId.replace('sha256', 'sha512').slice(0, 19),
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'a private image named by its tag',
    image: 'ghcr.io/tenant-a/private:v1',
    expected: { present: true, id: privateId, matchedBy: 'tag' },
  },
  {
    name: 'an image string that is not a reference',
    image: 'NGINX:1.27',
    expected: { present: false, reason: 'not-cached' },
  },
  { name: 'an empty image', image: '', expected: { present: false, reason: 'empty' } },
  {
    name: 'a lone algorithm is no prefix of everything',
    image: 'sha256:',
    expected: { present: false, reason: 'not-cached' },
  },
];

function summarize(presence: Presence): PresenceCase['expected'] {
  return presence.present
    ? { present: true, id: presence.image.id, matchedBy: presence.matchedBy }
    : { present: false, reason: presence.reason };
}

for (const c of presenceCases) {
  t.test(`resolvePresent: ${c.name}`, async (t) => {
    t.same(summarize(node.resolvePresent(c.image)), c.expected);
  });
}

t.test('an ambiguous prefix names the candidates', async (t) => {
  const presence = node.resolvePresent('abcd');
  t.same(!presence.present && presence.reason === 'ambiguous-id-prefix' && presence.candidates, [
    twinA,
    twinB,
  ]);
});

t.test('an image string that is not a reference says why', async (t) => {
  const presence = node.resolvePresent('NGINX:1.27');
  t.equal(
    !presence.present && presence.reason === 'not-cached' && presence.referenceError?.kind,
    'uppercase-repository',
  );
});

t.test('a cached name wins over an ID prefix spelled the same', async (t) => {
  const prefixOfB = twinB.slice(7, 15);
  const inventory = new Inventory([
    image(twinA, { repoTags: [`docker.io/library/${prefixOfB}:latest`] }),
    image(twinB),
  ]);
  t.same(summarize(inventory.resolvePresent(prefixOfB)), {
    present: true,
    id: twinA,
    matchedBy: 'tag',
  });
});

const statusCases: readonly PresenceCase[] = [
  {
    name: 'a containerd repo digest',
    image: `docker.io/library/nginx@${manifest}`,
    expected: { present: true, id: nginxId, matchedBy: 'digest' },
  },
  {
    name: 'a docker-pullable:// repo digest in familiar form',
    image: `docker-pullable://nginx@${manifest}`,
    expected: { present: true, id: nginxId, matchedBy: 'digest' },
  },
  {
    name: 'the digest under another repository',
    image: `ghcr.io/tenant-b/nginx@${manifest}`,
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'an image ID for an image without repo digests',
    image: redisId,
    expected: { present: true, id: redisId, matchedBy: 'id' },
  },
  {
    name: 'a docker:// image ID',
    image: `docker://${redisId}`,
    expected: { present: true, id: redisId, matchedBy: 'id' },
  },
  {
    name: 'an image ID as 64 bare hex',
    image: redisId.slice(7),
    expected: { present: true, id: redisId, matchedBy: 'id' },
  },
  {
    name: 'a tag is not a repo digest',
    image: 'nginx:1.27',
    expected: { present: false, reason: 'not-cached' },
  },
  {
    name: 'only a prefix',
    image: 'docker-pullable://',
    expected: { present: false, reason: 'empty' },
  },
];

for (const c of statusCases) {
  t.test(`resolveRepoDigest: ${c.name}`, async (t) => {
    t.same(summarize(node.resolveRepoDigest(c.image)), c.expected);
  });
}

t.test('the same ID listed twice becomes one entry', async (t) => {
  const inventory = new Inventory([
    image(nginxId, { repoTags: ['nginx:1.27'], sizeBytes: 10n }),
    image(nginxId, {
      repoTags: ['docker.io/library/nginx:1.27', 'nginx:stable'],
      repoDigests: [`nginx@${manifest}`],
      sizeBytes: 12n,
      pinned: true,
    }),
  ]);
  t.equal(inventory.size, 1);
  const entry = inventory.byId(nginxId);
  t.same(entry?.repoTags, ['docker.io/library/nginx:1.27', 'docker.io/library/nginx:stable']);
  t.same(entry?.repoDigests, [`docker.io/library/nginx@${manifest}`]);
  t.equal(entry?.sizeBytes, 12n, 'the larger size');
  t.equal(entry?.pinned, true, 'pinned if any listing is');
  t.equal(inventory.totalBytes, 12n);
});

t.test('uint64 sizes above 2^53 stay exact', async (t) => {
  const max = 18446744073709551615n;
  const inventory = new Inventory([
    image(nginxId, { sizeBytes: max }),
    image(redisId, { sizeBytes: 2n ** 53n + 1n }),
  ]);
  t.equal(inventory.byId(nginxId)?.sizeBytes, max);
  t.equal(inventory.totalBytes, max + 2n ** 53n + 1n);
});

t.test('names that do not parse are kept beside the entry', async (t) => {
  const inventory = new Inventory([
    image(nginxId, {
      repoTags: ['<none>:<none>', 'Registry.example.com/Team/app:1', 'nginx:1.27', 'nginx'],
      repoDigests: ['<none>@<none>', `nginx:1.27@${manifest}`],
    }),
  ]);
  const entry = inventory.byId(nginxId);
  t.same(entry?.repoTags, ['docker.io/library/nginx:1.27']);
  t.same(entry?.repoDigests, []);
  t.same(
    entry?.unparsedNames.map((u) => [u.listedAs, u.name, u.error.kind]),
    [
      ['repoTag', '<none>:<none>', 'invalid-format'],
      ['repoTag', 'Registry.example.com/Team/app:1', 'uppercase-repository'],
      ['repoTag', 'nginx', 'not-a-repo-tag'],
      ['repoDigest', '<none>@<none>', 'invalid-format'],
      ['repoDigest', `nginx:1.27@${manifest}`, 'not-a-repo-digest'],
    ],
  );
});

t.test('familiar names from cri-dockerd are normalized', async (t) => {
  const inventory = new Inventory([
    image(nginxId, { repoTags: ['nginx:1.27'], repoDigests: [`nginx@${manifest}`] }),
  ]);
  t.same(summarize(inventory.resolvePresent('docker.io/library/nginx:1.27')), {
    present: true,
    id: nginxId,
    matchedBy: 'tag',
  });
  t.same(summarize(inventory.resolveRepoDigest(`docker-pullable://nginx@${manifest}`)), {
    present: true,
    id: nginxId,
    matchedBy: 'digest',
  });
});

t.test('CRI-O bare image IDs', async (t) => {
  const bare = hex('7a');
  const inventory = new Inventory([image(bare, { repoTags: ['quay.io/org/app:1'] })]);
  t.same(summarize(inventory.resolvePresent(bare.slice(0, 12))), {
    present: true,
    id: bare,
    matchedBy: 'id-prefix',
  });
  t.same(summarize(inventory.resolveRepoDigest(bare)), {
    present: true,
    id: bare,
    matchedBy: 'id',
  });
});

t.test('images without a usable ID are reported, not indexed', async (t) => {
  const blank = image('', { repoTags: ['nginx:1.27'] });
  const inventory = new Inventory([blank, image(redisId)]);
  t.equal(inventory.size, 1);
  t.equal(inventory.rejectedImages.length, 1);
  t.equal(inventory.rejectedImages[0]?.image, blank);
  t.notOk(inventory.resolvePresent('nginx:1.27').present);
});

t.test('an inventory cannot be changed after construction', async (t) => {
  const source = [image(nginxId, { repoTags: ['nginx:1.27'] })];
  const inventory = new Inventory(source);
  source.push(image(redisId, { repoTags: ['redis'] }));
  t.equal(inventory.size, 1, 'later changes to the input do not leak in');
  t.ok(Object.isFrozen(inventory.entries()));
  t.ok(Object.isFrozen(inventory.entries()[0]));
  t.ok(Object.isFrozen(inventory.entries()[0]?.repoTags));
  t.ok(Object.isFrozen(inventory.rejectedImages));
});

t.test('an empty node', async (t) => {
  const inventory = new Inventory([]);
  t.equal(inventory.size, 0);
  t.equal(inventory.totalBytes, 0n);
  t.same(summarize(inventory.resolvePresent('nginx')), { present: false, reason: 'not-cached' });
  t.same(summarize(inventory.resolvePresent('sha256:')), { present: false, reason: 'not-cached' });
});

t.test('a listing built on the previous one equals one built from scratch', async (t) => {
  const names = [
    'docker.io/library/nginx:1.27',
    'nginx:1.28',
    'registry.example.com/mirror/nginx:1.27',
    `docker.io/library/nginx@${manifest}`,
    `ghcr.io/tenant-a/private@${otherManifest}`,
    'ghcr.io/tenant-a/private:v1',
    'Not A Name',
    `ghcr.io/tenant-a/private:v1@${manifest}`,
  ];
  const ids = [nginxId, redisId, privateId, twinA];
  const listingArb = fc.array(
    fc.record({
      id: fc.constantFrom(...ids),
      repoTags: fc.subarray(names),
      repoDigests: fc.subarray(names),
      sizeBytes: fc.constantFrom(1000n, 2000n),
      pinned: fc.boolean(),
    }),
    { maxLength: 6 },
  );
  const prefixes = ids.map((id) => id.slice(0, 'sha256:'.length + 3));
  // Chains of listings: each inventory built on the one before (taken-over records, layered
  // maps, patched name indexes, an ID listed twice), every one against one built from scratch.
  fc.assert(
    fc.property(fc.array(listingArb, { minLength: 2, maxLength: 8 }), (listings) => {
      let previous: Inventory | undefined;
      for (const listing of listings) {
        const reused = new Inventory(listing, previous);
        const fresh = new Inventory(listing);
        t.same(reused.entries(), fresh.entries());
        t.same(reused.rejectedImages, fresh.rejectedImages);
        for (const name of [...names, ...prefixes])
          t.same(reused.resolvePresent(name), fresh.resolvePresent(name), name);
        for (const name of names)
          t.same(reused.resolveRepoDigest(name), fresh.resolveRepoDigest(name), name);
        for (const id of ids) {
          t.equal(reused.has(id), fresh.has(id), id);
          t.same(reused.byId(id), fresh.byId(id), id);
        }
        previous = reused;
      }
    }),
    { numRuns: 300 },
  );
});

t.test('entries listed exactly as before are taken over, changed ones are not', async (t) => {
  const nginx = image(nginxId, { repoTags: ['nginx:1.27'] });
  const redis = image(redisId, { repoTags: ['redis:7'] });
  const before = new Inventory([nginx, redis]);
  const after = new Inventory(
    [
      { ...nginx, repoTags: [...nginx.repoTags] },
      { ...redis, repoTags: ['redis:8'] },
    ],
    before,
  );
  t.equal(after.byId(nginxId), before.byId(nginxId), 'the same listing: the same entry');
  t.not(after.byId(redisId), before.byId(redisId), 'a new tag: a new entry');
  t.same(after.byId(redisId)?.repoTags, ['docker.io/library/redis:8']);
  t.same(
    after.byId(nginxId)?.references.map((r) => r.name),
    ['docker.io/library/nginx'],
    'parsed names come along',
  );
});

t.test('a name listed under two IDs belongs to the first listing', async (t) => {
  const both = { repoTags: ['registry.example.com/app:1'] };
  for (const [first, second] of [
    [nginxId, redisId],
    [redisId, nginxId],
  ] as const) {
    const inventory = new Inventory([image(first, both), image(second, both)]);
    const presence = inventory.resolvePresent('registry.example.com/app:1');
    t.equal(presence.present && presence.image.id, first, `${first.slice(7, 11)} listed first`);
  }
});

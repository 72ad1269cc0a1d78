// private-image-exposed remembers its answers between reconciles, in the DetectionMemory the
// loop owns. Each case changes one input of a snapshot whose other objects stay the same (as the
// agent hands them over) and checks that the answer, with the memory of the earlier snapshots,
// equals one worked out from scratch (a fresh memory).
import t from 'tap';
import {
  cachedImage,
  container,
  credential,
  imageId,
  owner,
  pod,
  secret,
  snapshotOf,
} from '../../../test/kit/snapshot-builder.ts';
import type { NodeSnapshot, RepositoryVisibility } from '../../model/snapshot.ts';
import { verdictKey } from '../../model/snapshot.ts';
import { DetectionMemory } from '../memory.ts';
import { privateImageExposed } from './private-image-exposed.ts';

const REG = 'registry.example.com';
const NAME = `${REG}/team-a/app`;
const SEED = 'app';

// Fresh objects on every call, as every CRI listing is.
const listing = () => [
  cachedImage(SEED, { tags: [`${NAME}:v1`], digestRepos: [NAME] }),
  cachedImage('public', { tags: ['docker.io/library/nginx:1.27'] }),
];

const base = snapshotOf({
  images: listing(),
  pods: [
    pod('tenant-a', 'owner', [container(`${NAME}:v1`)], { pullSecrets: ['a-creds'] }),
    pod('tenant-b', 'web', [container('docker.io/library/nginx:1.27')]),
    pod('tenant-d', 'api', [container('docker.io/library/nginx:1.27')], {
      pullSecrets: ['d-creds'],
    }),
  ],
  secrets: [
    secret('tenant-a', 'a-creds', [credential(REG, 'a')]),
    secret('tenant-d', 'd-creds', [credential(REG, 'd')]),
  ],
  provenance: [{ seed: SEED, owners: [owner('tenant-a', 'a-creds', 'a')] }],
});

// One memory for the whole file, as the loop keeps one for its life.
const memory = new DetectionMemory();
const remembered = (s: NodeSnapshot) => privateImageExposed(s, memory);
const fromScratch = (s: NodeSnapshot) => privateImageExposed(s, new DetectionMemory());
const exposedTenants = (s: NodeSnapshot) => remembered(s).map((f) => f.exposedTenants);

const id = imageId(SEED);
const provenanceOf = (s: NodeSnapshot) => s.provenance.get(id);
const publicVisibility: RepositoryVisibility = {
  visibility: 'public',
  basis: 'anonymous manifest request answered 200',
  nodeCredentials: false,
};

const variants: readonly {
  readonly name: string;
  readonly change: (s: NodeSnapshot) => NodeSnapshot;
  readonly expected: readonly string[][];
}[] = [
  { name: 'nothing changed', change: (s) => ({ ...s }), expected: [['tenant-b', 'tenant-d']] },
  {
    name: 'a tenant became an owner (a new provenance object)',
    change: (s) => {
      const p = provenanceOf(s);
      if (p === undefined) throw new Error('no provenance');
      const provenance = new Map(s.provenance);
      provenance.set(id, { ...p, owners: [...p.owners, owner('tenant-b', undefined, undefined)] });
      return { ...s, provenance };
    },
    expected: [['tenant-d']],
  },
  {
    name: 'the registry says the repository is public (a new visibility answer)',
    change: (s) => ({ ...s, visibility: new Map([[NAME, publicVisibility]]) }),
    expected: [],
  },
  {
    name: "the registry lets tenant-d's own credential read it (new verdicts)",
    change: (s) => ({
      ...s,
      verdicts: new Map([[verdictKey('fp-d', NAME, id), 'can-read' as const]]),
    }),
    expected: [['tenant-b']],
  },
  {
    name: "tenant-b's last pod is gone (the groups changed)",
    change: (s) => ({ ...s, pods: s.pods.filter((p) => p.namespace !== 'tenant-b') }),
    expected: [['tenant-d']],
  },
  {
    // The owner was recorded as tenant-a when it pulled; the pods' tenant is now another name.
    name: 'namespaces now map to one tenant (the tenants changed)',
    change: (s) => ({
      ...s,
      tenantOfNamespace: () => 'everyone' as ReturnType<NodeSnapshot['tenantOfNamespace']>,
    }),
    expected: [['everyone']],
  },
  {
    name: 'a new listing reusing the entry',
    change: (s) => ({
      ...s,
      inventory: snapshotOf({ images: listing(), pods: [] }, s).inventory,
    }),
    expected: [['tenant-b', 'tenant-d']],
  },
];

for (const v of variants) {
  t.test(`remembered answers stay true: ${v.name}`, async (t) => {
    remembered(base); // the answers the variant may reuse
    const changed = v.change(base);
    t.same(exposedTenants(changed), v.expected);
    t.same(remembered(changed), fromScratch(changed), 'equal to an answer from scratch');
    // And back: the base answer is not spoiled by the variant's.
    t.same(exposedTenants(base), [['tenant-b', 'tenant-d']]);
  });
}

t.test('a listing that repeats the cache reuses the entry', async (t) => {
  const next = snapshotOf({ images: listing(), pods: [] }, base).inventory;
  t.equal(next.byId(id), base.inventory.byId(id));
});

t.test('an unchanged snapshot gets the very same finding objects', async (t) => {
  const first = remembered(base);
  const second = remembered({ ...base });
  t.equal(second[0], first[0]);
  t.not(fromScratch(base)[0], first[0], 'a fresh memory remembers nothing');
});

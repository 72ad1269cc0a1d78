// The "same objects" contract of DetectionMemory: whatever sequence of snapshots a loop hands
// over, detection with the loop's long-lived memory answers exactly as detection from scratch.
import t from 'tap';
import { detect } from './detect.ts';
import { cachedImageOf } from './container-image.ts';
import { DetectionMemory } from './memory.ts';
import {
  cachedImage,
  container,
  credential,
  owner,
  pod,
  secret,
  snapshotOf,
} from '../../test/kit/snapshot-builder.ts';
import type { NodeSnapshot } from '../model/snapshot.ts';

const REG = 'registry.example.com';
const APP = `${REG}/team-a/app:v1`;
const images = () => [cachedImage('app', { tags: [APP], digestRepos: [`${REG}/team-a/app`] })];
const owners = [{ seed: 'app', owners: [owner('tenant-a', 'a-creds', 'a')] }];
const ownerPod = pod('tenant-a', 'owner', [container(APP)], { pullSecrets: ['a-creds'] });
const intruder = pod('tenant-b', 'intruder', [container(APP)]);
const aCreds = secret('tenant-a', 'a-creds', [credential(REG, 'a')]);
const bCreds = secret('tenant-b', 'b-creds', [credential(REG, 'a')]);

const base = snapshotOf({
  images: images(),
  pods: [ownerPod],
  secrets: [aCreds],
  provenance: owners,
});

// Each step changes one thing, keeping the other objects, as sources do.
const steps: readonly { name: string; next: (s: NodeSnapshot) => NodeSnapshot }[] = [
  { name: 'the start', next: (s) => s },
  { name: 'another tenant starts the image', next: (s) => ({ ...s, pods: [...s.pods, intruder] }) },
  {
    name: 'it gets the owner credential in a secret of its own',
    next: (s) => ({
      ...s,
      pods: [ownerPod, pod('tenant-b', 'intruder', [container(APP)], { pullSecrets: ['b-creds'] })],
      secrets: new Map([...s.secrets, ['tenant-b/b-creds', bCreds]]),
    }),
  },
  {
    name: 'a new listing of the same cache',
    next: (s) => ({ ...s, inventory: snapshotOf({ images: images(), pods: [] }, s).inventory }),
  },
  {
    name: 'the tag moves to another image in a new listing',
    next: (s) => ({
      ...s,
      inventory: snapshotOf(
        {
          images: [cachedImage('app-v2', { tags: [APP], digestRepos: [`${REG}/team-a/app`] })],
          pods: [],
        },
        s,
      ).inventory,
    }),
  },
  {
    name: 'the image leaves the cache',
    next: (s) => ({ ...s, inventory: snapshotOf({ images: [], pods: [] }, s).inventory }),
  },
  {
    name: 'it is pulled again',
    next: (s) => ({ ...s, inventory: snapshotOf({ images: images(), pods: [] }, s).inventory }),
  },
  {
    name: 'the secret is gone again',
    next: (s) => ({ ...s, secrets: new Map([['tenant-a/a-creds', aCreds]]) }),
  },
  { name: 'the owner is forgotten', next: (s) => ({ ...s, provenance: new Map() }) },
];

t.test('a long-lived memory answers as a fresh one, step after step', async (t) => {
  const memory = new DetectionMemory();
  let snapshot = base;
  for (const step of steps) {
    snapshot = step.next(snapshot);
    t.same(detect(snapshot, memory), detect(snapshot, new DetectionMemory()), step.name);
    const remembered = snapshot.pods.flatMap((p) =>
      p.containers.map((c) => cachedImageOf(snapshot, c, memory)),
    );
    const fresh = snapshot.pods.flatMap((p) => p.containers.map((c) => cachedImageOf(snapshot, c)));
    t.same(remembered, fresh, `${step.name}: every container's cached image`);
  }
});

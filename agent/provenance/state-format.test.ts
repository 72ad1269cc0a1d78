import t from 'tap';
import type { ImageOwner } from '../model/snapshot.ts';
import { NODE, sampleImages, sampleState } from './state-fixtures.test-helper.ts';
import {
  STATE_SCHEMA_VERSION,
  decodeProvenanceState,
  encodeProvenanceState,
} from './state-format.ts';

const valid = () => JSON.parse(encodeProvenanceState(sampleState())) as Record<string, unknown>;

t.test('the state file round-trips every field', async (t) => {
  const text = encodeProvenanceState(sampleState());
  t.same(decodeProvenanceState(text, NODE), { ok: true, value: sampleState() });
  t.equal(text, encodeProvenanceState(sampleState()), 'the same knowledge gives the same bytes');
});

t.test('the file names its schema version, node and save time', async (t) => {
  const file = valid();
  t.equal(file['schemaVersion'], STATE_SCHEMA_VERSION);
  t.equal(file['node'], NODE);
  t.equal(file['savedAt'], '2025-06-01T10:01:00.000Z');
});

t.test('nothing but identities is written, whatever an owner carries at run time', async (t) => {
  const images = sampleImages();
  const [first] = images.values();
  if (first === undefined) throw new Error('fixture');
  const leaky = {
    ...first.owners[0],
    password: 'hunter2',
    auth: 'dXNlcjpodW50ZXIy',
  } as unknown as ImageOwner;
  images.set(first.imageId, { ...first, owners: [leaky] });
  const text = encodeProvenanceState({ node: NODE, savedAt: 0, images });
  t.notMatch(text, /hunter2|dXNlcjpodW50ZXIy|password|"auth"/);
});

type Mutation = (file: Record<string, unknown>) => unknown;
// The first image in the file that has owners (images are written sorted by ID).
const image0 = (file: Record<string, unknown>) =>
  (file['images'] as Record<string, unknown>[]).find(
    (image) => (image['owners'] as unknown[]).length > 0,
  ) as Record<string, unknown>;
const owner0 = (file: Record<string, unknown>) =>
  (image0(file)['owners'] as Record<string, unknown>[])[0] as Record<string, unknown>;

t.test(
  'a version 1 file is read: its running-pod owners come back as possible owners',
  async (t) => {
    const file = valid();
    file['schemaVersion'] = 1;
    for (const image of file['images'] as { owners: { source: string }[] }[])
      for (const owner of image.owners) owner.source = 'running-pod';
    const decoded = decodeProvenanceState(JSON.stringify(file), NODE);
    if (!decoded.ok) throw new Error(decoded.error.reason);
    const sources = [...decoded.value.images.values()].flatMap((i) =>
      i.owners.map((o) => o.source),
    );
    t.ok(sources.length > 0);
    t.ok(sources.every((s) => s === 'unverified-bootstrap'));
  },
);

t.test('a version 1 file naming a version 2 source is corrupt', async (t) => {
  const file = valid();
  file['schemaVersion'] = 1;
  owner0(file)['source'] = 'verified-bootstrap';
  t.match(decodeProvenanceState(JSON.stringify(file), NODE), {
    ok: false,
    error: { kind: 'corrupt', reason: /version 2 source/ },
  });
});

const refused: readonly { name: string; mutate: Mutation; kind: string; reason: RegExp }[] = [
  {
    name: 'a newer schemaVersion is refused as newer, not as corrupt',
    mutate: (f) => ({ ...f, schemaVersion: 3 }),
    kind: 'newer-schema',
    reason: /^schemaVersion 3 is newer than 2, the newest this version understands$/,
  },
  {
    name: 'schemaVersion 0',
    mutate: (f) => ({ ...f, schemaVersion: 0 }),
    kind: 'corrupt',
    reason: /schemaVersion 0 is not one of 1\.\.2/,
  },
  {
    name: 'a missing schemaVersion',
    mutate: (f) => ({ ...f, schemaVersion: undefined }),
    kind: 'corrupt',
    reason: /schemaVersion missing is not one of 1\.\.2/,
  },
  {
    name: 'a string schemaVersion',
    mutate: (f) => ({ ...f, schemaVersion: '1' }),
    kind: 'corrupt',
    reason: /schemaVersion "1" is not one of 1\.\.2/,
  },
  {
    name: 'an owner with an unknown source',
    mutate: (f) => {
      owner0(f)['source'] = 'rumour';
      return f;
    },
    kind: 'corrupt',
    reason: /invalid images\.1\.owners\.0\.source/,
  },
  {
    name: 'an owner carrying an extra field (a credential must never be read back)',
    mutate: (f) => {
      owner0(f)['password'] = 'hunter2';
      return f;
    },
    kind: 'corrupt',
    reason: /invalid images\.1\.owners\.0/,
  },
  {
    name: 'a fingerprint that is not hex',
    mutate: (f) => {
      owner0(f)['fingerprint'] = 'zz';
      return f;
    },
    kind: 'corrupt',
    reason: /fingerprint/,
  },
  {
    name: 'a time that is not a time',
    mutate: (f) => {
      image0(f)['cachedSince'] = 'yesterday';
      return f;
    },
    kind: 'corrupt',
    reason: /cachedSince/,
  },
  {
    name: 'firstSeen after lastSeen',
    mutate: (f) => {
      owner0(f)['firstSeen'] = '2100-01-01T00:00:00.000Z';
      return f;
    },
    kind: 'corrupt',
    reason: /firstSeen is after lastSeen/,
  },
  {
    name: 'the same image twice',
    mutate: (f) => ({ ...f, images: [image0(f), image0(f)] }),
    kind: 'corrupt',
    reason: /an image ID appears twice/,
  },
  {
    name: 'an image ID with whitespace',
    mutate: (f) => {
      image0(f)['imageId'] = 'sha256:abc def';
      return f;
    },
    kind: 'corrupt',
    reason: /imageId: not an image ID/,
  },
  {
    name: 'a file written on another node',
    mutate: (f) => ({ ...f, node: 'node-2' }),
    kind: 'other-node',
    reason: /written by node "node-2", this agent runs on "node-1"/,
  },
  {
    name: 'a JSON array',
    mutate: () => [],
    kind: 'corrupt',
    reason: /not a JSON object/,
  },
];

for (const c of refused) {
  t.test(`a state file is refused whole: ${c.name}`, async (t) => {
    const result = decodeProvenanceState(JSON.stringify(c.mutate(valid())), NODE);
    t.equal(result.ok, false);
    if (!result.ok) {
      t.equal(result.error.kind, c.kind);
      t.match(result.error.reason, c.reason);
    }
  });
}

t.test('text that is not JSON is corrupt', async (t) => {
  t.match(decodeProvenanceState('{"schemaVersion": 1,', NODE), {
    ok: false,
    error: { kind: 'corrupt', reason: /not JSON/ },
  });
});

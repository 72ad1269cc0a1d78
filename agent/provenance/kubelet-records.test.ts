import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { makeTempDir, type TeardownHost } from '../../test/helpers/tmp.ts';
import type { ImageId } from '../image/digest.ts';
import {
  intentPathForImage,
  readPullIntents,
  readPulledRecords,
  recordPathForImageId,
} from './kubelet-records.ts';

const id = (seed: string) => `sha256:${seed.repeat(64).slice(0, 64)}` as ImageId;
const withRecord = id('1');
const withoutRecord = id('2');
const broken = id('3');
const foreign = id('4');
const huge = id('5');
const aDirectory = id('6');
const aSymlink = id('7');
const warned = id('8');

function record(imageRef: string, mapping: object = {}): string {
  return JSON.stringify({
    kind: 'ImagePulledRecord',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    lastUpdatedTime: '2025-06-01T10:00:00Z',
    imageRef,
    credentialMapping: mapping,
  });
}

async function kubeletRoot(t: TeardownHost): Promise<string> {
  const root = await makeTempDir(t, 'kubelet-root');
  await mkdir(join(root, 'image_manager', 'pulled'), { recursive: true, mode: 0o700 });
  await mkdir(join(root, 'image_manager', 'pulling'), { recursive: true, mode: 0o700 });
  return root;
}

t.test('a node without image_manager/ (the feature gate is off) is not a problem', async (t) => {
  const root = await makeTempDir(t, 'kubelet-root');
  const reading = await readPulledRecords(root, [withRecord]);
  t.same(reading, { records: new Map(), problems: [], available: false });
  const intents = await readPullIntents(root);
  t.same(intents, { intents: [], problems: [], available: false });
});

t.test('a kubelet root that is a file is reported, not thrown', async (t) => {
  const dir = await makeTempDir(t, 'kubelet-root');
  const file = join(dir, 'file');
  await writeFile(file, 'x');
  const reading = await readPulledRecords(file, [withRecord]);
  t.equal(reading.available, false);
  t.match(reading.problems, [/cannot read kubelet records directory .*ENOTDIR/]);
});

t.test('records are found by image ID; each unusable file is named in problems', async (t) => {
  const root = await kubeletRoot(t);
  const mapping = {
    'registry.example.com/team-a/app': {
      kubernetesSecrets: [
        { uid: 'u', namespace: 'team-a', name: 'pull', credentialHash: 'a'.repeat(64) },
      ],
    },
  };
  await writeFile(recordPathForImageId(root, withRecord), record(withRecord, mapping), {
    mode: 0o600,
  });
  await writeFile(recordPathForImageId(root, broken), '{"kind":');
  await writeFile(recordPathForImageId(root, foreign), record('sha256:somethingelse', mapping));
  await writeFile(
    recordPathForImageId(root, huge),
    record(huge, { padding: 'x'.repeat(2 * 1024 * 1024) }),
  );
  await mkdir(recordPathForImageId(root, aDirectory));
  await symlink(recordPathForImageId(root, withRecord), recordPathForImageId(root, aSymlink));
  await writeFile(
    recordPathForImageId(root, warned),
    record(warned, { 'x/y': { kubernetesSecrets: 'not a list' } }),
  );

  const reading = await readPulledRecords(root, [
    withRecord,
    withoutRecord,
    broken,
    foreign,
    huge,
    aDirectory,
    aSymlink,
    warned,
    withRecord,
  ]);
  t.equal(reading.available, true);
  t.same([...reading.records.keys()].sort(), [withRecord, warned].sort());
  t.same(
    [...(reading.records.get(withRecord)?.credentialMapping.keys() ?? [])],
    ['registry.example.com/team-a/app'],
  );
  const path = (imageId: ImageId) => recordPathForImageId(root, imageId);
  const problems = reading.problems.join('\n');
  t.match(problems, `kubelet pulled record ${path(broken)}: the record is not JSON`);
  t.match(problems, `kubelet pulled record ${path(foreign)} is for another image reference`);
  t.match(problems, `kubelet record ${path(huge)} is over 1048576 bytes`);
  t.match(problems, `cannot read kubelet record ${path(aDirectory)}: not a regular file`);
  t.match(problems, `cannot read kubelet record ${path(aSymlink)}: ELOOP`);
  t.match(
    problems,
    `kubelet pulled record ${path(warned)}: credentialMapping["x/y"].kubernetesSecrets is not a list`,
  );
  t.notMatch(problems, path(withoutRecord), 'an image without a record is not a problem');
  t.equal(reading.problems.length, 6);
});

t.test('pull intents are listed; a file named after another image is reported', async (t) => {
  const root = await kubeletRoot(t);
  const intent = (image: string) =>
    JSON.stringify({
      kind: 'ImagePullIntent',
      apiVersion: 'kubelet.config.k8s.io/v1alpha1',
      image,
    });
  await writeFile(
    intentPathForImage(root, 'registry.example.com/app:v1'),
    intent('registry.example.com/app:v1'),
  );
  await writeFile(intentPathForImage(root, 'nginx'), intent('redis'));
  await writeFile(`${intentPathForImage(root, 'busybox')}.tmp`, 'half-written');
  await writeFile(join(root, 'image_manager', 'pulling', 'unrelated'), 'x');
  const reading = await readPullIntents(root);
  t.equal(reading.available, true);
  t.same(
    reading.intents.map((i) => i.image),
    ['registry.example.com/app:v1'],
  );
  t.match(reading.problems, [/is for another image; ignored/]);
});

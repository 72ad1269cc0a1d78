import t from 'tap';
import type { ImageId } from '../image/digest.ts';
import {
  MAX_RECORD_BYTES,
  intentPathForImage,
  isRecordFileName,
  parseKubeletRecord,
  parsePullIntent,
  parsePulledRecord,
  recordFileName,
  recordPathForImageId,
  type PulledRecord,
} from './kubelet-record-format.ts';

const hashA = 'a'.repeat(64);
const imageId = `sha256:${'1'.repeat(64)}`;

function pulled(apiVersion: string, credentialMapping?: unknown, extra: object = {}): string {
  return JSON.stringify({
    kind: 'ImagePulledRecord',
    apiVersion,
    lastUpdatedTime: '2025-06-01T10:00:00Z',
    imageRef: imageId,
    ...(credentialMapping === undefined ? {} : { credentialMapping }),
    ...extra,
  });
}

interface Expected {
  readonly lastUpdatedTime?: number;
  readonly names?: readonly string[];
  readonly secrets?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly nodePodsAccessible?: boolean;
  readonly hashes?: readonly (string | undefined)[];
  readonly warnings?: number;
}

function summary(record: PulledRecord): Required<Expected> {
  const values = [...record.credentialMapping.values()];
  return {
    lastUpdatedTime: record.lastUpdatedTime,
    names: [...record.credentialMapping.keys()],
    secrets: values.flatMap((v) => v.kubernetesSecrets.map((s) => `${s.namespace}/${s.name}`)),
    serviceAccounts: values.flatMap((v) =>
      v.kubernetesServiceAccounts.map((a) => `${a.namespace}/${a.name}`),
    ),
    nodePodsAccessible: values.some((v) => v.nodePodsAccessible),
    hashes: values.flatMap((v) => v.kubernetesSecrets.map((s) => s.credentialHash)),
    warnings: record.warnings.length,
  };
}

const accepted: readonly { name: string; text: string; expected: Expected }[] = [
  {
    name: 'a v1alpha1 record (Kubernetes 1.33-1.34) names the secret that pulled the image',
    text: pulled('kubelet.config.k8s.io/v1alpha1', {
      'registry.example.com/team-a/app': {
        kubernetesSecrets: [
          { uid: 'u1', namespace: 'team-a', name: 'pull', credentialHash: hashA },
        ],
      },
    }),
    expected: {
      lastUpdatedTime: Date.UTC(2025, 5, 1, 10),
      names: ['registry.example.com/team-a/app'],
      secrets: ['team-a/pull'],
      hashes: [hashA],
      nodePodsAccessible: false,
      warnings: 0,
    },
  },
  {
    name: 'a v1beta1 record (Kubernetes 1.35+) reads the same way',
    text: pulled('kubelet.config.k8s.io/v1beta1', {
      'registry.example.com/team-a/app': {
        kubernetesSecrets: [
          { uid: 'u1', namespace: 'team-a', name: 'pull', credentialHash: hashA.toUpperCase() },
        ],
      },
    }),
    expected: { secrets: ['team-a/pull'], hashes: [hashA], warnings: 0 },
  },
  {
    name: 'an empty credentialMapping means "pulled by the kubelet, verify next time"',
    text: pulled('kubelet.config.k8s.io/v1beta1', {}),
    expected: { names: [], secrets: [], nodePodsAccessible: false, warnings: 0 },
  },
  {
    name: 'a record without credentialMapping (the kubelet omits an empty one) is empty',
    text: pulled('kubelet.config.k8s.io/v1alpha1'),
    expected: { names: [], warnings: 0 },
  },
  {
    name: 'nodePodsAccessible marks node credentials or an anonymous pull',
    text: pulled('kubelet.config.k8s.io/v1beta1', {
      'docker.io/library/nginx': { nodePodsAccessible: true },
    }),
    expected: { names: ['docker.io/library/nginx'], secrets: [], nodePodsAccessible: true },
  },
  {
    name: 'service accounts used with a credential provider plugin are read',
    text: pulled('kubelet.config.k8s.io/v1beta1', {
      'ecr.example.com/app': {
        kubernetesServiceAccounts: [{ uid: 'sa1', namespace: 'team-b', name: 'builder' }],
      },
    }),
    expected: { secrets: [], serviceAccounts: ['team-b/builder'], warnings: 0 },
  },
  {
    name: "the KEP's field name kubernetesSecretCoordinates (early kubelet test data) is accepted",
    text: pulled('kubelet.config.k8s.io/v1alpha1', {
      'docker.io/testing/test': {
        kubernetesSecretCoordinates: [
          { uid: 'u', namespace: 'default', name: 'pull-secret', credentialHash: hashA },
        ],
      },
    }),
    expected: { secrets: ['default/pull-secret'] },
  },
  {
    name: 'a credentialHash that is not hex SHA-256 keeps the secret, without a hash, and warns',
    text: pulled('kubelet.config.k8s.io/v1beta1', {
      'docker.io/testing/test': {
        kubernetesSecrets: [{ namespace: 'default', name: 'pull', credentialHash: 'nothex' }],
      },
    }),
    expected: { secrets: ['default/pull'], hashes: [undefined], warnings: 1 },
  },
  {
    name: 'a secret entry without namespace is skipped with a warning, the rest is kept',
    text: pulled('kubelet.config.k8s.io/v1beta1', {
      'docker.io/testing/test': {
        kubernetesSecrets: [
          { name: 'nameless-namespace', credentialHash: hashA },
          { namespace: 'default', name: 'pull', credentialHash: hashA },
        ],
      },
    }),
    expected: { secrets: ['default/pull'], warnings: 1 },
  },
  {
    name: 'unknown fields are ignored (the KEP text differs from shipped code)',
    text: pulled('kubelet.config.k8s.io/v1beta1', {}, { futureField: { x: 1 } }),
    expected: { names: [], warnings: 0 },
  },
  {
    name: 'a time with fractional seconds and an offset is read',
    text: pulled(
      'kubelet.config.k8s.io/v1beta1',
      {},
      {
        lastUpdatedTime: '2025-06-01T12:00:00.250+02:00',
      },
    ),
    expected: { lastUpdatedTime: Date.UTC(2025, 5, 1, 10, 0, 0, 250) },
  },
];

for (const c of accepted) {
  t.test(c.name, async (t) => {
    const result = parsePulledRecord(c.text);
    if (!result.ok) {
      t.fail(result.error);
      return;
    }
    const actual = summary(result.value);
    for (const [key, value] of Object.entries(c.expected)) {
      t.same(actual[key as keyof Expected], value, key);
    }
  });
}

const refused: readonly { name: string; text: string; error: RegExp }[] = [
  { name: 'malformed JSON', text: '{"kind":"ImagePulledRecord",', error: /not JSON/ },
  {
    name: "the kubelet's own broken test record",
    text: '{"kind":"ImagePulledRecord","apiVersion":"kubelet.config.k8s.io/v1alpha1","lastUpdatedTime":"2024-10-21T12:26:40Z","imageRef":"testbrokenrecord":"credentialMapping":{}}',
    error: /not JSON/,
  },
  { name: 'a JSON array', text: '[]', error: /not a JSON object/ },
  {
    name: 'a wrong kind',
    text: JSON.stringify({
      kind: 'KubeletConfiguration',
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
    }),
    error: /kind "KubeletConfiguration" is neither/,
  },
  {
    name: 'an intent where a pulled record is expected',
    text: JSON.stringify({
      kind: 'ImagePullIntent',
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      image: 'nginx',
    }),
    error: /is not ImagePulledRecord/,
  },
  {
    name: 'an unknown apiVersion',
    text: pulled('kubelet.config.k8s.io/v2', {}),
    error: /apiVersion "kubelet.config.k8s.io\/v2" is not one of/,
  },
  {
    name: 'no imageRef',
    text: pulled('kubelet.config.k8s.io/v1beta1', {}, { imageRef: '' }),
    error: /no imageRef/,
  },
  {
    name: 'a lastUpdatedTime that is not a time',
    text: pulled('kubelet.config.k8s.io/v1beta1', {}, { lastUpdatedTime: 'yesterday' }),
    error: /lastUpdatedTime "yesterday" is not an RFC 3339 time/,
  },
  {
    name: 'a credentialMapping that is a list',
    text: pulled('kubelet.config.k8s.io/v1beta1', []),
    error: /credentialMapping is not an object/,
  },
  {
    name: 'a huge file (over 1 MiB)',
    text: pulled('kubelet.config.k8s.io/v1beta1', {}, { padding: 'x'.repeat(MAX_RECORD_BYTES) }),
    error: /larger than 1048576 bytes/,
  },
  {
    name: 'a file just over 1 MiB in UTF-8 though under it in UTF-16 units',
    text: pulled(
      'kubelet.config.k8s.io/v1beta1',
      {},
      {
        padding: 'é'.repeat(MAX_RECORD_BYTES / 2),
      },
    ),
    error: /larger than/,
  },
];

for (const c of refused) {
  t.test(`a record is refused with a reason: ${c.name}`, async (t) => {
    const result = parsePulledRecord(c.text);
    t.equal(result.ok, false);
    if (!result.ok) t.match(result.error, c.error);
  });
}

t.test('a pull intent names the image as written in the pod', async (t) => {
  for (const apiVersion of ['kubelet.config.k8s.io/v1alpha1', 'kubelet.config.k8s.io/v1beta1']) {
    const result = parsePullIntent(
      JSON.stringify({ kind: 'ImagePullIntent', apiVersion, image: 'repo.repo/test/test:v1' }),
    );
    t.same(result, {
      ok: true,
      value: { kind: 'ImagePullIntent', apiVersion, image: 'repo.repo/test/test:v1' },
    });
  }
  t.match(parsePullIntent(pulled('kubelet.config.k8s.io/v1beta1', {})), {
    ok: false,
    error: /is not ImagePullIntent/,
  });
});

t.test('parseKubeletRecord never throws, whatever the text', async (t) => {
  for (const text of ['', 'null', '1', '"x"', '{', '{"apiVersion":1}', '\u0000', '[[[[[[[[']) {
    t.equal(parseKubeletRecord(text).ok, false, JSON.stringify(text));
  }
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  t.equal(parseKubeletRecord(deep).ok, false, 'deeply nested arrays');
});

t.test('record file names are "sha256-" and the hex SHA-256 of the reference', async (t) => {
  // Known SHA-256 test vector: sha256("abc").
  t.equal(
    recordFileName('abc'),
    'sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  // A file name from the kubelet's own test data (pullmanager/testdata/pulled/), whose imageRef
  // is this repo digest.
  t.equal(
    recordFileName(
      'docker.io/testing/test@sha256:33735bd63cf84d7e388d9f6d297d348c523c044410f553bd878c6d7829612735',
    ),
    'sha256-0553787e9ca19226fc076aa7e59a4dbb797ef6bcae363e443b535dbec5fd4898',
  );
  t.equal(
    recordPathForImageId('/var/lib/kubelet', 'abc' as ImageId),
    '/var/lib/kubelet/image_manager/pulled/sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  // An intent file is named after the pod's image string (kubelet test data again).
  t.equal(
    intentPathForImage('/k', 'repo.repo/test/test:v1'),
    '/k/image_manager/pulling/sha256-ee81caca15454863449fb55a1d942904d56d5ed9f9b20a7cb3453944ea2c7e11',
  );
  t.ok(isRecordFileName(recordFileName('x')));
  t.notOk(isRecordFileName(`${recordFileName('x')}.tmp`), "the kubelet's temp files are skipped");
});

// The detection core as a table of named situations on one node. The base is the seed story:
// Admin1 (tenant-a) pulled SuperSecretImage1 with ImagePullSecret1; Admin2 (tenant-b), without
// that secret, runs a pod with the same image and imagePullPolicy IfNotPresent.
import t from 'tap';
import { detect } from './detect.ts';
import type {
  Confidence,
  DetectedFinding,
  Severity,
  UnauthorizedCachedImageUse,
} from './finding.ts';
import type { SnapshotParts } from '../../test/kit/snapshot-builder.ts';
import {
  cachedImage,
  container,
  credential,
  digestOf,
  imageId,
  MINUTE,
  owner,
  pod,
  secret,
  snapshotOf,
  T0,
} from '../../test/kit/snapshot-builder.ts';
import type { PodContainer, PodView, SecretView } from '../model/snapshot.ts';

const REG = 'registry.example.com';
const NAME = `${REG}/team-a/super-secret-image-1`;
const IMAGE = `${NAME}:v1`;
const SEED = 'secret-1';

const tenantASecret = secret('tenant-a', 'image-pull-secret-1', [credential(REG, 'a')]);
const admin1Pod = pod('tenant-a', 'admin1-pod', [container(IMAGE)], {
  pullSecrets: ['image-pull-secret-1'],
  createdAt: T0 - MINUTE,
});

interface Story {
  /** Tenant B's pod (default: admin2-pod running IMAGE with no pull secret). */
  b?: PodView;
  bContainers?: readonly PodContainer[];
  bSecrets?: readonly SecretView[];
  bPullSecrets?: readonly string[];
  parts?: Partial<SnapshotParts>;
}

function story(s: Story = {}): SnapshotParts {
  const b =
    s.b ??
    pod('tenant-b', 'admin2-pod', s.bContainers ?? [container(IMAGE)], {
      pullSecrets: s.bPullSecrets ?? (s.bSecrets ?? []).map((x) => x.name),
      createdAt: T0 + 5 * MINUTE,
    });
  return {
    images: [cachedImage(SEED, { tags: [IMAGE], digestRepos: [NAME] })],
    pods: [admin1Pod, b],
    secrets: [tenantASecret, ...(s.bSecrets ?? [])],
    provenance: [
      { seed: SEED, owners: [owner('tenant-a', 'image-pull-secret-1', 'a')], cachedSince: T0 },
    ],
    visibility: { [NAME]: 'private' },
    ...s.parts,
  };
}

interface Expect {
  severity: Severity;
  confidence: Confidence;
  container?: string;
  evidence?: RegExp;
}

const cases: { name: string; parts: SnapshotParts; want: Expect | undefined }[] = [
  {
    name: 'the seed story: Admin2 runs Admin1 private image from the cache',
    parts: story(),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /already in the cache \(since .*\) when the pod was created/,
    },
  },
  {
    name: 'imagePullPolicy Never is flagged too',
    parts: story({ bContainers: [container(IMAGE, { policy: 'Never' })] }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'imagePullPolicy Always is not flagged: the kubelet pulls with the pod own credentials',
    parts: story({ bContainers: [container(IMAGE, { policy: 'Always' })] }),
    want: undefined,
  },
  {
    name: 'B holds its own secret for the registry and the registry lets it read the image',
    parts: story({
      bSecrets: [secret('tenant-b', 'b-creds', [credential(REG, 'b')])],
      parts: { verdicts: [['b', NAME, SEED, 'can-read']] },
    }),
    want: undefined,
  },
  {
    name: 'B holds its own secret for the registry but the registry refuses it for this image',
    parts: story({
      bSecrets: [secret('tenant-b', 'b-creds', [credential(REG, 'b')])],
      parts: { verdicts: [['b', NAME, SEED, 'cannot-read']] },
    }),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /registry refused tenant-b's matching credential/,
    },
  },
  {
    name: 'B holds a matching secret that could not be verified: medium, and it says so',
    parts: story({ bSecrets: [secret('tenant-b', 'b-creds', [credential(REG, 'b')])] }),
    want: { severity: 'medium', confidence: 'possible', evidence: /could not be verified/ },
  },
  {
    name: "B's pull secret is not read yet: its credentials are unknown, never none (possible, and it says so)",
    parts: story({ bPullSecrets: ['b-creds'] }),
    want: {
      severity: 'medium',
      confidence: 'possible',
      evidence: /tenant-b\/b-creds .*not read yet/,
    },
  },
  {
    name: 'B holds a secret for another registry only',
    parts: story({ bSecrets: [secret('tenant-b', 'b-creds', [credential('ghcr.io', 'b')])] }),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /holds no pull secret that matches registry.example.com/,
    },
  },
  {
    name: 'a public image is never a finding',
    parts: story({ parts: { visibility: { [NAME]: 'public' } } }),
    want: undefined,
  },
  {
    name: 'the image referenced by digest',
    parts: story({ bContainers: [container(`${NAME}@${digestOf(SEED)}`)] }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'another tag of the same content that the node never pulled: the kubelet would pull (and fail)',
    parts: story({ bContainers: [container(`${NAME}:v1-other-tag`)] }),
    want: undefined,
  },
  {
    name: 'the same digest under another repository name is not present either',
    parts: story({ bContainers: [container(`${REG}/team-b/copy@${digestOf(SEED)}`)] }),
    want: undefined,
  },
  {
    name: 'a completed init container counts: its code ran',
    parts: story({
      bContainers: [
        container(IMAGE, {
          kind: 'init',
          name: 'setup',
          state: { kind: 'terminated', exitCode: 0, startedAt: T0 + 6 * MINUTE },
        }),
        container('registry.k8s.io/pause:3.9', { name: 'main' }),
      ],
    }),
    want: { severity: 'critical', confidence: 'confirmed', container: 'setup' },
  },
  {
    name: 'an ephemeral debug container added with kubectl debug',
    parts: story({
      bContainers: [
        container('registry.k8s.io/pause:3.9', { name: 'main' }),
        container(IMAGE, { kind: 'ephemeral', name: 'debugger' }),
      ],
    }),
    want: { severity: 'critical', confidence: 'confirmed', container: 'debugger' },
  },
  {
    name: 'a pending pod about to start from the cache',
    parts: story({
      bContainers: [container(IMAGE, { state: { kind: 'waiting', reason: 'ContainerCreating' } })],
    }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'ErrImageNeverPull: the kubelet refused, nothing ran',
    parts: story({
      bContainers: [
        container(IMAGE, {
          policy: 'Never',
          state: { kind: 'waiting', reason: 'ErrImageNeverPull' },
        }),
      ],
    }),
    want: undefined,
  },
  {
    name: 'secrets from B service account (copied into the pod at admission) with the same credential A used',
    parts: story({
      b: pod('tenant-b', 'admin2-pod', [container(IMAGE)], {
        serviceAccount: 'builder',
        pullSecrets: ['sa-copied-secret'],
        createdAt: T0 + 5 * MINUTE,
      }),
      bSecrets: [secret('tenant-b', 'sa-copied-secret', [credential(REG, 'a')])],
    }),
    want: undefined,
  },
  {
    name: 'a wildcard secret key *.example.com matches registry.example.com and the registry allows it',
    parts: story({
      bSecrets: [secret('tenant-b', 'wild', [credential('*.example.com', 'b')])],
      parts: { verdicts: [['b', NAME, SEED, 'can-read']] },
    }),
    want: undefined,
  },
  {
    name: 'a wildcard key does not cross a dot: *.com does not match registry.example.com',
    parts: story({
      bSecrets: [secret('tenant-b', 'wild', [credential('*.com', 'b')])],
      parts: { verdicts: [['b', NAME, SEED, 'can-read']] },
    }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'a path-scoped key for team-b does not match team-a repositories',
    parts: story({
      bSecrets: [secret('tenant-b', 'scoped', [credential(`${REG}/team-b`, 'b')])],
      parts: { verdicts: [['b', NAME, SEED, 'can-read']] },
    }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'docker.io normalization: a familiar name in the pod, the kubelet default key in B secret',
    parts: {
      images: [
        cachedImage('hub', {
          tags: ['docker.io/acme/private-tool:2.0'],
          digestRepos: ['docker.io/acme/private-tool'],
        }),
      ],
      pods: [
        pod('tenant-b', 'admin2-pod', [container('acme/private-tool:2.0')], {
          createdAt: T0 + 5 * MINUTE,
        }),
      ],
      provenance: [{ seed: 'hub', owners: [owner('tenant-a', 'hub-creds', 'a')] }],
      visibility: { 'docker.io/acme/private-tool': 'private' },
    },
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'docker.io: B own https://index.docker.io/v1/ secret that the registry accepts',
    parts: {
      images: [cachedImage('hub', { tags: ['docker.io/acme/private-tool:2.0'] })],
      pods: [
        pod('tenant-b', 'admin2-pod', [container('acme/private-tool:2.0')], {
          pullSecrets: ['hub'],
          createdAt: T0 + 5 * MINUTE,
        }),
      ],
      secrets: [secret('tenant-b', 'hub', [credential('https://index.docker.io/v1/', 'b')])],
      provenance: [{ seed: 'hub', owners: [owner('tenant-a', 'hub-creds', 'a')] }],
      visibility: { 'docker.io/acme/private-tool': 'private' },
      verdicts: [['b', 'docker.io/acme/private-tool', 'hub', 'can-read']],
    },
    want: undefined,
  },
  {
    name: 'a registry the node holds credentials for (e.g. ECR via a credential provider) never yields findings',
    parts: story({
      parts: {
        visibility: { [NAME]: { visibility: 'private', basis: 'probe', nodeCredentials: true } },
      },
    }),
    want: undefined,
  },
  {
    name: 'two namespaces of one tenant (--tenant-label) share their images',
    parts: story({
      b: pod('team-a-staging', 'staging-pod', [container(IMAGE)], { createdAt: T0 + 5 * MINUTE }),
      parts: {
        tenantLabel: 'example.com/tenant',
        namespaceLabels: {
          'tenant-a': { 'example.com/tenant': 'team-a' },
          'team-a-staging': { 'example.com/tenant': 'team-a' },
        },
        provenance: [
          {
            seed: SEED,
            owners: [owner('tenant-a', 'image-pull-secret-1', 'a', { tenant: 'team-a' })],
          },
        ],
      },
    }),
    want: undefined,
  },
  {
    name: 'a malformed pull secret gives no credential: finding, and the evidence names the secret',
    parts: story({
      bSecrets: [
        {
          state: 'malformed',
          namespace: 'tenant-b',
          name: 'broken',
          problem: '.dockerconfigjson is not valid JSON',
        },
      ],
    }),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /tenant-b\/broken is malformed/,
    },
  },
  {
    name: 'KEP-2535 records as the only provenance, B holding no secret',
    parts: story({
      parts: {
        visibility: {},
        provenance: [
          {
            seed: SEED,
            owners: [
              owner('tenant-a', 'image-pull-secret-1', 'a', {
                source: 'kubelet-record',
                hashOnly: true,
              }),
            ],
          },
        ],
      },
    }),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /kubelet's pulled-image record/,
    },
  },
  {
    name: 'KEP-2535 records: B holds a copy of the same credential (same credentialHash), which the kubelet accepts',
    parts: story({
      bSecrets: [secret('tenant-b', 'copied', [credential(REG, 'a')])],
      parts: {
        provenance: [
          {
            seed: SEED,
            owners: [
              owner('tenant-a', 'image-pull-secret-1', 'a', {
                source: 'kubelet-record',
                hashOnly: true,
              }),
            ],
          },
        ],
      },
    }),
    want: undefined,
  },
  {
    name: 'a kubelet record saying every pod of the node may use it (node credentials or anonymous pull)',
    parts: story({ parts: { provenance: [{ seed: SEED, owners: [], nodeWide: true }] } }),
    want: undefined,
  },
  {
    name: 'the kubelet verified the pod credentials (KEP-2535 "and can be accessed by the pod")',
    parts: story({
      parts: { events: [['uid-tenant-b-admin2-pod', 'app', 'already-present-verified']] },
    }),
    want: undefined,
  },
  {
    name: 'the kubelet said "already present on machine" for B pod: confirmed even without cache times',
    parts: story({
      parts: {
        events: [['uid-tenant-b-admin2-pod', 'app', 'already-present']],
        provenance: [
          {
            seed: SEED,
            owners: [owner('tenant-a', 'image-pull-secret-1', 'a')],
            cachedSince: T0 + 10 * MINUTE,
          },
        ],
      },
    }),
    want: { severity: 'critical', confidence: 'confirmed', evidence: /already present on machine/ },
  },
  {
    name: 'the image arrived after B pod was created and no kubelet event is known: likely, high',
    parts: story({
      parts: {
        provenance: [
          {
            seed: SEED,
            owners: [owner('tenant-a', 'image-pull-secret-1', 'a')],
            cachedSince: T0 + 10 * MINUTE,
          },
        ],
      },
    }),
    want: { severity: 'high', confidence: 'likely' },
  },
  {
    name: 'cached in the same second the pod was created (creationTimestamp has whole seconds): confirmed',
    parts: story({
      b: pod('tenant-b', 'admin2-pod', [container(IMAGE)], { createdAt: T0 + 5 * MINUTE }),
      parts: {
        provenance: [
          {
            seed: SEED,
            owners: [owner('tenant-a', 'image-pull-secret-1', 'a')],
            cachedSince: T0 + 5 * MINUTE + 700,
          },
        ],
      },
    }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
  {
    name: 'visibility unknown but A pulled it with a secret: treated as private, and the evidence says why',
    parts: story({ parts: { visibility: {} } }),
    want: {
      severity: 'critical',
      confidence: 'confirmed',
      evidence: /pulled with a tenant pull secret/,
    },
  },
  {
    name: 'visibility unknown and nobody is known to have used a secret: not flagged',
    parts: story({ parts: { visibility: {}, provenance: [] } }),
    want: undefined,
  },
  {
    name: 'an ignored namespace (--ignore-namespaces) is left out',
    parts: story({ parts: { ignoredNamespaces: ['tenant-b'] } }),
    want: undefined,
  },
  {
    name: 'the image is not in the cache: the kubelet will pull with B credentials',
    parts: story({ parts: { images: [] } }),
    want: undefined,
  },
  {
    name: 'the container status names the image the runtime started (docker-pullable:// prefix)',
    parts: story({
      bContainers: [
        container(`${NAME}:moved-tag`, {
          statusImageId: `docker-pullable://${NAME}@${digestOf(SEED)}`,
        }),
      ],
    }),
    want: { severity: 'critical', confidence: 'confirmed' },
  },
];

const unauthorized = (fs: readonly DetectedFinding[]): UnauthorizedCachedImageUse[] =>
  fs.filter((f): f is UnauthorizedCachedImageUse => f.rule === 'unauthorized-cached-image-use');

for (const c of cases) {
  t.test(c.name, async (t) => {
    const found = unauthorized(detect(snapshotOf(c.parts))).filter(
      (f) => f.namespace !== 'tenant-a',
    );
    if (c.want === undefined) {
      t.same(
        found.map((f) => `${f.namespace}/${f.pod}/${f.container}`),
        [],
        'no unauthorized use',
      );
      return;
    }
    t.equal(found.length, 1, 'one finding');
    const f = found[0];
    if (f === undefined) return;
    t.equal(f.severity, c.want.severity, 'severity');
    t.equal(f.confidence, c.want.confidence, 'confidence');
    if (c.want.container !== undefined) t.equal(f.container, c.want.container);
    if (c.want.evidence !== undefined) t.match(f.evidence.join(' '), c.want.evidence, 'evidence');
  });
}

t.test(
  'the seed story finding carries everything a security engineer needs, and no credential',
  async (t) => {
    const [f] = unauthorized(detect(snapshotOf(story())));
    t.match(f, {
      rule: 'unauthorized-cached-image-use',
      node: 'node-1',
      tenant: 'tenant-b',
      namespace: 'tenant-b',
      pod: 'admin2-pod',
      container: 'app',
      image: IMAGE,
      imageId: imageId(SEED),
      repoDigest: `${NAME}@${digestOf(SEED)}`,
      registry: REG,
      repository: 'team-a/super-secret-image-1',
      pullPolicy: 'IfNotPresent',
      owners: [{ tenant: 'tenant-a', namespace: 'tenant-a', secret: 'image-pull-secret-1' }],
    });
    t.match(f?.remediation, /AlwaysPullImages/);
    t.match(f?.evidence.join(' '), /tenant tenant-a \(secret tenant-a\/image-pull-secret-1/);
    t.notMatch(JSON.stringify(f), /fp-a|hash-a/, 'no fingerprint or hash is served in a finding');
  },
);

t.test('finding IDs are stable across runs and distinct across pods', async (t) => {
  const one = detect(snapshotOf(story())).map((f) => f.id);
  const two = detect(snapshotOf(story())).map((f) => f.id);
  t.same(one, two);
  t.equal(new Set(one).size, one.length);
});

t.test('private-image-exposed names the tenants that could start it from the cache', async (t) => {
  const parts = story({
    b: pod('tenant-b', 'web', [container('registry.k8s.io/pause:3.9')], {
      createdAt: T0 + 5 * MINUTE,
    }),
    parts: {
      pods: [
        admin1Pod,
        pod('tenant-b', 'web', [container('nginx:1.27')]),
        pod('tenant-c', 'job', [container('busybox:1.36', { policy: 'Always' })]),
        pod('tenant-d', 'api', [container('redis:7')], { pullSecrets: ['d-creds'] }),
      ],
      secrets: [tenantASecret, secret('tenant-d', 'd-creds', [credential(REG, 'd')])],
      verdicts: [['d', NAME, SEED, 'can-read']],
    },
  });
  const exposed = detect(snapshotOf(parts)).filter((f) => f.rule === 'private-image-exposed');
  t.equal(exposed.length, 1, 'one finding per image');
  t.match(exposed[0], {
    severity: 'medium',
    imageId: imageId(SEED),
    image: IMAGE,
    exposedTenants: ['tenant-b'],
    owners: [{ tenant: 'tenant-a' }],
  });
  t.notOk(
    detect(snapshotOf({ ...parts, visibility: { [NAME]: 'public' } })).some(
      (f) => f.rule === 'private-image-exposed',
    ),
    'a public image exposes nothing',
  );
});

t.test('always-pull-images-not-enforced counts policies once per node', async (t) => {
  const findings = detect(
    snapshotOf({
      images: [],
      pods: [
        pod('a', 'p1', [container('nginx:1.27'), container('x:latest', { name: 'b' })]),
        pod('b', 'p2', [container('redis:7', { policy: 'Never' })]),
        pod('kube-system', 'dns', [container('coredns:1.11')]),
      ],
      ignoredNamespaces: ['kube-system'],
      kubeletVerification: 'on',
    }),
  ).filter((f) => f.rule === 'always-pull-images-not-enforced');
  t.equal(findings.length, 1);
  t.match(findings[0], {
    severity: 'low',
    containersByPolicy: { Always: 1, IfNotPresent: 1, Never: 1 },
  });
  t.match(findings[0]?.evidence.join(' '), /2 of 3 containers in 2 pods/);
  t.match(findings[0]?.evidence.join(' '), /What the kubelet enforces is not known/);
  t.same(
    detect(snapshotOf({ images: [], pods: [pod('a', 'p', [container('nginx')])] })).filter(
      (f) => f.rule === 'always-pull-images-not-enforced',
    ),
    [],
    'all Always: nothing to report',
  );
});

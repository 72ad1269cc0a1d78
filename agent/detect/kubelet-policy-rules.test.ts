// Detection under the node's actual kubelet policy (issue 15): which rule speaks for a cached
// private image when the kubelet verifies some images and not others, and a pod the kubelet
// itself verified (its real event text) is never flagged.
import t from 'tap';
import {
  cachedImage,
  container,
  credential,
  owner,
  pod,
  secret,
  snapshotOf,
  type SnapshotParts,
} from '../../test/kit/snapshot-builder.ts';
import { kubeletImageEventsOf } from '../kube/kubelet-events.ts';
import type { KubeletPosture } from '../model/kubelet-config.ts';
import { detect } from './detect.ts';
import type { Rule } from './finding.ts';

const REG = 'registry.example.com';
const PRIVATE = `${REG}/team-a/app`;
const preloaded = cachedImage('preloaded', { tags: [`${PRIVATE}:v1`], digestRepos: [PRIVATE] });
const publicImage = cachedImage('nginx', { tags: ['docker.io/library/nginx:1.27'] });
// tenant-b runs a pod here that is not forced to pull and holds no credential for the registry.
const tenantB = pod('tenant-b', 'web', [container('docker.io/library/nginx:1.27')]);

const posture = (policy: KubeletPosture['policy'], allowlist: string[] = []) => ({
  policy,
  allowlist,
  basis: `test policy ${policy}`,
  files: ['/var/lib/kubelet/config.yaml'],
  fromConfig: true,
});

const base: SnapshotParts = {
  images: [preloaded, publicImage],
  pods: [tenantB],
  visibility: { [PRIVATE]: 'private', 'docker.io/library/nginx': 'public' },
  pulledByKubelet: ['nginx'],
};

const cases: readonly {
  name: string;
  parts: Partial<SnapshotParts>;
  rules: readonly Rule[];
  evidence?: RegExp;
}[] = [
  {
    name: 'default policy, a private image the kubelet never pulled: preloaded-private-image-exposed',
    parts: { kubeletPosture: posture('NeverVerifyPreloadedImages') },
    rules: ['preloaded-private-image-exposed', 'always-pull-images-not-enforced'],
    evidence:
      /Private images it would start for any pod without checking credentials: registry.example.com\/team-a\/app:v1/,
  },
  {
    name: 'default policy, the kubelet pulled it (a record): verified, nothing about the image',
    parts: {
      kubeletPosture: posture('NeverVerifyPreloadedImages'),
      pulledByKubelet: ['nginx', 'preloaded'],
      provenance: [
        {
          seed: 'preloaded',
          owners: [owner('tenant-a', 'pull', 'a', { source: 'kubelet-record' })],
        },
      ],
    },
    rules: ['always-pull-images-not-enforced'],
    evidence: /No private image in the cache is left unchecked by it now/,
  },
  {
    name: 'default policy, the records cannot be read: no claim either way about the image',
    parts: { kubeletPosture: posture('NeverVerifyPreloadedImages'), pulledByKubelet: undefined },
    rules: ['always-pull-images-not-enforced'],
    evidence: /For 1 more, its records cannot be read to tell/,
  },
  {
    name: 'AlwaysVerify with no allowlist: no node-level finding and no exposure',
    parts: {
      kubeletPosture: posture('AlwaysVerify'),
      provenance: [{ seed: 'preloaded', owners: [owner('tenant-a', 'pull', 'a')] }],
    },
    rules: [],
  },
  {
    name: 'allowlist covering the preloaded image: the new rule, naming the entry',
    parts: { kubeletPosture: posture('NeverVerifyAllowlistedImages', [`${REG}/team-a/*`]) },
    rules: ['preloaded-private-image-exposed', 'always-pull-images-not-enforced'],
    evidence: /its allowlist covers \(registry.example.com\/team-a\/\*\)/,
  },
  {
    name: 'allowlist not covering it: the kubelet checks it, even preloaded',
    parts: { kubeletPosture: posture('NeverVerifyAllowlistedImages', [`${REG}/team-b/*`]) },
    rules: ['always-pull-images-not-enforced'],
  },
  {
    name: 'gate off, owned private image: private-image-exposed as before',
    parts: {
      kubeletPosture: posture('gate-off'),
      provenance: [{ seed: 'preloaded', owners: [owner('tenant-a', 'pull', 'a')] }],
    },
    rules: ['private-image-exposed', 'always-pull-images-not-enforced'],
    evidence: /it checks no cached image/,
  },
  {
    name: 'policy unknown: private-image-exposed as before, and no claim about preloading',
    parts: {
      provenance: [{ seed: 'preloaded', owners: [owner('tenant-a', 'pull', 'a')] }],
    },
    rules: ['private-image-exposed', 'always-pull-images-not-enforced'],
    evidence: /What the kubelet enforces is not known/,
  },
  {
    name: 'default policy, but the only other tenant holds a credential the registry accepts',
    parts: {
      kubeletPosture: posture('NeverVerifyPreloadedImages'),
      pods: [
        pod('tenant-b', 'web', [container('docker.io/library/nginx:1.27')], {
          pullSecrets: ['pull'],
        }),
      ],
      secrets: [secret('tenant-b', 'pull', [credential(REG, 'b')])],
      verdicts: [['b', PRIVATE, 'preloaded', 'can-read']],
    },
    rules: ['always-pull-images-not-enforced'],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const findings = detect(snapshotOf({ ...base, ...c.parts }));
    t.same(findings.map((f) => f.rule).sort(), [...c.rules].sort());
    if (c.evidence !== undefined)
      t.match(findings.flatMap((f) => f.evidence).join('\n'), c.evidence);
  });
}

t.test(
  'the new finding reads like private-image-exposed, with why the kubelet exempts it',
  async (t) => {
    const [finding] = detect(
      snapshotOf({ ...base, kubeletPosture: posture('NeverVerifyPreloadedImages') }),
    ).filter((f) => f.rule === 'preloaded-private-image-exposed');
    t.match(finding, {
      severity: 'medium',
      confidence: 'confirmed',
      image: `${PRIVATE}:v1`,
      exposedTenants: ['tenant-b'],
      kubeletPolicy: 'NeverVerifyPreloadedImages',
      allowlistEntry: null,
      owners: [],
    });
    t.match(
      finding?.evidence.join(' '),
      /holds no KEP-2535 pulled record of it: it did not pull it/,
    );
  },
);

// Kubernetes 1.35+: the kubelet's own check passed, so the use was authorized by it.
t.test('a pod the kubelet verified ("can be accessed by the pod") is never flagged', async (t) => {
  const victimPod = pod('tenant-b', 'thief', [
    container(`${PRIVATE}:v1`, { policy: 'IfNotPresent' }),
  ]);
  const events = kubeletImageEventsOf(
    [
      {
        reason: 'Pulled',
        type: 'Normal',
        source: { component: 'kubelet', host: 'node-1' },
        involvedObject: { kind: 'Pod', uid: victimPod.uid, fieldPath: 'spec.containers{app}' },
        message: `Container image "${PRIVATE}:v1" already present on machine and can be accessed by the pod`,
        firstTimestamp: '2026-11-01T00:10:00Z',
      },
    ],
    'node-1',
  );
  const parts = {
    ...base,
    pods: [victimPod],
    provenance: [
      {
        seed: 'preloaded',
        owners: [owner('tenant-a', 'pull', 'a', { source: 'kubelet-record' as const })],
      },
    ],
    pulledByKubelet: ['nginx', 'preloaded'],
    kubeletPosture: posture('NeverVerifyPreloadedImages'),
  };
  const verified = detect(
    snapshotOf({
      ...parts,
      events: [...events].map(([name, kind]) => [victimPod.uid, name, kind] as const),
    }),
  );
  t.same(
    verified.filter((f) => f.rule === 'unauthorized-cached-image-use'),
    [],
  );
  const unverified = detect(snapshotOf(parts));
  t.equal(
    unverified.filter((f) => f.rule === 'unauthorized-cached-image-use').length,
    1,
    'without that event the same pod is flagged',
  );
});

// What the kubelet enforces, from its files and its visible behaviour, and what that means for
// one cached image: never "protected" by default.
import t from 'tap';
import type { KubeletConfigReading, KubeletPosture } from '../model/kubelet-config.ts';
import { kubeletCheckOf, kubeletPostureOf, protectedByOf } from './kubelet-posture.ts';

const FILE = '/var/lib/kubelet/config.yaml';
const read = (
  fields: Partial<Extract<KubeletConfigReading, { kind: 'read' }>>,
): KubeletConfigReading => ({
  kind: 'read',
  files: [FILE],
  featureGate: undefined,
  policy: undefined,
  allowlist: [],
  ...fields,
});

const postures: readonly {
  name: string;
  reading: KubeletConfigReading;
  evidence: 'on' | 'off' | 'unknown';
  policy: KubeletPosture['policy'];
  basis: RegExp;
  fromConfig?: boolean;
}[] = [
  {
    name: 'gate and AlwaysVerify set in the file',
    reading: read({ featureGate: true, policy: 'AlwaysVerify' }),
    evidence: 'unknown',
    policy: 'AlwaysVerify',
    basis:
      /the gate is on in \/var\/lib\/kubelet\/config.yaml; imagePullCredentialsVerificationPolicy is AlwaysVerify/,
    fromConfig: true,
  },
  {
    name: 'gate on, no policy: the kubelet default',
    reading: read({ featureGate: true }),
    evidence: 'unknown',
    policy: 'NeverVerifyPreloadedImages',
    basis: /not set, so the kubelet's default NeverVerifyPreloadedImages applies/,
    fromConfig: true,
  },
  {
    name: 'gate not set, records on disk: on, inferred',
    reading: read({ policy: 'AlwaysVerify' }),
    evidence: 'on',
    policy: 'AlwaysVerify',
    basis: /the kubelet visibly verifies/,
    fromConfig: false,
  },
  {
    name: 'gate not set and nothing visible: it depends on the kubelet version',
    reading: read({ policy: 'AlwaysVerify' }),
    evidence: 'unknown',
    policy: 'unknown',
    basis: /its default depends on the kubelet version \(on from 1.35\)/,
  },
  {
    name: 'gate not set, events without verification: off',
    reading: read({}),
    evidence: 'off',
    policy: 'gate-off',
    basis: /without "can be accessed by the pod"/,
  },
  {
    name: 'gate off in the file, whatever the events say',
    reading: read({ featureGate: false, policy: 'AlwaysVerify' }),
    evidence: 'on',
    policy: 'gate-off',
    basis: /KubeletEnsureSecretPulledImages is false/,
  },
  {
    name: 'an unreadable file',
    reading: { kind: 'unknown', files: [FILE], reason: `${FILE} cannot be read (EACCES)` },
    evidence: 'on',
    policy: 'unknown',
    basis: /cannot be read/,
  },
  {
    name: 'reading turned off',
    reading: { kind: 'off' },
    evidence: 'on',
    policy: 'unknown',
    basis: /--kubelet-config off/,
  },
];

for (const c of postures) {
  t.test(`posture: ${c.name}`, async (t) => {
    const posture = kubeletPostureOf(c.reading, c.evidence);
    t.equal(posture.policy, c.policy);
    t.match(posture.basis, c.basis);
    if (c.fromConfig !== undefined) t.equal(posture.fromConfig, c.fromConfig);
  });
}

const posture = (policy: KubeletPosture['policy'], allowlist: string[] = []): KubeletPosture => ({
  policy,
  allowlist,
  basis: '',
  files: [FILE],
  fromConfig: true,
});
const NAME = 'registry.example.com/team-a/app';

const checks: readonly {
  name: string;
  posture: KubeletPosture;
  pulledByKubelet: boolean | undefined;
  want: ReturnType<typeof kubeletCheckOf>['kind'];
}[] = [
  {
    name: 'AlwaysVerify, preloaded',
    posture: posture('AlwaysVerify'),
    pulledByKubelet: false,
    want: 'verified',
  },
  {
    name: 'AlwaysVerify ignores an allowlist',
    posture: posture('AlwaysVerify', ['registry.example.com/*']),
    pulledByKubelet: false,
    want: 'verified',
  },
  {
    name: 'NeverVerifyPreloadedImages, pulled by the kubelet',
    posture: posture('NeverVerifyPreloadedImages'),
    pulledByKubelet: true,
    want: 'verified',
  },
  {
    name: 'NeverVerifyPreloadedImages, no pulled record',
    posture: posture('NeverVerifyPreloadedImages'),
    pulledByKubelet: false,
    want: 'exempt-preloaded',
  },
  {
    name: 'NeverVerifyPreloadedImages, records unreadable',
    posture: posture('NeverVerifyPreloadedImages'),
    pulledByKubelet: undefined,
    want: 'unknown',
  },
  {
    name: 'NeverVerifyAllowlistedImages, covered by a wildcard',
    posture: posture('NeverVerifyAllowlistedImages', ['registry.example.com/team-a/*']),
    pulledByKubelet: true,
    want: 'exempt-allowlisted',
  },
  {
    name: 'NeverVerifyAllowlistedImages, not covered, even preloaded',
    posture: posture('NeverVerifyAllowlistedImages', ['registry.example.com/team-b/*']),
    pulledByKubelet: false,
    want: 'verified',
  },
  {
    name: 'NeverVerify',
    posture: posture('NeverVerify'),
    pulledByKubelet: true,
    want: 'not-verifying',
  },
  { name: 'gate off', posture: posture('gate-off'), pulledByKubelet: true, want: 'not-verifying' },
  { name: 'unknown', posture: posture('unknown'), pulledByKubelet: true, want: 'unknown' },
];

for (const c of checks) {
  t.test(`check: ${c.name}`, async (t) => {
    t.equal(kubeletCheckOf(c.posture, [NAME], c.pulledByKubelet).kind, c.want);
  });
}

const mechanisms = [
  { always: 'enforced', policy: 'unknown', want: 'always-pull-images' },
  { always: 'not-enforced', policy: 'AlwaysVerify', want: 'kubelet-always-verify' },
  { always: 'unknown', policy: 'NeverVerifyPreloadedImages', want: 'kubelet-partial' },
  { always: 'not-enforced', policy: 'NeverVerifyAllowlistedImages', want: 'kubelet-partial' },
  { always: 'not-enforced', policy: 'gate-off', want: 'none' },
  { always: 'unknown', policy: 'NeverVerify', want: 'unknown' },
  { always: 'not-enforced', policy: 'unknown', want: 'unknown' },
] as const;

for (const c of mechanisms) {
  t.test(`protected by: AlwaysPullImages ${c.always}, kubelet ${c.policy}`, async (t) => {
    t.equal(protectedByOf(c.always, posture(c.policy)), c.want);
  });
}

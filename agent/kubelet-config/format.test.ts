// The kubelet's configuration files as strings: each policy, an allowlist with a wildcard, a
// drop-in overriding the main file, YAML and JSON, and every way a file can fail to say.
import t from 'tap';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import { allowlistEntryFor, parseAllowlistPattern } from '../model/kubelet-config.ts';
import { kubeletSettingsOf, mergePatch, type ConfigFileText } from './format.ts';

const MAIN = '/var/lib/kubelet/config.yaml';
const header = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';
const main = (body: string): ConfigFileText => ({ path: MAIN, text: header + body });
const dropIn = (name: string, body: string): ConfigFileText => ({
  path: `/etc/kubernetes/kubelet.conf.d/${name}`,
  text: header + body,
});

const read = (
  files: readonly string[],
  fields: Partial<Extract<KubeletConfigReading, { kind: 'read' }>>,
): KubeletConfigReading => ({
  kind: 'read',
  files,
  featureGate: undefined,
  policy: undefined,
  allowlist: [],
  ...fields,
});

const cases: readonly {
  name: string;
  files: readonly ConfigFileText[];
  want: KubeletConfigReading | RegExp;
}[] = [
  {
    name: 'policy AlwaysVerify, gate on',
    files: [
      main(
        'featureGates:\n  KubeletEnsureSecretPulledImages: true\nimagePullCredentialsVerificationPolicy: AlwaysVerify\n',
      ),
    ],
    want: read([MAIN], { featureGate: true, policy: 'AlwaysVerify' }),
  },
  {
    name: 'policy NeverVerify',
    files: [main('imagePullCredentialsVerificationPolicy: NeverVerify\n')],
    want: read([MAIN], { policy: 'NeverVerify' }),
  },
  {
    name: 'policy NeverVerifyPreloadedImages',
    files: [main('imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages\n')],
    want: read([MAIN], { policy: 'NeverVerifyPreloadedImages' }),
  },
  {
    name: 'policy NeverVerifyAllowlistedImages with a wildcard and a name in the allowlist',
    files: [
      main(
        'imagePullCredentialsVerificationPolicy: NeverVerifyAllowlistedImages\npreloadedImagesVerificationAllowlist:\n  - registry.k8s.io/*\n  - docker.io/library/busybox\n',
      ),
    ],
    want: read([MAIN], {
      policy: 'NeverVerifyAllowlistedImages',
      allowlist: ['registry.k8s.io/*', 'docker.io/library/busybox'],
    }),
  },
  {
    name: 'nothing set: the gate and the policy are left to the kubelet’s defaults',
    files: [main('port: 10250\n')],
    want: read([MAIN], {}),
  },
  {
    name: 'the gate turned off',
    files: [main('featureGates:\n  KubeletEnsureSecretPulledImages: false\n')],
    want: read([MAIN], { featureGate: false }),
  },
  {
    name: 'a drop-in overrides the main file’s policy and adds a gate beside the others',
    files: [
      main(
        'featureGates:\n  MemoryQoS: true\nimagePullCredentialsVerificationPolicy: NeverVerify\npreloadedImagesVerificationAllowlist: ["a.example/*"]\n',
      ),
      dropIn(
        '10-pullwatch.conf',
        'featureGates:\n  KubeletEnsureSecretPulledImages: true\nimagePullCredentialsVerificationPolicy: AlwaysVerify\npreloadedImagesVerificationAllowlist: []\n',
      ),
    ],
    want: read([MAIN, '/etc/kubernetes/kubelet.conf.d/10-pullwatch.conf'], {
      featureGate: true,
      policy: 'AlwaysVerify',
    }),
  },
  {
    name: 'the later drop-in wins over the earlier one',
    files: [
      dropIn('00-k3s-defaults.conf', 'imagePullCredentialsVerificationPolicy: AlwaysVerify\n'),
      dropIn(
        '50-user.conf',
        'imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages\n',
      ),
    ],
    want: read(
      [
        '/etc/kubernetes/kubelet.conf.d/00-k3s-defaults.conf',
        '/etc/kubernetes/kubelet.conf.d/50-user.conf',
      ],
      { policy: 'NeverVerifyPreloadedImages' },
    ),
  },
  {
    name: 'a drop-in that sets the policy to null removes it (JSON merge patch)',
    files: [
      main('imagePullCredentialsVerificationPolicy: AlwaysVerify\n'),
      dropIn('10.conf', 'imagePullCredentialsVerificationPolicy: null\n'),
    ],
    want: read([MAIN, '/etc/kubernetes/kubelet.conf.d/10.conf'], {}),
  },
  {
    name: 'the JSON form',
    files: [
      {
        path: '/etc/kubernetes/kubelet/config.json',
        text: JSON.stringify({
          apiVersion: 'kubelet.config.k8s.io/v1beta1',
          kind: 'KubeletConfiguration',
          featureGates: { KubeletEnsureSecretPulledImages: true },
          imagePullCredentialsVerificationPolicy: 'NeverVerifyAllowlistedImages',
          preloadedImagesVerificationAllowlist: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/*'],
        }),
      },
    ],
    want: read(['/etc/kubernetes/kubelet/config.json'], {
      featureGate: true,
      policy: 'NeverVerifyAllowlistedImages',
      allowlist: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/*'],
    }),
  },
  {
    name: 'an unknown policy string',
    files: [main('imagePullCredentialsVerificationPolicy: VerifySometimes\n')],
    want: /imagePullCredentialsVerificationPolicy "VerifySometimes" in \/var\/lib\/kubelet\/config.yaml is none of NeverVerify, NeverVerifyPreloadedImages, NeverVerifyAllowlistedImages, AlwaysVerify/,
  },
  {
    name: 'a file that is not a kubelet configuration',
    files: [
      {
        path: MAIN,
        text: 'apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n',
      },
    ],
    want: /config.yaml is not a kubelet configuration \(kind "CredentialProviderConfig"/,
  },
  {
    name: 'a kubelet configuration of a version the kubelet does not read',
    files: [
      { path: MAIN, text: 'apiVersion: kubelet.config.k8s.io/v2\nkind: KubeletConfiguration\n' },
    ],
    want: /has apiVersion "kubelet.config.k8s.io\/v2"; the kubelet reads only kubelet.config.k8s.io\/v1beta1/,
  },
  {
    name: 'a malformed file',
    files: [{ path: MAIN, text: 'kind: KubeletConfiguration\n  port: [10250\n' }],
    want: /config.yaml is neither valid YAML nor JSON/,
  },
  {
    name: 'an empty file',
    files: [{ path: MAIN, text: '\n' }],
    want: /config.yaml is empty/,
  },
  {
    name: 'a YAML list instead of an object',
    files: [{ path: MAIN, text: '- a\n- b\n' }],
    want: /does not hold a YAML or JSON object/,
  },
  {
    name: 'a malformed drop-in makes the whole reading unknown',
    files: [main('imagePullCredentialsVerificationPolicy: AlwaysVerify\n'), dropIn('10.conf', '{')],
    want: /10.conf is neither valid YAML nor JSON/,
  },
  {
    name: 'the gate given as a string',
    files: [main('featureGates:\n  KubeletEnsureSecretPulledImages: "yes"\n')],
    want: /KubeletEnsureSecretPulledImages in \/var\/lib\/kubelet\/config.yaml is "yes", not true or false/,
  },
  {
    name: 'an allowlist wildcard in the middle',
    files: [main('preloadedImagesVerificationAllowlist: ["registry.example/*/app"]\n')],
    want: /the only wildcard allowed is a trailing \/\*/,
  },
  {
    name: 'an allowlist entry with a tag',
    files: [main('preloadedImagesVerificationAllowlist: ["docker.io/library/nginx:1.27"]\n')],
    want: /not a fully normalized image name without tag or digest/,
  },
  {
    name: 'no file at all',
    files: [],
    want: /no kubelet configuration file was found/,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = kubeletSettingsOf(c.files);
    if (c.want instanceof RegExp) {
      t.equal(got.kind, 'unknown', 'a stated unknown, never a guess');
      t.match(got.kind === 'unknown' ? got.reason : '', c.want);
    } else {
      t.same(got, c.want);
    }
  });
}

t.test('nothing but the three settings leaves the parser', async (t) => {
  const got = kubeletSettingsOf([
    main(
      'staticPodURLHeader:\n  Authorization: ["Bearer s3cr3t"]\nimagePullCredentialsVerificationPolicy: AlwaysVerify\n',
    ),
  ]);
  t.notMatch(JSON.stringify(got), /s3cr3t/);
});

t.test('merge patch: maps merge, lists are replaced, null deletes', async (t) => {
  t.same(mergePatch({ a: { x: 1, y: 2 }, l: [1, 2] }, { a: { y: null, z: 3 }, l: [3] }), {
    a: { x: 1, z: 3 },
    l: [3],
  });
  const merged = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<
    string,
    unknown
  >;
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype is polluted');
  t.ok(Object.hasOwn(merged, '__proto__'), 'the key stays a key');
});

const patterns = [
  { pattern: 'registry.k8s.io/*', name: 'registry.k8s.io/pause', covers: true },
  { pattern: 'registry.k8s.io/*', name: 'registry.k8s.io.evil/pause', covers: false },
  { pattern: 'ghcr.io/team-a/*', name: 'ghcr.io/team-a/sub/app', covers: true },
  { pattern: 'ghcr.io/team-a/*', name: 'ghcr.io/team-b/app', covers: false },
  { pattern: 'docker.io/library/busybox', name: 'docker.io/library/busybox', covers: true },
  { pattern: 'docker.io/library/busybox', name: 'docker.io/library/busybox2', covers: false },
] as const;

for (const c of patterns) {
  t.test(
    `allowlist ${c.pattern} ${c.covers ? 'covers' : 'does not cover'} ${c.name}`,
    async (t) => {
      t.equal(allowlistEntryFor([c.pattern], c.name), c.covers ? c.pattern : undefined);
    },
  );
}

const invalid = ['/*', '*', ' a.example/*', 'nginx', 'a.example/app@sha256:' + 'a'.repeat(64)];
for (const pattern of invalid) {
  t.test(
    `allowlist entry ${JSON.stringify(pattern)} is refused as the kubelet refuses it`,
    async (t) => {
      t.notOk(parseAllowlistPattern(pattern).ok);
    },
  );
}

// Reading the files from disk: the kubelet's drop-in order, the usual layouts found by
// themselves, and missing, unreadable or malformed files stated as unknown, never thrown.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { kubeletConfigSource, readKubeletConfig, type KubeletConfigLayout } from './read.ts';

const header = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';
const policy = (p: string) => `${header}imagePullCredentialsVerificationPolicy: ${p}\n`;

async function tree(t: Test, files: Readonly<Record<string, string>>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'pullwatch-kubelet-config-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

t.test('drop-ins are merged in lexical order, subdirectories at their place', async (t) => {
  const root = await tree(t, {
    'config.yaml': policy('NeverVerify'),
    'conf.d/10-a.conf': policy('AlwaysVerify'),
    'conf.d/20-sub/05-b.conf': policy('NeverVerifyAllowlistedImages'),
    'conf.d/30-c.conf.disabled': policy('NeverVerify'),
    'conf.d/README': 'not a drop-in',
    'conf.d/9-last.conf': policy('NeverVerifyPreloadedImages'),
  });
  const got = await readKubeletConfig({
    kind: 'paths',
    file: join(root, 'config.yaml'),
    dir: join(root, 'conf.d'),
  });
  t.same(got.kind === 'read' ? got.files.map((f) => f.slice(root.length)) : got, [
    '/config.yaml',
    '/conf.d/10-a.conf',
    '/conf.d/20-sub/05-b.conf',
    '/conf.d/9-last.conf',
  ]);
  t.equal(got.kind === 'read' ? got.policy : undefined, 'NeverVerifyPreloadedImages');
});

t.test('the usual layout present on the node is found by itself', async (t) => {
  const root = await tree(t, {
    'var/lib/kubelet/config.yaml': '',
    'k3s/kubelet.conf.d/00-k3s-defaults.conf': policy('AlwaysVerify'),
  });
  const layouts: KubeletConfigLayout[] = [
    { name: 'kubeadm', file: join(root, 'var/lib/kubelet/config.yaml'), dir: undefined },
    { name: 'k3s', file: undefined, dir: join(root, 'k3s/kubelet.conf.d') },
  ];
  const got = await readKubeletConfig({ kind: 'auto', layouts });
  t.equal(got.kind, 'read', 'an empty main file (left by FileOrCreate) counts as absent');
  t.equal(got.kind === 'read' ? got.policy : undefined, 'AlwaysVerify');
});

const unknowns: readonly {
  name: string;
  files: Readonly<Record<string, string>>;
  source: (root: string) => Parameters<typeof readKubeletConfig>[0];
  reason: RegExp;
}[] = [
  {
    name: 'a missing main file',
    files: {},
    source: (root) => ({ kind: 'paths', file: join(root, 'config.yaml'), dir: undefined }),
    reason: /config.yaml does not exist/,
  },
  {
    name: 'a missing drop-in directory',
    files: { 'config.yaml': policy('AlwaysVerify') },
    source: (root) => ({
      kind: 'paths',
      file: join(root, 'config.yaml'),
      dir: join(root, 'nope'),
    }),
    reason: /the drop-in directory .*nope does not exist/,
  },
  {
    name: 'an unreadable main file (a directory where the file should be)',
    files: { 'config.yaml/x': '' },
    source: (root) => ({ kind: 'paths', file: join(root, 'config.yaml'), dir: undefined }),
    reason: /config.yaml cannot be read \(not a regular file\)/,
  },
  {
    name: 'a malformed main file',
    files: { 'config.yaml': `${header}featureGates: [` },
    source: (root) => ({ kind: 'paths', file: join(root, 'config.yaml'), dir: undefined }),
    reason: /config.yaml is neither valid YAML nor JSON/,
  },
  {
    name: 'no usual layout on the node',
    files: {},
    source: (root) => ({
      kind: 'auto',
      layouts: [{ name: 'kubeadm', file: join(root, 'config.yaml'), dir: undefined }],
    }),
    reason: /no kubelet configuration found at .*config.yaml/,
  },
];

for (const c of unknowns) {
  t.test(c.name, async (t) => {
    const root = await tree(t, c.files);
    const got = await readKubeletConfig(c.source(root));
    t.equal(got.kind, 'unknown');
    t.match(got.kind === 'unknown' ? got.reason : '', c.reason);
  });
}

t.test('a drop-in that is a symbolic link is not followed', async (t) => {
  const root = await tree(t, { 'elsewhere.conf': policy('AlwaysVerify'), 'conf.d/keep': '' });
  await symlink(join(root, 'elsewhere.conf'), join(root, 'conf.d/10.conf'));
  const got = await readKubeletConfig({
    kind: 'paths',
    file: undefined,
    dir: join(root, 'conf.d'),
  });
  t.equal(got.kind, 'unknown');
  t.match(got.kind === 'unknown' ? got.reason : '', /10.conf cannot be read/);
});

t.test('--kubelet-config off reads nothing', async (t) => {
  t.same(await readKubeletConfig({ kind: 'off' }), { kind: 'off' });
});

const flags = [
  { name: 'defaults', file: 'auto', dir: undefined, want: { kind: 'auto' } },
  { name: 'off', file: 'off', dir: '/x', want: { kind: 'off' } },
  {
    name: 'a file alone',
    file: '/etc/kubernetes/kubelet/config.json',
    dir: undefined,
    want: { kind: 'paths', file: '/etc/kubernetes/kubelet/config.json', dir: undefined },
  },
  {
    name: 'a directory alone (k3s, RKE2)',
    file: 'auto',
    dir: '/var/lib/rancher/rke2/agent/etc/kubelet.conf.d',
    want: {
      kind: 'paths',
      file: undefined,
      dir: '/var/lib/rancher/rke2/agent/etc/kubelet.conf.d',
    },
  },
] as const;

for (const c of flags) {
  t.test(`--kubelet-config flags: ${c.name}`, async (t) => {
    t.same(kubeletConfigSource(c.file, c.dir), c.want);
  });
}

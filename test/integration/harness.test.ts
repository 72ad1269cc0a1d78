// Proves the integration harness on real parts: two docker-registry instances
// (one private with htpasswd auth, one public), images built locally and pushed
// with skopeo, a private containerd with the CRI plugin, the CRI PullImage /
// RemoveImage calls the kubelet makes, and `ctr images import` of a bulk archive.
// Finally checks that no process or temp dir of ours is left behind.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startContainerd } from '../helpers/containerd.ts';
import { pullImage, removeImage } from '../helpers/cri-mutate.ts';
import { buildImageLayout, buildManyImagesArchive } from '../helpers/oci.ts';
import { leftoverProcesses, trackedLivePids } from '../helpers/process.ts';
import { findTool, requireTools, type SkipOrFail } from '../helpers/real-parts.ts';
import { startRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'];
const ALICE = { username: 'alice', password: 'wonderland-4-test' };

/** Temp dirs (and so config paths) of everything started, checked at the end. */
const started: string[] = [];

t.test('requireTools: skip locally, fail in CI', (t) => {
  // The message names exactly the tools missing on this machine, whatever is installed here:
  // this Node binary (by absolute path) is always present, the made-up tool never is, and a
  // real tool (skopeo) is named only on a machine that lacks it.
  const present = process.execPath;
  const absent = 'pullwatch-no-such-tool';
  const missingHere = ['skopeo', absent].filter((tool) => findTool(tool) === undefined);
  const hint = (missing: readonly string[]) =>
    `missing tool(s): ${missing.join(', ')} (Debian: apt-get install ${missing.join(' ')})`;

  const calls: string[] = [];
  const fake: SkipOrFail = {
    fail: (message) => calls.push(`fail: ${message}`),
    plan: (n, comment) => calls.push(`plan ${n}: ${comment ?? ''}`),
  };
  const savedCI = process.env.CI;
  try {
    process.env.CI = 'false';
    t.equal(requireTools(fake, [present, absent], { root: false }), false);
    process.env.CI = 'true';
    t.equal(requireTools(fake, ['skopeo', absent], { root: false }), false);
    t.equal(requireTools(fake, [present], { root: false }), true, 'a present tool passes');
  } finally {
    if (savedCI === undefined) delete process.env.CI;
    else process.env.CI = savedCI;
  }
  t.same(calls, [
    `plan 0: skipped: ${hint([absent])}`,
    `fail: CI=true and the integration test cannot run: ${hint(missingHere)}`,
  ]);
  t.equal(requireTools(fake, [], { root: false }), true);
  t.end();
});

t.test('private registry, CRI pull with credentials, ctr, bulk import', async (t) => {
  if (!requireTools(t, TOOLS)) return;

  const privateRegistry = await startRegistry(t, {
    users: { [ALICE.username]: ALICE.password },
  });
  const publicRegistry = await startRegistry(t);
  started.push(privateRegistry.dir, publicRegistry.dir);
  t.not(privateRegistry.host, publicRegistry.host, 'two registries side by side');

  const work = await makeTempDir(t, 'harness');
  started.push(work);

  const privateImage = await buildImageLayout(join(work, 'private-app'), { marker: 'private-app' });
  const privateRef = `${privateRegistry.host}/team-a/private-app:v1`;
  t.equal(
    await pushLayout(privateImage.layoutDir, privateRef, ALICE),
    privateImage.manifestDigest,
    'skopeo pushed the manifest we built (digest unchanged)',
  );
  await t.rejects(
    pushLayout(privateImage.layoutDir, `${privateRegistry.host}/team-a/other:v1`),
    /unauthorized|401/i,
    'anonymous push to the private registry is refused',
  );

  const publicImage = await buildImageLayout(join(work, 'public-app'), { marker: 'public-app' });
  const publicRef = `${publicRegistry.host}/library/public-app:v1`;
  t.equal(await pushLayout(publicImage.layoutDir, publicRef), publicImage.manifestDigest);
  t.not(publicImage.configDigest, privateImage.configDigest, 'markers make image IDs distinct');

  const containerd = await startContainerd(t, {
    registryMirrors: [privateRegistry.host, publicRegistry.host],
  });
  started.push(containerd.dir);
  const version = await containerd.version();
  t.equal(version.runtimeName, 'containerd');
  t.equal(version.runtimeApiVersion, 'v1');

  // (a) anonymous pull of a private image fails with the registry's 401
  const anonymous = await pullImage(containerd.socket, privateRef).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.type(anonymous, Error, 'anonymous CRI PullImage of the private image is rejected');
  t.match(
    anonymous instanceof Error ? anonymous.message : '',
    /401|unauthorized/i,
    'the gRPC error shows the 401',
  );
  t.notOk((await containerd.imageNames()).includes(privateRef), 'nothing cached after the 401');

  // (b) with the pod's credentials (CRI AuthConfig) it succeeds; image_ref is the config digest
  t.equal(await pullImage(containerd.socket, privateRef, ALICE), privateImage.configDigest);
  // ... and the public registry needs no credentials
  t.equal(await pullImage(containerd.socket, publicRef), publicImage.configDigest);

  // (c) ctr (namespace k8s.io) lists it
  const names = await containerd.imageNames();
  t.ok(names.includes(privateRef), `ctr images ls lists ${privateRef}`);
  t.ok(names.includes(publicRef), `ctr images ls lists ${publicRef}`);
  t.ok(
    names.includes(`${privateRegistry.host}/team-a/private-app@${privateImage.manifestDigest}`),
    'CRI pull recorded the repo digest',
  );

  // a crash and restart keeps the cache
  await containerd.kill();
  await containerd.restart();
  t.ok((await containerd.imageNames()).includes(privateRef), 'cache survives kill + restart');

  // (d) RemoveImage removes it (all its names)
  await removeImage(containerd.socket, privateRef);
  const afterRemove = await containerd.imageNames();
  t.notOk(
    afterRemove.some((n) => n.startsWith(`${privateRegistry.host}/team-a/private-app`)),
    'RemoveImage removed the tag and the repo digest',
  );
  t.notOk(afterRemove.includes(privateImage.configDigest), 'and the ID reference');
  t.ok(afterRemove.includes(publicRef), 'the other image stays');

  // (e) one archive of 50 images, imported like a preloaded node
  const bulk = await buildManyImagesArchive(join(work, 'bulk.tar'), 50, 'docker.io/pullwatch/bulk');
  t.equal(bulk.images.length, 50);
  t.equal(new Set(bulk.images.map((i) => i.configDigest)).size, 50, '50 distinct image IDs');
  await containerd.ctr(['images', 'import', bulk.archivePath]);
  const imported = new Set(await containerd.imageNames());
  const missing = bulk.images.filter((i) => !imported.has(i.name)).map((i) => i.name);
  t.same(missing, [], 'ctr images ls shows all 50 imported images');
  t.ok(imported.has('docker.io/pullwatch/bulk-0001:v1'));
  t.ok(imported.has('docker.io/pullwatch/bulk-0050:v1'));
});

t.test('teardown left nothing behind', async (t) => {
  t.same(trackedLivePids(), [], 'every process we started has exited');
  const left = await leftoverProcesses(['containerd', 'docker-registry'], started);
  t.same(
    left.map((p) => `${p.pid} ${p.cmdline}`),
    [],
    'no containerd or docker-registry of ours is running',
  );
  for (const dir of started) t.notOk(existsSync(dir), `${dir} removed`);
});

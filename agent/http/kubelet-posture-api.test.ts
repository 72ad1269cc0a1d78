// Issue 15 on the API: the new finding and the node's kubelet posture, as docs/openapi.yaml
// describes them (serveApp checks every answer against the document).
import t from 'tap';
import { FAKE_PROTECTION, fakeView } from '../../test/kit/http/fake-view.ts';
import { serveApp } from '../../test/kit/http/serve-app.ts';
import { cachedImage, container, pod, snapshotOf } from '../../test/kit/snapshot-builder.ts';
import { detect } from '../detect/detect.ts';
import type { Finding } from '../detect/finding.ts';

const PRIVATE = 'registry.example.com/team-a/app';

t.test('a preloaded-private-image-exposed finding is served as documented', async (t) => {
  const detected = detect(
    snapshotOf({
      images: [cachedImage('preloaded', { tags: [`${PRIVATE}:v1`], digestRepos: [PRIVATE] })],
      pods: [pod('tenant-b', 'web', [container('docker.io/library/nginx:1.27')])],
      visibility: { [PRIVATE]: 'private' },
      pulledByKubelet: [],
      kubeletPosture: {
        policy: 'NeverVerifyAllowlistedImages',
        allowlist: ['registry.example.com/*'],
        basis: 'test',
        files: ['/var/lib/kubelet/config.yaml'],
        fromConfig: true,
      },
    }),
  );
  const findings: Finding[] = detected.map((f) => ({
    ...f,
    firstSeen: '2026-11-01T00:00:00.000Z',
    lastSeen: '2026-11-01T00:00:00.000Z',
  }));
  const exposed = findings.find((f) => f.rule === 'preloaded-private-image-exposed');
  t.ok(exposed);
  const app = await serveApp(t, { view: fakeView({ findings }) });
  const list = await app.request('/api/v1/findings?rule=preloaded-private-image-exposed');
  t.equal(list.status, 200);
  t.match(list.json(), {
    items: [{ allowlistEntry: 'registry.example.com/*', exposedTenants: ['tenant-b'] }],
  });
  t.equal((await app.request(`/api/v1/findings/${exposed?.id ?? ''}`)).status, 200);
});

t.test('each kubelet policy is a documented status', async (t) => {
  for (const kubeletPolicy of [
    'AlwaysVerify',
    'NeverVerifyAllowlistedImages',
    'NeverVerifyPreloadedImages',
    'NeverVerify',
    'gate-off',
    'unknown',
  ] as const) {
    const view = fakeView({ protection: { ...FAKE_PROTECTION, kubeletPolicy } });
    const app = await serveApp(t, { view });
    t.equal((await app.request('/api/v1/status')).status, 200, kubeletPolicy);
  }
});

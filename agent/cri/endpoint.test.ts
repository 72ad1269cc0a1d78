import t from 'tap';
import type { SocketKind } from './endpoint.ts';
import { parseCriEndpoint, resolveCriEndpoint, WELL_KNOWN_CRI_SOCKETS } from './endpoint.ts';

const parseCases = [
  {
    name: 'unix URL',
    input: 'unix:///run/containerd/containerd.sock',
    socket: '/run/containerd/containerd.sock',
  },
  { name: 'unix with one slash', input: 'unix:/run/crio/crio.sock', socket: '/run/crio/crio.sock' },
  {
    name: 'bare absolute path',
    input: '/var/run/cri-dockerd.sock',
    socket: '/var/run/cri-dockerd.sock',
  },
  { name: 'surrounding spaces', input: '  /run/x.sock ', socket: '/run/x.sock' },
  { name: 'tcp is refused', input: 'tcp://127.0.0.1:1234', error: 'unsupported-scheme' },
  {
    name: 'windows pipe is refused',
    input: 'npipe:////./pipe/containerd',
    error: 'unsupported-scheme',
  },
  { name: 'relative path is refused', input: 'unix://run/x.sock', error: 'unsupported-scheme' },
  { name: 'empty is refused', input: '', error: 'unsupported-scheme' },
] as const;

for (const c of parseCases) {
  t.test(`parse endpoint: ${c.name}`, async (t) => {
    const r = parseCriEndpoint(c.input);
    if ('error' in c) {
      t.notOk(r.ok);
      if (!r.ok) {
        t.equal(r.error.kind, c.error);
        t.match(r.error.message, /unix/);
      }
    } else {
      t.ok(r.ok);
      if (r.ok) {
        t.equal(r.value.socketPath, c.socket);
        t.equal(r.value.target, `unix://${c.socket}`);
      }
    }
  });
}

const fakeNode =
  (sockets: Record<string, SocketKind>) =>
  (path: string): Promise<SocketKind> =>
    Promise.resolve(sockets[path] ?? 'missing');

t.test('auto-detection picks the first well-known socket present', async (t) => {
  const r = await resolveCriEndpoint(
    undefined,
    fakeNode({ '/var/run/crio/crio.sock': 'socket', '/var/run/cri-dockerd.sock': 'socket' }),
  );
  t.ok(r.ok && r.value.socketPath === '/var/run/crio/crio.sock');
});

t.test('auto-detection prefers containerd over CRI-O when both exist', async (t) => {
  const r = await resolveCriEndpoint(
    '',
    fakeNode({ '/var/run/crio/crio.sock': 'socket', '/run/containerd/containerd.sock': 'socket' }),
  );
  t.ok(r.ok && r.value.socketPath === '/run/containerd/containerd.sock');
});

t.test('auto-detection skips a path that is not a socket', async (t) => {
  const r = await resolveCriEndpoint(
    undefined,
    fakeNode({
      '/run/containerd/containerd.sock': 'other',
      '/run/k3s/containerd/containerd.sock': 'socket',
    }),
  );
  t.ok(r.ok && r.value.socketPath === '/run/k3s/containerd/containerd.sock');
});

t.test('nothing found names every socket tried and the flag to set', async (t) => {
  const r = await resolveCriEndpoint(undefined, fakeNode({}));
  t.notOk(r.ok);
  if (!r.ok) {
    for (const c of WELL_KNOWN_CRI_SOCKETS) t.match(r.error.message, c.path);
    t.match(r.error.message, /--cri-endpoint/);
  }
});

t.test('a configured socket that is missing is an error, not a fallback', async (t) => {
  const r = await resolveCriEndpoint(
    '/tmp/nope.sock',
    fakeNode({ '/run/containerd/containerd.sock': 'socket' }),
  );
  t.notOk(r.ok);
  if (!r.ok) {
    t.equal(r.error.kind, 'not-found');
    t.match(r.error.message, '/tmp/nope.sock');
  }
});

t.test('a configured path that is a regular file is refused', async (t) => {
  const r = await resolveCriEndpoint('/etc/hostname', fakeNode({ '/etc/hostname': 'other' }));
  t.ok(!r.ok && r.error.kind === 'not-a-socket');
});

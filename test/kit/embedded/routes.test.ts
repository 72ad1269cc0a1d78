import t from 'tap';
import { parseRoute } from './routes.ts';

const cases = [
  { path: '/api/v1/pods', want: { kind: 'resource', resource: 'pods', watchPath: false } },
  {
    path: '/api/v1/namespaces/tenant-a/pods/web',
    want: { kind: 'resource', resource: 'pods', namespace: 'tenant-a', name: 'web' },
  },
  {
    path: '/api/v1/namespaces/tenant-a/pods/web/status',
    want: { kind: 'resource', resource: 'pods', name: 'web', subresource: 'status' },
  },
  {
    path: '/api/v1/namespaces/tenant-a',
    want: { kind: 'resource', resource: 'namespaces', name: 'tenant-a' },
  },
  {
    path: '/api/v1/namespaces/tenant-a/status',
    want: { kind: 'resource', resource: 'namespaces', name: 'tenant-a', subresource: 'status' },
  },
  { path: '/api/v1/nodes/node-1', want: { kind: 'resource', resource: 'nodes', name: 'node-1' } },
  {
    path: '/api/v1/watch/namespaces/x/events',
    want: { kind: 'resource', resource: 'events', watchPath: true },
  },
  {
    path: '/apis/authentication.k8s.io/v1/tokenreviews',
    want: { kind: 'review', review: 'tokenreviews' },
  },
  {
    path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    want: { kind: 'review', review: 'subjectaccessreviews' },
  },
  { path: '/api/v1/namespaces/x/nodes', want: { kind: 'other' }, why: 'nodes are cluster-scoped' },
  {
    path: '/api/v1/namespaces/x/pods/web/exec',
    want: { kind: 'other' },
    why: 'unknown subresource',
  },
  { path: '/api/v1/pods/web', want: { kind: 'other' }, why: 'a pod is addressed in its namespace' },
  { path: '/api/v1/services', want: { kind: 'other' }, why: 'not served' },
  { path: '/api/v2/pods', want: { kind: 'other' }, why: 'unknown version' },
  { path: '/metrics', want: { kind: 'other' } },
] as const;

for (const c of cases) {
  t.test(`route ${c.path}`, async (t) => {
    const route = parseRoute(c.path);
    const { resource, ...rest } = { resource: undefined, ...c.want };
    t.match(route, rest, 'why' in c ? c.why : '');
    if (resource !== undefined)
      t.equal(route.kind === 'resource' ? route.rt.resource : '', resource);
  });
}

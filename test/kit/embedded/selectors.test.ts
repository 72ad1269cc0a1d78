import t from 'tap';
import type { KubeObject } from './objects.ts';
import { resourceType } from './resources.ts';
import {
  compileFilter,
  matchesFilter,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';

const fieldCases = [
  { name: 'one equality', text: 'spec.nodeName=node-1', want: [['spec.nodeName', '=', 'node-1']] },
  {
    name: 'double equals',
    text: 'spec.nodeName==node-1',
    want: [['spec.nodeName', '=', 'node-1']],
  },
  { name: 'inequality', text: 'status.phase!=Running', want: [['status.phase', '!=', 'Running']] },
  { name: 'empty value', text: 'spec.nodeName=', want: [['spec.nodeName', '=', '']] },
  {
    name: 'comma means AND',
    text: 'involvedObject.uid=u1,reason=Pulled',
    want: [
      ['involvedObject.uid', '=', 'u1'],
      ['reason', '=', 'Pulled'],
    ],
  },
  {
    name: 'escaped comma in a value',
    text: 'metadata.name=a\\,b',
    want: [['metadata.name', '=', 'a,b']],
  },
  { name: 'empty selector', text: '', want: [] },
  { name: 'no operator', text: 'spec.nodeName', error: /can't understand 'spec.nodeName'/ },
  { name: 'no field', text: '=x', error: /can't understand/ },
  { name: 'bad escape', text: 'metadata.name=a\\b', error: /invalid escape/ },
] as const;

for (const c of fieldCases) {
  t.test(`field selector: ${c.name}`, async (t) => {
    const r = parseFieldSelector(c.text);
    if ('error' in c) {
      t.notOk(r.ok);
      if (!r.ok) t.match(r.error, c.error);
      return;
    }
    t.ok(r.ok);
    if (r.ok)
      t.same(
        r.value.map((q) => [q.field, q.operator, q.value]),
        c.want,
      );
  });
}

const labels = { app: 'web', tier: 'front', 'example.com/owner': 'team-a' };

const labelCases = [
  { name: 'equality', text: 'app=web', matches: true },
  { name: 'double equals', text: 'app==web', matches: true },
  { name: 'inequality', text: 'app!=web', matches: false },
  { name: 'inequality on a missing key matches', text: 'missing!=x', matches: true },
  { name: 'in', text: 'tier in (back, front)', matches: true },
  { name: 'in, no match', text: 'tier in (back)', matches: false },
  { name: 'notin', text: 'tier notin (back)', matches: true },
  { name: 'notin on a missing key matches', text: 'missing notin (a)', matches: true },
  { name: 'exists', text: 'example.com/owner', matches: true },
  { name: 'does not exist', text: '!example.com/owner', matches: false },
  { name: 'AND of all', text: 'app=web,tier in (front),!missing', matches: true },
  { name: 'empty selector', text: '', matches: true },
  { name: 'empty value set', text: 'app in ()', error: /cannot be empty/ },
  { name: 'trailing comma', text: 'app=web,', error: /trailing/ },
  { name: 'bad key', text: '-app=web', error: /invalid label key/ },
  { name: 'bad value', text: 'app=we b', error: /unable to parse/ },
  { name: 'missing parenthesis', text: 'app in web', error: /expected \(/ },
] as const;

for (const c of labelCases) {
  t.test(`label selector: ${c.name}`, async (t) => {
    const r = parseLabelSelector(c.text);
    if ('error' in c) {
      t.notOk(r.ok);
      if (!r.ok) t.match(r.error, c.error);
      return;
    }
    t.ok(r.ok, r.ok ? '' : r.error);
    if (r.ok) t.equal(matchesLabels(r.value, labels), c.matches);
  });
}

t.test('pods are matched by node, phase and namespace', async (t) => {
  const pods = resourceType('pods');
  const pod: KubeObject = {
    metadata: { name: 'web', namespace: 'tenant-a', labels: { app: 'web' } },
    spec: { nodeName: 'node-1' },
    status: { phase: 'Running' },
  };
  const matches = (text: {
    fieldSelector?: string;
    labelSelector?: string;
    namespace?: string;
  }) => {
    const filter = compileFilter(pods, text);
    if (!filter.ok) throw new Error(filter.error);
    return matchesFilter(pods, filter.value, pod);
  };
  t.ok(matches({ fieldSelector: 'spec.nodeName=node-1,status.phase=Running' }));
  t.notOk(matches({ fieldSelector: 'spec.nodeName=node-2' }));
  t.ok(matches({ fieldSelector: 'spec.hostNetwork=false' }), 'an unset boolean reads as false');
  t.notOk(matches({ namespace: 'tenant-b' }));
  t.ok(matches({ namespace: 'tenant-a', labelSelector: 'app' }));
});

t.test('each resource accepts only its own field labels', async (t) => {
  const refused = compileFilter(resourceType('pods'), { fieldSelector: 'reason=Pulled' });
  t.same(refused, { ok: false, error: 'field label not supported: reason' });
  t.ok(compileFilter(resourceType('events'), { fieldSelector: 'reason=Pulled,source=kubelet' }).ok);
  const clusterScoped = compileFilter(resourceType('nodes'), {
    fieldSelector: 'metadata.namespace=x',
  });
  t.notOk(clusterScoped.ok, 'a cluster-scoped resource has no metadata.namespace');
});

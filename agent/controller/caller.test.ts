// Who the controller answers: the agent's service account, on the node its bound token names.
import t from 'tap';
import type { ReviewedUser } from '../http/token-review.ts';
import { NODE_NAME_EXTRA, POD_NAME_EXTRA, agentCallerOf } from './caller.ts';

const AGENT = { namespace: 'pullwatch', name: 'pullwatch-agent' };
const agentUser = (extra: Record<string, string[]> | undefined): ReviewedUser => ({
  username: 'system:serviceaccount:pullwatch:pullwatch-agent',
  uid: 'u1',
  groups: ['system:serviceaccounts'],
  extra,
});

const cases: readonly {
  readonly name: string;
  readonly user: ReviewedUser;
  readonly expected: ReturnType<typeof agentCallerOf> | { ok: false; status: 403; reason: RegExp };
}[] = [
  {
    name: "the agent's bound token: its node and pod",
    user: agentUser({ [NODE_NAME_EXTRA]: ['node-1'], [POD_NAME_EXTRA]: ['agent-x'] }),
    expected: { ok: true, caller: { node: 'node-1', pod: 'agent-x' } },
  },
  {
    name: 'a token bound to no pod (no node claim: before Kubernetes 1.30, or a legacy token)',
    user: agentUser(undefined),
    expected: { ok: false, status: 403, reason: /no node claim/ },
  },
  {
    name: 'an empty node claim',
    user: agentUser({ [NODE_NAME_EXTRA]: [''] }),
    expected: { ok: false, status: 403, reason: /no node claim/ },
  },
  {
    name: 'two node claims: which would it be?',
    user: agentUser({ [NODE_NAME_EXTRA]: ['node-1', 'node-2'] }),
    expected: { ok: false, status: 403, reason: /no node claim/ },
  },
  {
    name: "another service account, even on the agent's node",
    user: {
      ...agentUser({ [NODE_NAME_EXTRA]: ['node-1'] }),
      username: 'system:serviceaccount:tenant-b:default',
    },
    expected: {
      ok: false,
      status: 403,
      reason:
        /only the agent's service account \(system:serviceaccount:pullwatch:pullwatch-agent\).*tenant-b:default/,
    },
  },
  {
    name: 'an agent service account of another namespace',
    user: {
      ...agentUser({ [NODE_NAME_EXTRA]: ['node-1'] }),
      username: 'system:serviceaccount:evil:pullwatch-agent',
    },
    expected: { ok: false, status: 403, reason: /only the agent's service account/ },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.match(agentCallerOf(c.user, AGENT), c.expected);
  });
}

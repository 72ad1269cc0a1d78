// What /api/v1/status says of the report and Event writers, case by case: off by flag, a node
// name that cannot be a label value, the CRDs missing, a failed write remembered.
import t from 'tap';
import type { ReportsStatus } from '../reports/reconciler.ts';
import type { OutputsStatusJson } from './outputs-status.ts';
import { eventsStatusJson, reportsStatusJson } from './outputs-status.ts';

const AT = Date.parse('2026-11-02T12:00:00.000Z');
const reconciler = (status: Partial<ReportsStatus>) => ({
  status: (): ReportsStatus => ({
    state: 'writing',
    problem: null,
    objects: 2,
    pending: 0,
    lastError: undefined,
    ...status,
  }),
});
const writer = (message?: string) => ({
  lastError: () => (message === undefined ? undefined : { at: AT, message }),
});

const cases: readonly { name: string; got: () => OutputsStatusJson; want: OutputsStatusJson }[] = [
  {
    name: 'both off by their flags',
    got: () => ({
      reports: reportsStatusJson('off', 'off'),
      events: eventsStatusJson('off', 'off'),
    }),
    want: {
      reports: {
        mode: 'off',
        state: 'off',
        problem: null,
        objects: 0,
        pending: 0,
        lastError: null,
      },
      events: { mode: 'off', state: 'off', problem: null, lastError: null },
    },
  },
  {
    name: 'a node name too long for a label: on, yet nothing written, and said why',
    got: () => ({
      reports: reportsStatusJson('wgpolicy', 'node-name-too-long'),
      events: eventsStatusJson('on', 'node-name-too-long'),
    }),
    want: {
      reports: {
        mode: 'wgpolicy',
        state: 'node-name-too-long',
        problem:
          'the node name is longer than 63 characters (no valid label value): no reports are written',
        objects: 0,
        pending: 0,
        lastError: null,
      },
      events: {
        mode: 'on',
        state: 'node-name-too-long',
        problem:
          'the node name is longer than 63 characters (no valid label value): no Events are written',
        lastError: null,
      },
    },
  },
  {
    name: 'the report CRDs missing, and an Event write that failed',
    got: () => ({
      reports: reportsStatusJson(
        'openreports',
        reconciler({
          state: 'kind-not-served',
          problem: 'the API server does not serve openreports.io/v1alpha1 Report',
          objects: 0,
          pending: 2,
          lastError: { at: AT, message: 'apply Report tenant-b/pullwatch-node-1: 404' },
        }),
      ),
      events: eventsStatusJson('on', writer('Event tenant-b/admin2-pod.0123: connection reset')),
    }),
    want: {
      reports: {
        mode: 'openreports',
        state: 'kind-not-served',
        problem: 'the API server does not serve openreports.io/v1alpha1 Report',
        objects: 0,
        pending: 2,
        lastError: {
          at: '2026-11-02T12:00:00.000Z',
          message: 'apply Report tenant-b/pullwatch-node-1: 404',
        },
      },
      events: {
        mode: 'on',
        state: 'writing',
        problem: null,
        lastError: {
          at: '2026-11-02T12:00:00.000Z',
          message: 'Event tenant-b/admin2-pod.0123: connection reset',
        },
      },
    },
  },
  {
    name: 'both in step',
    got: () => ({
      reports: reportsStatusJson('openreports', reconciler({})),
      events: eventsStatusJson('on', writer()),
    }),
    want: {
      reports: {
        mode: 'openreports',
        state: 'writing',
        problem: null,
        objects: 2,
        pending: 0,
        lastError: null,
      },
      events: { mode: 'on', state: 'writing', problem: null, lastError: null },
    },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.strictSame(c.got(), c.want);
  });
}

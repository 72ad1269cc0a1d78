// How the API server's answers to an Event write are sorted: what a retry may fix and what not.
import t from 'tap';
import { ApiException } from '@kubernetes/client-node';
import { failureOf } from './sink.ts';

const status = (code: number, message: string) =>
  new ApiException(code, 'HTTP error', JSON.stringify({ kind: 'Status', message }), {});

t.test('failures of an Event write', async (t) => {
  const cases = [
    {
      name: '409: the Event exists',
      error: status(409, 'exists'),
      want: { kind: 'already-exists' },
    },
    {
      name: '404: the Event is gone',
      error: status(404, 'not found'),
      want: { kind: 'not-found' },
    },
    {
      name: '403: refused for good',
      error: status(403, 'events.events.k8s.io is forbidden'),
      want: { kind: 'rejected', message: 'HTTP 403: events.events.k8s.io is forbidden' },
    },
    {
      name: '422: invalid, refused for good',
      error: status(422, 'note: Too long'),
      want: { kind: 'rejected', message: 'HTTP 422: note: Too long' },
    },
    {
      name: '429: throttled, worth another try',
      error: status(429, 'too many requests'),
      want: { kind: 'unavailable', message: 'HTTP 429: too many requests' },
    },
    {
      name: '503: the server is busy',
      error: status(503, 'unavailable'),
      want: { kind: 'unavailable', message: 'HTTP 503: unavailable' },
    },
    {
      name: 'no answer at all',
      error: new TypeError('fetch failed'),
      want: { kind: 'unavailable', message: 'fetch failed' },
    },
    {
      name: 'a body that is not JSON',
      error: new ApiException(500, 'HTTP error', 'upstream connect error', {}),
      want: { kind: 'unavailable', message: 'HTTP 500: upstream connect error' },
    },
  ];
  for (const c of cases) t.same(failureOf(c.error), c.want, c.name);
});

// withAdmissionWebhook: which requests go to the webhook ahead of the app. The API server adds
// ?timeout= to the webhook's path; anything else on the port is the app's to answer.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import t from 'tap';
import { ADMISSION_PATH, withAdmissionWebhook } from './admission-webhook.ts';

const cases: readonly { name: string; method: string; url: string; to: 'webhook' | 'app' }[] = [
  {
    name: "the API server's call, with its timeout",
    method: 'POST',
    url: `${ADMISSION_PATH}?timeout=5s`,
    to: 'webhook',
  },
  { name: 'the path alone', method: 'POST', url: ADMISSION_PATH, to: 'webhook' },
  { name: 'a GET of the path', method: 'GET', url: ADMISSION_PATH, to: 'app' },
  { name: 'a longer path', method: 'POST', url: `${ADMISSION_PATH}x`, to: 'app' },
  { name: 'a broker call', method: 'POST', url: '/api/v1/registry/verdicts', to: 'app' },
];

for (const c of cases) {
  t.test(c.name, (t) => {
    let reached = '';
    const listener = withAdmissionWebhook(
      () => (reached = 'app'),
      () => (reached = 'webhook'),
    );
    const req = new IncomingMessage(new Socket());
    req.method = c.method;
    req.url = c.url;
    listener(req, new ServerResponse(req));
    t.equal(reached, c.to);
    t.end();
  });
}

t.test('without a webhook, the app is the listener itself', (t) => {
  const app = (): void => undefined;
  t.equal(withAdmissionWebhook(app, undefined), app);
  t.end();
});

// Registry questions in batches, end to end over HTTPS on loopback: the agent's BrokerClient
// against the controller's app with scripted ports. A round's questions go in as few calls as
// the batch maximum allows, every verdict question is still checked against the caller's node,
// and a refusal names only what the caller asked about.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import type { Test } from 'tap';
import { selfSignedCertificate, tlsSkipReason } from '../../test/helpers/tls.ts';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import { capturedLogger } from '../../test/kit/http/serve-app.ts';
import { createControllerApp, type BrokerPorts } from '../controller/app.ts';
import { startHttpServer } from '../http/server.ts';
import { err, ok } from '../result.ts';
import { BrokerClient } from './client.ts';
import { BROKER_PATHS, MAX_QUESTIONS_PER_CALL } from './wire.ts';

const FINGERPRINT = 'f'.repeat(64);
const skip = await tlsSkipReason();

async function setup(t: Test, perNode = 20, ownReports: BrokerPorts['ownReports'] = () => ok([])) {
  const dir = await makeTempDir(t, 'broker-batches');
  const pair = await selfSignedCertificate(dir, 'controller');
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'agent-token\n');
  const ports: BrokerPorts = {
    authenticate: (header) =>
      Promise.resolve(
        header === 'Bearer agent-token'
          ? { ok: true, caller: { node: 'node-1', pod: 'agent-1' } }
          : { ok: false, status: 401, reason: 'no' },
      ),
    podBinding: () => Promise.resolve('bound'),
    secretNamedOnNode: (node, namespace) => node === 'node-1' && namespace === 'tenant-a',
    secret: (namespace, name) =>
      Promise.resolve({ state: 'missing', namespace, name, problem: 'not used here' }),
    visibility: (name) =>
      Promise.resolve({
        visibility: name.includes('public') ? 'public' : 'private',
        basis: 'scripted',
        nodeCredentials: false,
      }),
    verify: (_view, _fingerprint, name) =>
      Promise.resolve(name.endsWith('-0') ? 'cannot-read' : 'can-read'),
    ready: () => ({ ready: true }),
    ownReports,
  };
  const app = createControllerApp({
    ports,
    registry: new Registry(),
    logger: capturedLogger().logger,
    perNodeRequestsPerSecond: perNode,
  });
  const calls: string[] = [];
  const server = await startHttpServer({
    app: (req, res) => {
      calls.push(req.url ?? '');
      app(req, res);
    },
    listen: '127.0.0.1:0',
    tls: { certFile: pair.cert, keyFile: pair.key },
  });
  t.teardown(() => server.stop());
  const client = new BrokerClient({
    url: `https://${server.address}`,
    caFile: pair.cert,
    tokenFile,
  });
  t.teardown(() => {
    client.close();
  });
  return { client, calls };
}

const check = (namespace: string) =>
  ({ via: 'controller', namespace, secret: 'regcred', fingerprint: FINGERPRINT }) as const;

t.test("a round's visibility questions go in batches of the maximum", { skip }, async (t) => {
  const { client, calls } = await setup(t);
  const names = Array.from({ length: MAX_QUESTIONS_PER_CALL + 6 }, (_, i) =>
    i % 2 === 0 ? `r.example.com/public-${i}` : `r.example.com/private-${i}`,
  );
  const answers = await Promise.all(names.map((name) => client.visibility(name, 'v1')));
  t.same(
    answers.map((a) => a.visibility),
    names.map((n) => (n.includes('public') ? 'public' : 'private')),
    'each question gets its own answer',
  );
  t.same(
    calls,
    [BROKER_PATHS.visibility, BROKER_PATHS.visibility],
    `${names.length} questions, 2 calls`,
  );
});

t.test(
  "verdicts: each question checked against the caller's node on its own",
  { skip },
  async (t) => {
    const { client, calls } = await setup(t);
    const verdicts = await Promise.all([
      client.verdict(check('tenant-a'), 'r.example.com/app-0', 'v1'),
      client.verdict(check('tenant-a'), 'r.example.com/app-1', 'v1'),
      client.verdict(check('tenant-b'), 'r.example.com/app-1', 'v1'),
    ]);
    t.same(verdicts, ['cannot-read', 'can-read', 'unknown'], "another node's secret: unknown");
    t.same(calls, [BROKER_PATHS.verdict], 'one call');
  },
);

t.test(
  'a round larger than the node budget in calls still fits in its batches',
  { skip },
  async (t) => {
    const { client, calls } = await setup(t, 1);
    const names = Array.from({ length: 55 }, (_, i) => `r.example.com/private-${i}`);
    const answers = await Promise.all(names.map((name) => client.visibility(name, 'v1')));
    t.equal(answers.filter((a) => a.visibility === 'private').length, 55, 'none refused');
    t.equal(calls.length, 1);
    // The budget (1 call/s, burst 2) has one call left: two calls in the next tick.
    const settled = await Promise.allSettled([
      client.visibility('r.example.com/private-a', 'v1'),
      client.verdict(check('tenant-a'), 'r.example.com/app-1', 'v1'),
    ]);
    const refused = settled.filter((r) => r.status === 'rejected');
    t.equal(refused.length, 1, 'beyond the budget: that call fails, asked again at the next round');
    t.match(String(refused[0]?.reason), /HTTP 429 \(too many requests from node node-1/);
  },
);

t.test(
  'a 503 from the reports endpoint (its watch still listing) leaves the controller up',
  { skip },
  async (t) => {
    const { client } = await setup(t, 20, () => err('the reports watch has not listed yet'));
    await client.visibility('registry.example.com/team-a/app', 'v1');
    t.equal(client.health().up, true, 'up after a broker answer');
    const own = await client.ownReports();
    t.equal(own.ok, false, 'no list of reports yet');
    t.match(own.ok ? '' : own.error, /503/);
    t.equal(client.health().up, true, 'still up: the broker answers');
  },
);

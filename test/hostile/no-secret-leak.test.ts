// No secret leaves the parser. The seed story on real parts, plus a tenant whose own pull secret
// holds a wrong password (the agent verifies it against the registry, which refuses it) and a
// tenant whose secret is right (verified, accepted). The agent runs at --log-level debug. Then
// its whole log, every API answer, /metrics and every file in its state dir are searched for
// each password: as is, in base64, as base64 of "user:password" (the Basic header and the
// `auth` field), and the whole .dockerconfigjson as stored in the Secret.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { FindingJson as Finding } from '../../agent/http/findings-json.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { requireTools } from '../helpers/real-parts.ts';
import {
  ADMIN1,
  TOOLS,
  dockerConfigSecret,
  findingsOf,
  metricValue,
  playSeedStory,
  prepareSeed,
  startPodFromCache,
  waitFor,
} from '../helpers/seed-scenario.ts';

const CAROL_WRONG = { username: 'carol', password: 'pw-carol-wrong-5e1f0a77c3' };
const CAROL_REAL = { username: 'carol', password: 'pw-carol-real-b84d21e6' };
const DAVE = { username: 'dave', password: 'pw-dave-right-0c9a4f13d7' };

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const b64url = (s: string): string => Buffer.from(s).toString('base64url');

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

t.test('no password, encoded or not, in logs, API answers, metrics or state', async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const parts = await prepareSeed(t, {
    users: { [CAROL_REAL.username]: CAROL_REAL.password, [DAVE.username]: DAVE.password },
  });
  const { api, registry } = parts;
  api.store.create('namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'tenant-d' },
  });
  const carolSecret = dockerConfigSecret('tenant-c', 'carol-pull', registry.host, CAROL_WRONG);
  const daveSecret = dockerConfigSecret('tenant-d', 'dave-pull', registry.host, DAVE);
  api.store.create('secrets', carolSecret);
  api.store.create('secrets', daveSecret);

  const stateDir = join(parts.dir, 'state');
  const agent = await startAgentProcess(t, parts.agentOptions({ stateDir }));
  await playSeedStory(parts, [agent]);
  startPodFromCache(parts, 'tenant-c', 'carol-pod', ['carol-pull']);
  startPodFromCache(parts, 'tenant-d', 'dave-pod', ['dave-pull']);

  // Both tenants' own credentials were put to the registry.
  const carol = await waitFor(
    "carol's wrong credential to be refused by the registry",
    async () => {
      const f = (await findingsOf(agent)).find((x) => x.pod === 'carol-pod');
      return f?.evidence.some((e) => e.includes('refused')) === true ? f : undefined;
    },
    15_000,
  );
  t.equal(carol.confidence, 'confirmed', 'a refused credential: tenant-c is flagged, confirmed');
  await waitFor(
    "dave's credential to be accepted by the registry",
    async () => {
      const metrics = (await agent.getText('/metrics')).body;
      const readable = metricValue(metrics, 'pullwatch_registry_probes_total', {
        result: 'readable',
      });
      return (readable ?? 0) >= 1 ? true : undefined;
    },
    15_000,
  );
  t.notOk(
    (await findingsOf(agent)).some((f) => f.pod === 'dave-pod'),
    'a credential the registry accepts: tenant-d is not flagged',
  );

  // Everything the agent hands out.
  const answers: Record<string, string> = {};
  const all = await agent.getJson<{ items: Finding[] }>('/api/v1/findings');
  for (const path of [
    '/api/v1/findings',
    ...all.body.items.map((f) => `/api/v1/findings/${f.id}`),
    '/api/v1/images',
    '/api/v1/status',
    '/openapi.json',
    '/',
    '/metrics',
  ]) {
    const { status, body } = await agent.getText(path);
    t.equal(status, 200, `GET ${path}`);
    answers[`GET ${path}`] = body;
  }
  t.equal(await agent.stop(), 0, 'the agent exits 0 (and flushes its state)');
  answers['the agent log'] = await readFile(agent.process.logPath, 'utf8');
  const stateFiles = await filesUnder(stateDir);
  t.ok(
    stateFiles.length >= 2,
    `state files: ${stateFiles.map((f) => f.slice(stateDir.length + 1)).join(', ')}`,
  );
  for (const file of stateFiles) {
    const bytes = await readFile(file);
    answers[file] = `${bytes.toString('utf8')}\n${bytes.toString('latin1')}`;
  }

  const credentials = [
    { who: 'admin1', creds: ADMIN1, dockerConfig: parts.admin1DockerConfigBase64 },
    { who: 'carol', creds: CAROL_WRONG, dockerConfig: carolSecret.data['.dockerconfigjson'] },
    { who: 'dave', creds: DAVE, dockerConfig: daveSecret.data['.dockerconfigjson'] },
  ];
  const found: string[] = [];
  for (const { who, creds, dockerConfig } of credentials) {
    const userPass = `${creds.username}:${creds.password}`;
    const needles: Record<string, string> = {
      password: creds.password,
      'base64(password)': b64(creds.password),
      'base64(user:password)': b64(userPass),
      'base64url(user:password)': b64url(userPass),
      '.dockerconfigjson (base64)': dockerConfig,
      '.dockerconfigjson (decoded)': Buffer.from(dockerConfig, 'base64').toString('utf8'),
    };
    for (const [form, needle] of Object.entries(needles)) {
      for (const [where, text] of Object.entries(answers)) {
        if (text.includes(needle)) found.push(`${who}'s ${form} in ${where}`);
      }
    }
  }
  t.same(found, [], `no credential anywhere in ${Object.keys(answers).length} places searched`);
  // The search covers real content: the secrets are named there, only their values are not.
  const everything = Object.values(answers).join('\n');
  for (const name of ['image-pull-secret-1', 'carol-pull']) {
    t.ok(everything.includes(name), `the secret name ${name} is there to be found`);
  }
});

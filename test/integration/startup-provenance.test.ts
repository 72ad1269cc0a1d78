// Who owns an image the agent finds cached when it starts (issue: start-up provenance makes
// wrong owners). On real parts: a real containerd holding the image, pulled through CRI with
// the owner's credentials; real registries (htpasswd, and token auth with per-repository
// rights); our API server answering the agent's reads in the order each case chooses; and the
// agent's real sources, provenance and detection in this process.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Finding } from '../../agent/detect/finding.ts';
import { startEmbeddedApiServer, type EmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { dockerConfigSecret, markRunning, pendingPod } from '../kit/embedded/kubelet-pods.ts';
import { startContainerd, type Containerd } from '../helpers/containerd.ts';
import { pullImage } from '../helpers/cri-mutate.ts';
import { startInProcessAgent, type InProcessAgent } from '../helpers/in-process-agent.ts';
import { buildImageLayout } from '../helpers/oci.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { startRegistry, startTokenAuthRegistry } from '../helpers/registry.ts';
import { pushLayout } from '../helpers/skopeo.ts';
import { makeTempDir, type TeardownHost } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const NODE = 'node-1';
const TOOLS = ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd', 'openssl'];
const UNAUTHORIZED = 'unauthorized-cached-image-use';

type Credentials = { readonly username: string; readonly password: string };

interface RunningPod {
  readonly namespace: string;
  readonly name: string;
  readonly secret?: { readonly name: string; readonly key: string; readonly login: Credentials };
}

/** An API server holding the case's namespaces (with tenant labels), secrets and running pods. */
async function apiServerWith(
  t: TeardownHost,
  parts: {
    readonly tenants: Readonly<Record<string, string>>;
    readonly image: string;
    readonly repoDigest: string;
    readonly pods: readonly RunningPod[];
    readonly startedAt: Date;
  },
): Promise<{ api: EmbeddedApiServer; uids: ReadonlyMap<string, string> }> {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  for (const [namespace, tenant] of Object.entries(parts.tenants))
    api.store.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { tenant } },
    });
  const uids = new Map<string, string>();
  for (const p of parts.pods) {
    if (p.secret !== undefined)
      api.store.create(
        'secrets',
        dockerConfigSecret(p.namespace, p.secret.name, p.secret.key, p.secret.login),
      );
    const created = api.store.create(
      'pods',
      pendingPod(p.namespace, p.name, {
        node: NODE,
        image: parts.image,
        pullSecrets: p.secret === undefined ? [] : [p.secret.name],
        pullPolicy: 'IfNotPresent',
      }),
    );
    if (!created.ok) throw new Error(created.error.message);
    api.store.modify(
      'pods',
      { namespace: p.namespace, name: p.name },
      markRunning(`docker-pullable://${parts.repoDigest}`, parts.startedAt),
    );
    uids.set(p.name, String(created.value.metadata.uid));
  }
  return { api, uids };
}

/** The kubelet's event for a pull it made for a pod's container. */
function pulledEvent(namespace: string, pod: string, uid: string, image: string) {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { namespace, name: `${pod}.pulled` },
    involvedObject: {
      kind: 'Pod',
      namespace,
      name: pod,
      uid,
      apiVersion: 'v1',
      fieldPath: 'spec.containers{app}',
    },
    reason: 'Pulled',
    message: `Successfully pulled image "${image}" in 1.2s (1.2s including waiting). Image size: 2310 bytes.`,
    source: { component: 'kubelet', host: NODE },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
    type: 'Normal',
  };
}

/**
 * Waits (up to 10 s) for `read()` to give `expected`, then asserts it: an answer the API server
 * or a registry has sent may still be on its way into the agent.
 */
async function becomes<T>(
  t: Pick<Test, 'same'>,
  agent: InProcessAgent,
  read: () => T,
  expected: T,
  what: string,
): Promise<void> {
  await agent.settled();
  await waitFor(
    what,
    () => (JSON.stringify(read()) === JSON.stringify(expected) ? true : undefined),
    10_000,
    20,
  ).catch(() => undefined);
  t.same(read(), expected, what);
}

const ownersBecome = (
  t: Pick<Test, 'same'>,
  agent: InProcessAgent,
  imageId: string,
  expected: ReturnType<typeof ownersOf>,
) => becomes(t, agent, () => ownersOf(agent, imageId), expected, 'the owners');

function ownersOf(agent: InProcessAgent, imageId: string) {
  const image = agent.image(imageId);
  return {
    owners: image?.owners.map((o) => `${o.tenant}:${o.namespace}/${o.secret ?? ''}`) ?? [],
    possibleOwners:
      image?.possibleOwners.map((o) => `${o.tenant}:${o.namespace}/${o.secret ?? ''}`) ?? [],
  };
}

function flaggedPods(agent: InProcessAgent): string[] {
  return agent.agent.view
    .findings()
    .filter((f) => f.rule === UNAUTHORIZED)
    .map((f) => `${f.namespace ?? ''}/${f.pod ?? ''}`)
    .sort();
}

/** Waits until every request matching each pattern has been answered. */
async function answered(api: EmbeddedApiServer, patterns: readonly RegExp[]): Promise<void> {
  await waitFor(
    `answers to ${patterns.map(String).join(', ')}`,
    () =>
      patterns.every((p) => api.requestLog.some((r) => p.test(r.path) && r.status !== 0))
        ? true
        : undefined,
    15_000,
    20,
  );
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

t.test(
  'case 1: whatever order the secrets and the kubelet event arrive in, tenant alpha owns payments',
  async (t) => {
    if (!requireTools(t, TOOLS)) return;
    const ALICE = { username: 'alice', password: 'pw-alice-7f3a' };
    const CAROL = { username: 'carol', password: 'pw-carol-19be' };
    const dir = await makeTempDir(t, 'startup-case1');
    const registry = await startRegistry(t, {
      users: { [ALICE.username]: ALICE.password, [CAROL.username]: CAROL.password },
    });
    const image = `${registry.host}/team-a/payments:1.0`;
    const layout = await buildImageLayout(join(dir, 'image'), { marker: 'payments' });
    const manifest = await pushLayout(layout.layoutDir, image, ALICE);
    const containerd: Containerd = await startContainerd(t, { registryMirrors: [registry.host] });
    const imageId = await pullImage(containerd.socket, image, ALICE);
    const repoDigest = `${registry.host}/team-a/payments@${manifest}`;

    const arrivals = {
      'regcred-a': /\/namespaces\/tenant-a\/secrets\/regcred-a$/,
      'regcred-c': /\/namespaces\/tenant-c\/secrets\/regcred-c$/,
      'a1 event': /\/namespaces\/tenant-a\/events$/,
    } as const;
    const orders = permutations(Object.keys(arrivals) as (keyof typeof arrivals)[]);
    t.equal(orders.length, 6, 'every order of three arrivals');
    let run = 0;
    for (const order of orders) {
      run += 1;
      await t.test(`arrival order: ${order.join(', ')}`, async (t) => {
        const { api, uids } = await apiServerWith(t, {
          tenants: { 'tenant-a': 'alpha', 'tenant-c': 'gamma', 'tenant-a2': 'alpha' },
          image,
          repoDigest,
          startedAt: new Date(Date.now() - 60_000),
          pods: [
            {
              namespace: 'tenant-a',
              name: 'a1',
              secret: { name: 'regcred-a', key: registry.host, login: ALICE },
            },
            {
              namespace: 'tenant-c',
              name: 'c2',
              // Matches through the legacy `http://HOST/v1/` key form, which the kubelet strips.
              secret: { name: 'regcred-c', key: `http://${registry.host}/v1/`, login: CAROL },
            },
            { namespace: 'tenant-a2', name: 'a2' },
          ],
        });
        api.store.create('events', pulledEvent('tenant-a', 'a1', uids.get('a1') ?? '', image));
        // The answers come back in the case's order, 350 ms apart.
        order.forEach((name, i) => {
          api.faults.delay(arrivals[name], i * 350, { method: 'GET', watch: false });
        });
        const kubeconfigPath = join(dir, `kubeconfig-${run}`);
        await writeFile(kubeconfigPath, api.kubeconfigYaml());
        const stateDir = join(dir, `state-${run}`);
        const agentOptions = {
          nodeName: NODE,
          criEndpoint: containerd.socket,
          kubeconfigPath,
          stateDir,
          kubeletRoot: join(dir, 'kubelet'),
          extraArgs: ['--tenant-label', 'tenant', '--cri-poll-interval', '1s'],
        };
        const agent = await startInProcessAgent(t, agentOptions);
        await answered(api, Object.values(arrivals));
        await ownersBecome(t, agent, imageId, {
          owners: ['alpha:tenant-a/regcred-a'],
          possibleOwners: [],
        });
        await becomes(
          t,
          agent,
          () => flaggedPods(agent),
          [],
          'neither a2 (the owner tenant) nor c2 (the registry lets it read) is flagged',
        );
        await agent.stop();

        // After a restart the owner read back from the state dir is the same.
        const again = await startInProcessAgent(t, agentOptions);
        await ownersBecome(t, again, imageId, {
          owners: ['alpha:tenant-a/regcred-a'],
          possibleOwners: [],
        });
        await again.stop();
      });
    }
  },
);

t.test(
  'case 2: a valid login without rights on the repository never becomes an owner',
  async (t) => {
    if (!requireTools(t, TOOLS)) return;
    const ALICE = { username: 'alice', password: 'pw-alice-acl-4c1d' };
    const MALLORY = { username: 'mallory', password: 'pw-mallory-acl-88e0' };
    const dir = await makeTempDir(t, 'startup-case2');
    const { registry } = await startTokenAuthRegistry(t, {
      users: {
        [ALICE.username]: {
          password: ALICE.password,
          rights: [{ repository: 'team-a/*', actions: ['pull', 'push'] }],
        },
        [MALLORY.username]: {
          password: MALLORY.password,
          rights: [{ repository: 'team-m/*', actions: ['pull', 'push'] }],
        },
      },
    });
    const image = `${registry.host}/team-a/secret-app:1`;
    const layout = await buildImageLayout(join(dir, 'image'), { marker: 'secret-app' });
    const manifest = await pushLayout(layout.layoutDir, image, ALICE);
    const containerd = await startContainerd(t, { registryMirrors: [registry.host] });
    const imageId = await pullImage(containerd.socket, image, ALICE);
    const repoDigest = `${registry.host}/team-a/secret-app@${manifest}`;

    interface Case {
      readonly name: string;
      /** Which secret's read is answered first. */
      readonly first: 'alice' | 'mallory';
      readonly extraArgs: readonly string[];
      readonly owners: readonly string[];
      readonly possibleOwners: readonly string[];
      readonly flagged: readonly string[];
      readonly confidence: Finding['confidence'];
    }
    const cases: readonly Case[] = [
      {
        name: "alice's secret read first",
        first: 'alice',
        extraArgs: [],
        owners: ['alpha:tenant-a/alice-cred'],
        possibleOwners: [],
        flagged: ['tenant-m/acl-m1'],
        // Found cached at start, with no kubelet event left: the cache held it, the pod's
        // policy lets the kubelet use it, but nothing says "already present".
        confidence: 'likely',
      },
      {
        name: "mallory's secret read first",
        first: 'mallory',
        extraArgs: [],
        owners: ['alpha:tenant-a/alice-cred'],
        possibleOwners: [],
        flagged: ['tenant-m/acl-m1'],
        confidence: 'likely',
      },
      {
        name: 'with --verify-credentials off nobody can tell: both are possible owners, neither whitewashed',
        first: 'mallory',
        extraArgs: ['--verify-credentials', 'off'],
        owners: [],
        possibleOwners: ['alpha:tenant-a/alice-cred', 'mu:tenant-m/mallory-cred'],
        flagged: ['tenant-a/acl-a1', 'tenant-m/acl-m1'],
        confidence: 'possible',
      },
    ];
    let run = 0;
    for (const c of cases) {
      run += 1;
      await t.test(c.name, async (t) => {
        // Both pods have run for two hours: the kubelet's events are gone from the API server.
        const { api } = await apiServerWith(t, {
          tenants: { 'tenant-a': 'alpha', 'tenant-m': 'mu' },
          image,
          repoDigest,
          startedAt: new Date(Date.now() - 2 * 3600_000),
          pods: [
            {
              namespace: 'tenant-a',
              name: 'acl-a1',
              secret: { name: 'alice-cred', key: registry.host, login: ALICE },
            },
            {
              namespace: 'tenant-m',
              name: 'acl-m1',
              secret: { name: 'mallory-cred', key: registry.host, login: MALLORY },
            },
          ],
        });
        const late = c.first === 'alice' ? /\/secrets\/mallory-cred$/ : /\/secrets\/alice-cred$/;
        api.faults.delay(late, 500, { method: 'GET', watch: false });
        const kubeconfigPath = join(dir, `kubeconfig-${run}`);
        await writeFile(kubeconfigPath, api.kubeconfigYaml());
        const agent = await startInProcessAgent(t, {
          nodeName: NODE,
          criEndpoint: containerd.socket,
          kubeconfigPath,
          stateDir: join(dir, `state-${run}`),
          kubeletRoot: join(dir, 'kubelet'),
          extraArgs: ['--tenant-label', 'tenant', '--cri-poll-interval', '1s', ...c.extraArgs],
        });
        await answered(api, [/\/secrets\/mallory-cred$/, /\/secrets\/alice-cred$/]);
        await ownersBecome(t, agent, imageId, {
          owners: [...c.owners],
          possibleOwners: [...c.possibleOwners],
        });
        await becomes(t, agent, () => flaggedPods(agent), [...c.flagged], 'the pods flagged');
        const m1 = agent.agent.view
          .findings()
          .find((f) => f.rule === 'unauthorized-cached-image-use' && f.pod === 'acl-m1');
        t.equal(m1?.confidence, c.confidence);
        await agent.stop();
      });
    }
  },
);

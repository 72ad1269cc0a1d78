// The demo: the Admin1/Admin2 story (test/kit/story.ts) narrated, in a DemoWorld (a runtime and
// its registry) and an embedded Kubernetes API server, with the real agent and the real
// controller running in this process as they are deployed: the agent (--secrets-from
// controller) asks the controller, over HTTPS with its bound token, about its pods' pull
// secrets; only the controller reads Secrets. Each talks to the API server as its own service
// account, so the API server's request log tells who read what.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../../agent/config.ts';
import { loadControllerConfig } from '../../../agent/controller/config.ts';
import { runController } from '../../../agent/controller/main.ts';
import type { RunningController } from '../../../agent/controller/main.ts';
import { issueServingCertificate } from '../../../agent/controller/serving-certificate.ts';
import type { Finding } from '../../../agent/detect/finding.ts';
import type { Logger } from '../../../agent/log.ts';
import { runAgent } from '../../../agent/main.ts';
import type { RunningAgent } from '../../../agent/main.ts';
import { viaControllerArgs } from '../../helpers/controller-process.ts';
import { issueBoundToken } from '../bound-tokens.ts';
import type { EmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { startEmbeddedApiServer } from '../embedded/kube-apiserver.ts';
import { openReportsCrds, openReportsCrdsPresent, openReportsDir } from '../report-crds.ts';
import { ADMIN1_SECRET, ADMIN1_POD, ADMIN2_POD, playStory, Story } from '../story.ts';
import { describeWhereSeen, whereSeen } from './where-people-look.ts';
import type { DemoWorld } from './world.ts';

const NODE = 'demo-node';
/** pullwatch's namespace, its two service accounts, and the audience of the agent's token. */
const NAMESPACE = 'pullwatch';
const AGENT_SA = 'pullwatch-agent';
const CONTROLLER_SA = 'pullwatch-controller';
const AUDIENCE = 'pullwatch-controller';
export const AGENT_USER = `system:serviceaccount:${NAMESPACE}:${AGENT_SA}`;
export const CONTROLLER_USER = `system:serviceaccount:${NAMESPACE}:${CONTROLLER_SA}`;

export interface DemoOptions {
  readonly listen: string;
  readonly say: (line: string) => void;
  readonly logger: Logger;
  readonly startWorld: (dir: string) => Promise<DemoWorld>;
}

export interface SecretReads {
  /** Paths of the Secret requests the agent's service account made (none, as deployed). */
  readonly agent: readonly string[];
  /** Paths of the Secret requests the controller's service account made. */
  readonly controller: readonly string[];
}

export interface Demo {
  /** The agent's HTTP API. */
  readonly url: string;
  /** The controller's HTTPS API. */
  readonly controllerUrl: string;
  readonly findings: readonly Finding[];
  /** Who read Secrets, from the embedded API server's request log. */
  readonly secretReads: SecretReads;
  /** Stops the agent, then the controller, then the world and the API server. */
  stop(): Promise<void>;
}

function secretReads(api: EmbeddedApiServer): SecretReads {
  const by = (user: string) =>
    api.requestLog
      .filter((r) => r.user === user && /\/secrets(\/|$)/.test(r.path))
      .map((r) => `${r.method} ${r.path}`);
  return { agent: by(AGENT_USER), controller: by(CONTROLLER_USER) };
}

/**
 * The controller as deployed, in this process: its own service account, a serving certificate
 * for 127.0.0.1 (the agent connects by address) on a free loopback port, and the fingerprint key
 * Secret it makes itself in pullwatch's namespace.
 */
async function startDemoController(
  api: EmbeddedApiServer,
  dir: string,
  world: DemoWorld,
  logger: Logger,
): Promise<{ readonly controller: RunningController; readonly caFile: string }> {
  const tlsDir = join(dir, 'controller-tls');
  await mkdir(tlsDir, { recursive: true });
  const made = issueServingCertificate(['127.0.0.1']);
  const certFile = join(tlsDir, 'tls.crt');
  const keyFile = join(tlsDir, 'tls.key');
  const caFile = join(tlsDir, 'ca.crt');
  await writeFile(certFile, made.cert);
  await writeFile(keyFile, made.key, { mode: 0o600 });
  await writeFile(caFile, made.ca);
  const config = loadControllerConfig(
    [
      '--listen',
      '127.0.0.1:0',
      '--tls-cert-file',
      certFile,
      '--tls-key-file',
      keyFile,
      '--namespace',
      NAMESPACE,
      '--agent-service-account',
      AGENT_SA,
      '--audience',
      AUDIENCE,
      ...world.controllerArgs,
    ],
    {},
  );
  if (!config.ok) throw new Error(config.error);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(
    api.kubeconfigYaml({
      token: issueBoundToken(api, {
        namespace: NAMESPACE,
        serviceAccount: CONTROLLER_SA,
        pod: 'pullwatch-controller-demo',
      }),
    }),
  );
  const controller = await runController(config.value, {
    logger: logger.child({ component: 'controller' }),
    kubeConfig,
  });
  // As a Service sends agents only to ready replicas: wait for the first list of the pods.
  try {
    await until(
      async () => ((await readyzStatus(controller.url, made.ca)) === 200 ? true : undefined),
      10_000,
      'the controller to be ready',
    );
  } catch (error) {
    await controller.stop();
    throw error;
  }
  return { controller, caFile };
}

/** The controller's /readyz status, its certificate checked against `ca`; 0 when unreachable. */
function readyzStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(new URL('/readyz', url), { ca, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(0);
    });
    req.end();
  });
}

async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function playDemo(options: DemoOptions): Promise<Demo> {
  const { say } = options;
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-demo-'));
  const world = await options.startWorld(dir);
  // The OpenReports CRDs come from ../shared, as in a cluster from their own project; a
  // checkout without them plays the story without reports.
  const crds = (await openReportsCrdsPresent()) ? await openReportsCrds() : undefined;
  const api = await startEmbeddedApiServer({ customResourceDefinitions: crds ?? [] });
  let controller: RunningController | undefined;
  const cleanup = async () => {
    await controller?.stop();
    await Promise.all([world.stop(), api.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
  const image = world.secretImage;
  const story = new Story(api, world, NODE);
  story.setUp([NAMESPACE]);
  // The Node the reports name as their owner (they go when it goes).
  api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });

  // The agent's two projected tokens, bound to its pod on this node: one for the API server,
  // one (audience: the controller) that the controller reviews to learn the caller's node.
  const agentPod = { namespace: NAMESPACE, serviceAccount: AGENT_SA, pod: 'pullwatch-agent-demo' };
  const agentApiToken = issueBoundToken(api, { ...agentPod, node: NODE });
  const tokenFile = join(dir, 'agent-controller-token');
  await writeFile(
    tokenFile,
    issueBoundToken(api, { ...agentPod, node: NODE, audience: AUDIENCE }),
    { mode: 0o600 },
  );
  let caFile: string;
  try {
    ({ controller, caFile } = await startDemoController(api, dir, world, options.logger));
  } catch (error) {
    await cleanup();
    throw error;
  }

  const config = loadConfig(
    [
      ...viaControllerArgs({ url: controller.url, caFile, tokenFile }),
      '--node-name',
      NODE,
      '--cri-endpoint',
      world.criEndpoint,
      '--listen',
      options.listen,
      '--state-dir',
      join(dir, 'state'),
      '--kubelet-root',
      join(dir, 'kubelet'),
      '--auth',
      'none',
      '--cri-poll-interval',
      '1s',
      ...(crds === undefined ? ['--reports', 'off'] : []),
      ...world.agentArgs,
    ],
    {},
  );
  if (!config.ok) {
    await cleanup();
    throw new Error(config.error);
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeconfigYaml({ token: agentApiToken }));
  let agent: RunningAgent;
  try {
    agent = await runAgent(config.value, { logger: options.logger, kubeConfig });
  } catch (error) {
    await cleanup();
    throw error;
  }
  const stop = async () => {
    await agent.stop();
    await cleanup();
  };
  // A step that fails stops everything it started, as --exit and Ctrl-C do.
  try {
    const view = agent.agent.view;
    await until(() => (view.readiness().ready ? true : undefined), 10_000, 'the agent to be ready');
    say(`pullwatch agent on ${NODE}: ${agent.url} (${world.description})`);
    say(
      `pullwatch controller: ${controller.url} (the agent asks it about its pods' pull secrets; only the controller reads Secrets)`,
    );
    say('');
    const finding = await playStory(story, {
      before: (step) => {
        switch (step) {
          case 'admin1-creates-pod':
            say(
              `1. Admin1 creates ${ADMIN1_POD.name} in namespace ${ADMIN1_POD.namespace}, with imagePullSecrets: [${ADMIN1_SECRET}].`,
            );
            break;
          case 'admin1-pod-runs':
            say(
              `   The kubelet pulls ${image} with tenant-a's secret; the image is now in the node's cache.`,
            );
            break;
          case 'admin2-runs-from-cache':
            say('');
            say(
              `2. Admin2 creates ${ADMIN2_POD.name} in namespace ${ADMIN2_POD.namespace} with the same image, imagePullPolicy: IfNotPresent,`,
            );
            say(
              '   and no pull secret. The kubelet finds the image present and starts it from the cache.',
            );
            break;
          case 'kubelet-pulls':
            break;
        }
      },
      beforePull: () => new Promise((r) => setTimeout(r, 400)),
      ownerRecorded: async () => {
        await until(
          () => view.images().find((i) => i.repoTags.includes(image) && i.owners.length > 0),
          10_000,
          'the pull to be attributed to tenant-a',
        );
        say(`   pullwatch records who brought it: tenant-a (secret ${ADMIN1_SECRET}).`);
      },
      flagged: () =>
        until(
          () => view.findings().find((f) => f.rule === 'unauthorized-cached-image-use'),
          10_000,
          'the finding',
        ),
    });
    // Let registry answers (visibility) land before the findings are printed.
    await until(() => (agent.agent.settled() ? true : undefined), 10_000, 'registry answers');
    agent.agent.reconcile();
    say('');
    say(`3. pullwatch flags it (${finding.severity}, ${finding.confidence}):`);
    for (const line of (view.finding(finding.id) ?? finding).evidence) say(`   - ${line}`);
    say(`   Remediation: ${finding.remediation}`);
    const reads = secretReads(api);
    const tenantSecret = `/api/v1/namespaces/${ADMIN1_POD.namespace}/secrets/${ADMIN1_SECRET}`;
    say('');
    if (reads.agent.length === 0 && reads.controller.includes(`GET ${tenantSecret}`)) {
      say(
        `   The agent never read a Secret: the controller read ${ADMIN1_POD.namespace}/${ADMIN1_SECRET} by name and answered with fingerprints`,
      );
      say(`   (the API server's log holds no Secret request by ${AGENT_USER}).`);
    } else {
      // Told as it is: the story above depends on it, so say so rather than claim otherwise.
      say(
        `   Unexpected: the API server's log shows ${reads.agent.length} Secret request(s) by the agent (${reads.agent.join(', ') || 'none'}) and by the controller: ${reads.controller.join(', ') || 'none'}.`,
      );
    }
    say('');
    say('4. Where people look: the agent wrote the finding to the API server.');
    if (crds === undefined)
      say(`   (no report CRDs at ${openReportsDir}: the Event only, no reports)`);
    const seen = await until(
      () => {
        const s = whereSeen(api, NODE);
        const reportsDone = crds === undefined || agent.reports?.status().pending === 0;
        const complete = s.event !== undefined && (crds === undefined || s.report !== undefined);
        return reportsDone && complete ? s : undefined;
      },
      10_000,
      "the agent's Report and Event",
    );
    for (const line of describeWhereSeen(seen, NODE)) say(line);

    return {
      url: agent.url,
      controllerUrl: controller.url,
      findings: view.findings(),
      secretReads: reads,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// `npm run demo` must work on a fresh clone: the story plays and the findings are printed.
// The tests run the script that package.json's "demo" names (node test/kit/demo/main.ts). The
// demo runs the agent and the controller as deployed: the agent asks the controller, and only
// the controller reads Secrets; both stop on --exit and on Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { createLogger } from '../../agent/log.ts';
import { startEmbeddedWorld } from '../kit/demo/embedded-world.ts';
import { playDemo } from '../kit/demo/story.ts';
import { requireTools } from '../helpers/real-parts.ts';
import { REAL_WORLD_TOOLS } from '../helpers/real-world.ts';
import { sleep } from '../helpers/wait.ts';
import { openReportsCrdsForTests } from '../kit/report-crds.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPTS = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
const DEMO = join(REPO, /^node (\S+)$/.exec(SCRIPTS.demo ?? '')?.[1] ?? 'no demo script');

/** The narration's line that the agent asked the controller, and the API server's log agrees. */
const BROKERED =
  /The agent never read a Secret: the controller read tenant-a\/image-pull-secret-1 by name and answered with fingerprints\n\s+\(the API server's log holds no Secret request by system:serviceaccount:pullwatch:pullwatch-agent\)/;

/** Whether something still accepts connections at `http(s)://host:port`. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

t.test('npm run demo runs the demo from test/kit, outside the shipped agent', async (t) => {
  t.equal(SCRIPTS.demo, 'node test/kit/demo/main.ts');
});

t.test('the demo plays the Admin1/Admin2 story and prints the critical finding', async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [DEMO, '--listen', '127.0.0.1:0', '--exit'],
    {
      timeout: 60_000,
    },
  );
  t.match(stdout, /pullwatch controller: https:\/\/127\.0\.0\.1:\d+ /);
  t.match(stdout, /1\. Admin1 creates admin1-pod/);
  t.match(stdout, /pullwatch records who brought it: tenant-a \(secret image-pull-secret-1\)/);
  t.match(stdout, BROKERED, 'the agent asked the controller, and read no Secret itself');
  t.match(stdout, /CRITICAL\s+unauthorized-cached-image-use\s+tenant-b\/admin2-pod\/app/);
  t.match(stdout, /MEDIUM\s+private-image-exposed\s+exposed: tenant-b/);
  t.match(stdout, /curl -s http:\/\/127\.0\.0\.1:\d+\/api\/v1\/findings/);
  // Where people look (README "Reports", "Events on the pod"), with the CRDs from ../shared.
  const [, own, admins, event] =
    /get report pullwatch-demo-node[^\n]*\n([^\n]*)\n[^\n]*get clusterreport[^\n]*\n([^\n]*)\n[^\n]*describe pod admin2-pod\n([^\n]*)/.exec(
      stdout,
    ) ?? [];
  if (own === undefined && !(await openReportsCrdsForTests())) {
    t.match(stdout, /no report CRDs at .*: the Event only/);
  } else {
    t.match(own, /critical: .*credentials this namespace does not hold/, "tenant-b's Report");
    t.notMatch(own, /tenant-a|image-pull-secret-1|admin1/, 'which names nothing of tenant-a');
    t.match(admins, /unauthorized-cached-image-use on tenant-b\/admin2-pod, owner: tenant-a/);
    t.match(event, /Warning\s+UnauthorizedCachedImage\s+pullwatch\.dev\/agent, demo-node/);
  }
  t.notMatch(stdout, /demo-password-never-shown/, 'the story secret is never printed');
});

t.test(
  'demo --real plays the same story on a real containerd and a real private registry',
  async (t) => {
    if (!requireTools(t, REAL_WORLD_TOOLS)) return;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [DEMO, '--real', '--listen', '127.0.0.1:0', '--exit'],
      { timeout: 90_000 },
    );
    t.match(stdout, /real containerd at unix:\/\//);
    t.match(stdout, BROKERED, 'the agent asked the controller, and read no Secret itself');
    t.match(stdout, /The image is private: anonymous manifest request answered 401/);
    t.match(
      stdout,
      /CRITICAL\s+unauthorized-cached-image-use\s+tenant-b\/admin2-pod\/app\s+127\.0\.0\.1:\d+\/team-a/,
    );
  },
);

t.test('the agent asks the controller, which alone reads Secrets; stop ends both', async (t) => {
  const lines: string[] = [];
  const demo = await playDemo({
    listen: '127.0.0.1:0',
    say: (line) => lines.push(line),
    logger: createLogger('silent', {}),
    startWorld: startEmbeddedWorld,
  });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await demo.stop();
  });
  t.same(demo.secretReads.agent, [], "the API server's log holds no Secret request by the agent");
  t.ok(
    demo.secretReads.controller.includes(
      'GET /api/v1/namespaces/tenant-a/secrets/image-pull-secret-1',
    ),
    "the controller read tenant-a's pull secret, by name",
  );
  t.ok(
    demo.secretReads.controller.includes('POST /api/v1/namespaces/pullwatch/secrets'),
    'the controller made its fingerprint key Secret in pullwatch',
  );
  t.notOk(
    demo.secretReads.controller.some((r) => r.startsWith('GET ') && r.endsWith('/secrets')),
    'it read them by name, never listed or watched them',
  );
  t.same(
    demo.findings.map((f) => [f.severity, f.rule]).sort(),
    [
      ['critical', 'unauthorized-cached-image-use'],
      ['low', 'always-pull-images-not-enforced'],
      ['medium', 'private-image-exposed'],
    ],
    'the same findings as with the agent reading secrets itself',
  );
  t.match(lines.join('\n'), BROKERED);
  t.ok(await listening(demo.controllerUrl), 'the controller serves while the demo runs');
  await demo.stop();
  stopped = true;
  t.notOk(await listening(demo.controllerUrl), 'the controller stopped');
  t.notOk(await listening(demo.url), 'the agent stopped');
});

t.test('Ctrl-C stops the agent and the controller, and the demo exits 0', async (t) => {
  const child = spawn(process.execPath, [DEMO, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
  });
  const deadline = Date.now() + 60_000;
  while (!stdout.includes('Serving until Ctrl-C.')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`the demo did not reach "Serving until Ctrl-C.":\n${stdout}`);
    await sleep(50);
  }
  const agentUrl = /pullwatch agent on demo-node: (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
  const controllerUrl = /pullwatch controller: (https:\/\/\S+)/.exec(stdout)?.[1] ?? '';
  t.ok(await listening(agentUrl), 'the agent serves');
  t.ok(await listening(controllerUrl), 'the controller serves');
  child.kill('SIGINT');
  const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
  t.equal(code, 0, 'the demo exits 0 within seconds of Ctrl-C');
  t.notOk(await listening(agentUrl), 'the agent stopped');
  t.notOk(await listening(controllerUrl), 'the controller stopped');
});

import { parseArgs } from 'node:util';
import { startEmbeddedWorld } from '../demo/embedded-world.ts';
import { playDemo } from '../demo/story.ts';
import type { DemoWorld } from '../demo/world.ts';
import { createLogger } from '../log.ts';
import { renderFindingsTable } from './findings-output.ts';
import type { CommandIo } from './io.ts';
import { EXIT } from './io.ts';

export const demoUsage = `Usage: pullwatch demo [--listen HOST:PORT] [--exit] [--real]

Plays the Admin1/Admin2 story with no cluster: an embedded container runtime (CRI over gRPC
on a unix socket) and an embedded Kubernetes API server hold the story's images, pods and
secrets, and the real agent watches them. Prints the findings and the URLs to try, then keeps
serving until Ctrl-C.

  --listen   where the agent's HTTP API listens (default 127.0.0.1:9746; use :0 for any port)
  --exit     stop after printing the findings (for scripts and tests)
  --real     a real containerd and a real private registry instead (from a source checkout,
             as root, with containerd, docker-registry, skopeo and apache2-utils installed)
`;

async function realWorld(dir: string): Promise<DemoWorld> {
  // Test harness code, present in a source checkout only (not in dist/ or the image).
  const path = '../../test/helpers/real-world.ts';
  const harness = (await import(path).catch(() => {
    throw new Error('--real works from a source checkout only (npm run demo -- --real)');
  })) as { startRealWorld: (dir: string) => Promise<DemoWorld> };
  return harness.startRealWorld(dir);
}

export async function demoCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      listen: { type: 'string' },
      exit: { type: 'boolean' },
      real: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    io.stdout(demoUsage);
    return EXIT.ok;
  }
  const say = (line: string) => {
    io.stdout(`${line}\n`);
  };
  const logger = createLogger(io.env.PULLWATCH_LOG_LEVEL ?? 'error', { node: 'demo-node' });
  const demo = await playDemo({
    listen: values.listen ?? '127.0.0.1:9746',
    say,
    logger,
    startWorld: values.real === true ? realWorld : startEmbeddedWorld,
  });
  say('');
  say('Findings on this node:');
  io.stdout(renderFindingsTable(demo.findings));
  say('');
  say('Try:');
  say(`  curl -s ${demo.url}/api/v1/findings | jq .`);
  say(`  curl -s '${demo.url}/api/v1/findings?severity=critical'`);
  say(`  curl -s ${demo.url}/api/v1/images | jq .`);
  say(`  curl -s ${demo.url}/metrics | grep ^pullwatch_`);
  if (values.exit === true) {
    await demo.stop();
    return EXIT.ok;
  }
  say('');
  say('Serving until Ctrl-C.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => {
      resolve();
    });
    process.once('SIGTERM', () => {
      resolve();
    });
  });
  await demo.stop();
  return EXIT.ok;
}

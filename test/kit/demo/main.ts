// `npm run demo`: the Admin1/Admin2 story on an embedded runtime and API server, or with
// --real on a real containerd and registry. It runs from a source checkout only: the demo and
// the fakes it plays on live under test/, and the agent's image ships none of them.
import { parseArgs } from 'node:util';
import { renderFindingsTable } from '../../../agent/cli/findings-output.ts';
import type { CommandIo } from '../../../agent/cli/io.ts';
import { EXIT, processIo } from '../../../agent/cli/io.ts';
import { createLogger } from '../../../agent/log.ts';
import { startEmbeddedWorld } from './embedded-world.ts';
import { playDemo } from './story.ts';
import { startRealDemoWorld } from './world.ts';

export const demoUsage = `Usage: npm run demo -- [--listen HOST:PORT] [--exit] [--real]
       node test/kit/demo/main.ts [--listen HOST:PORT] [--exit] [--real]

Plays the Admin1/Admin2 story with no cluster: an embedded container runtime (CRI over gRPC
on a unix socket) and an embedded Kubernetes API server hold the story's images, pods and
secrets, and the real agent watches them, asking the real controller (in this process, on a
free loopback port) about its pods' pull secrets. Prints the findings and the URLs to try, then
keeps serving until Ctrl-C.

  --listen   where the agent's HTTP API listens (default 127.0.0.1:9746; use :0 for any port)
  --exit     stop after printing the findings (for scripts and tests)
  --real     a real containerd and a real private registry instead (as root, with containerd,
             docker-registry, skopeo and apache2-utils installed)
`;

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
    startWorld: values.real === true ? startRealDemoWorld : startEmbeddedWorld,
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

if (import.meta.main) {
  let code: number;
  try {
    code = await demoCommand(process.argv.slice(2), processIo);
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed flags.
    const parseError = String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    if (!parseError) throw error;
    processIo.stderr(`demo: ${(error as Error).message}\n\n${demoUsage}`);
    code = EXIT.usage;
  }
  // The agent's watches and keep-alive sockets may still be closing: exit once it has stopped.
  process.exit(code);
}

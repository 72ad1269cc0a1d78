import { loadConfig, settingsHelp } from '../config.ts';
import { createLogger } from '../log.ts';
import { runAgent } from '../main.ts';
import { buildInfo } from '../version.ts';
import type { CommandIo } from './io.ts';
import { EXIT } from './io.ts';

export const runUsage = `Usage: pullwatch run [--config FILE] [flags]

Runs the node agent: watches this node's image cache and pods, serves findings on the HTTP
API and /metrics until SIGTERM. Every flag can also be set as PULLWATCH_<NAME> or in the YAML
file given with --config (keys are the flag names).

${settingsHelp()}
`;

/** Stops within a few seconds on SIGTERM/SIGINT: in-flight requests finish, state is flushed. */
export async function runCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(runUsage);
    return EXIT.ok;
  }
  const config = loadConfig(argv, io.env);
  if (!config.ok) {
    io.stderr(`pullwatch run: ${config.error}\n`);
    return EXIT.usage;
  }
  const logger = createLogger(config.value['log-level'], { node: config.value['node-name'] });
  logger.info({ version: buildInfo.version, revision: buildInfo.revision }, 'starting');
  // Listen for the signal before starting: a SIGTERM during start-up must not be lost (Node
  // as PID 1 in a container has no default handler, so an unhandled one would be ignored).
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => {
      resolve('SIGTERM');
    });
    process.once('SIGINT', () => {
      resolve('SIGINT');
    });
  });
  const running = await runAgent(config.value, { logger });
  const signal = await signalled;
  logger.info({ signal }, 'stopping');
  const forced = setTimeout(() => {
    logger.error('shutdown took longer than 8 s; exiting anyway');
    process.exit(EXIT.failure);
  }, 8000);
  forced.unref();
  await running.stop();
  clearTimeout(forced);
  logger.info('stopped');
  return EXIT.ok;
}

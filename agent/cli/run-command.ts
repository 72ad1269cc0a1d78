import { loadConfig, settingsHelp } from '../config.ts';
import { createLogger } from '../log.ts';
import { runAgent } from '../main.ts';
import { buildInfo } from '../version.ts';
import type { CommandIo } from './io.ts';
import { runUntilSignalled } from './until-signalled.ts';
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
  await runUntilSignalled(() => runAgent(config.value, { logger }), logger);
  return EXIT.ok;
}

import { settingsHelp } from '../settings.ts';
import { CONTROLLER_SETTINGS, loadControllerConfig } from '../controller/config.ts';
import { runController } from '../controller/main.ts';
import { createLogger } from '../log.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import { buildInfo } from '../version.ts';
import type { CommandIo } from './io.ts';
import { runUntilSignalled } from './until-signalled.ts';
import { EXIT } from './io.ts';

export const controllerUsage = `Usage: pullwatch controller [--config FILE] [flags]

Runs the cluster-side controller (a Deployment): the only pullwatch component that reads
Secrets. It answers each agent, over HTTPS, about the pull secrets of its own node's pods
(fingerprints and keyring entries, never credentials) and asks registries once for the whole
cluster. Agents authenticate with a projected service-account token whose node claim decides
what they may ask. Every flag can also be set as PULLWATCH_<NAME> or in the YAML file given
with --config.

${settingsHelp(CONTROLLER_SETTINGS)}
`;

/** Stops within a few seconds on SIGTERM/SIGINT; exits 1 when it cannot start (the reason logged). */
export async function controllerCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(controllerUsage);
    return EXIT.ok;
  }
  const config = loadControllerConfig(argv, io.env);
  if (!config.ok) {
    io.stderr(`pullwatch controller: ${config.error}\n`);
    return EXIT.usage;
  }
  const logger = createLogger(config.value['log-level'], { component: 'controller' });
  logger.info({ version: buildInfo.version, revision: buildInfo.revision }, 'starting');
  try {
    await runUntilSignalled(
      () =>
        runController(config.value, {
          logger,
          kubeConfig: loadKubeConfig(config.value.kubeconfig),
        }),
      logger,
    );
  } catch (error) {
    logger.error({ err: String(error) }, 'the controller cannot start');
    io.stderr(`pullwatch controller: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

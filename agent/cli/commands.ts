// The `pullwatch` commands: dispatches to one module per subcommand. agent/cli.ts, the binary,
// loads this module once it has checked the Node.js version.
import type { CommandIo } from './io.ts';
import { EXIT, processIo, UsageError } from './io.ts';
import { buildInfo } from '../version.ts';

const usage = `pullwatch: finds private images that one tenant pulled and another runs from a node's cache.

Usage: pullwatch <command> [flags]

Commands:
  run         the node agent (DaemonSet): detect, serve the HTTP API and /metrics
  controller  the cluster side (Deployment): brokers pull secrets and registry answers
  scan        one snapshot of this node's findings (--once), for cron jobs, CI and SREs
  images      list the node's image cache as the container runtime sees it
  version     print the version

Run 'pullwatch <command> --help' for a command's flags.
`;

type Command = (argv: readonly string[], io: CommandIo) => Promise<number>;

interface CommandModule {
  readonly run: Command;
  readonly usage: string;
}

// A command's module is loaded only when that command runs: the DaemonSet's `run` then carries
// none of the other commands' code (each module loaded stays in memory for the life of the
// agent).
const commands = new Map<string, () => Promise<CommandModule>>([
  [
    'run',
    async () => {
      const m = await import('./run-command.ts');
      return { run: m.runCommand, usage: m.runUsage };
    },
  ],
  [
    'controller',
    async () => {
      const m = await import('./controller-command.ts');
      return { run: m.controllerCommand, usage: m.controllerUsage };
    },
  ],
  [
    'scan',
    async () => {
      const m = await import('./scan-command.ts');
      return { run: m.scanCommand, usage: m.scanUsage };
    },
  ],
  [
    'images',
    async () => {
      const m = await import('./images-command.ts');
      return { run: m.imagesCommand, usage: m.imagesUsage };
    },
  ],
  [
    'version',
    () =>
      Promise.resolve({
        run: (_argv, io) => {
          io.stdout(
            `pullwatch ${buildInfo.version} (revision ${buildInfo.revision}, Node.js ${buildInfo.nodejsVersion})\n`,
          );
          return Promise.resolve(EXIT.ok);
        },
        usage: 'Usage: pullwatch version\n',
      }),
  ],
]);

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(usage);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = commands.get(name);
  if (load === undefined) {
    io.stderr(`pullwatch: unknown command "${name}"\n\n${usage}`);
    return EXIT.usage;
  }
  const command = await load();
  try {
    return await command.run(rest, io);
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed flags.
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof UsageError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      io.stderr(`pullwatch ${name}: ${(error as Error).message}\n\n${command.usage}`);
      return EXIT.usage;
    }
    throw error;
  }
}

/** The binary's process: runs the command named by `argv` and sets the exit code. */
export async function runProcess(argv: readonly string[]): Promise<void> {
  const code = await main(argv, processIo);
  // Long-running commands exit as soon as they have shut down cleanly, whatever library
  // handle (a keep-alive socket, a watch) is still being torn down.
  if (argv[0] === 'run' || argv[0] === 'controller' || argv[0] === 'scan') process.exit(code);
  process.exitCode = code;
}

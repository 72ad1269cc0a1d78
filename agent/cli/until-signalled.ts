// The life of a long-running command (`run`, `controller`): start, wait for SIGTERM or SIGINT,
// stop within a bounded time.
import type { Logger } from '../log.ts';
import { EXIT } from './io.ts';

/** How long stop() may take before the process exits anyway (the pod's grace period is 30 s). */
const STOP_DEADLINE_MS = 8000;

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Starts, then stops on the first SIGTERM/SIGINT. The signal handlers are installed before
 * starting: a SIGTERM during start-up must not be lost (Node as PID 1 in a container has no
 * default handler, so an unhandled one would be ignored). A failed start rejects, as start does.
 */
export async function runUntilSignalled(
  start: () => Promise<Stoppable>,
  logger: Logger,
): Promise<void> {
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => {
      resolve('SIGTERM');
    });
    process.once('SIGINT', () => {
      resolve('SIGINT');
    });
  });
  const running = await start();
  const signal = await signalled;
  logger.info({ signal }, 'stopping');
  // Not unref'd: the deadline also keeps the process alive while stop() waits on timers that
  // are (a retry's backoff, a poll): with nothing else ref'd the loop would empty under the
  // pending stop and Node would exit 13 (unsettled top-level await) instead of 0.
  const forced = setTimeout(() => {
    logger.error(`shutdown took longer than ${STOP_DEADLINE_MS / 1000} s; exiting anyway`);
    process.exit(EXIT.failure);
  }, STOP_DEADLINE_MS);
  await running.stop();
  clearTimeout(forced);
  logger.info('stopped');
}

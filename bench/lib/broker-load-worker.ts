// The worker thread that runs the controller benchmark's simulated agents (broker-load.ts):
// one command at a time from the main thread, one report back.
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadCommand, LoadInit, LoadMessage } from './broker-load.ts';
import { BrokerLoad } from './broker-load.ts';

const port = parentPort;
if (port === null) throw new Error('broker-load-worker.ts runs as a worker thread');
const load = new BrokerLoad(workerData as LoadInit);
const send = (message: LoadMessage): void => {
  port.postMessage(message);
};
const log = (line: string): void => {
  send({ type: 'progress', line });
};

port.on('message', (command: LoadCommand) => {
  const run =
    command.type === 'cold' ? load.coldStart(command.capMs, log) : load.steady(command.plan, log);
  run.then(
    (report) => {
      send({ type: 'report', report });
    },
    (error: unknown) => {
      send({
        type: 'failed',
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    },
  );
});

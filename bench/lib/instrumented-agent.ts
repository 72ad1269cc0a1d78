// The agent as `pullwatch run` runs it (loadConfig + runAgent from agent/main.ts), in a child
// process with an IPC channel to the benchmark: the moment a finding is detected or retired
// (taken from the agent's own log line, written synchronously right after the findings store
// changed) on the system-wide monotonic clock, and on request its CPU and memory, after a
// forced GC when started with --expose-gc.
import { readdirSync, writeSync } from 'node:fs';
import v8 from 'node:v8';
import { loadConfig } from '../../agent/config.ts';
import { createLogger } from '../../agent/log.ts';
import { runAgent } from '../../agent/main.ts';

export interface FindingEventMessage {
  readonly type: 'detected' | 'retired';
  readonly rule: string;
  readonly namespace: string | null;
  readonly pod: string | null;
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, the same in every process), as a string. */
  readonly at: string;
}

export interface UsageMessage {
  readonly type: 'usage';
  readonly id: number;
  readonly cpuMicros: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly rss: number;
  readonly external: number;
  /** V8 heap spaces (space_used_size) by name: which part of the heap holds what. */
  readonly spaces: Readonly<Record<string, number>>;
  /** File descriptors open in the agent (sockets included). */
  readonly openFds: number;
  readonly findings: number;
}

export type ChildMessage = FindingEventMessage | UsageMessage | { readonly type: 'ready' };
export interface ParentMessage {
  readonly cmd: 'usage' | 'gc';
  readonly id: number;
}

const config = loadConfig(process.argv.slice(2), process.env);
if (!config.ok) {
  process.stderr.write(`instrumented agent: ${config.error}\n`);
  process.exit(2);
}
const send = (message: ChildMessage): void => {
  process.send?.(message);
};

const destination = {
  write(line: string): void {
    if (line.includes('"finding ')) {
      const at = process.hrtime.bigint().toString();
      const entry = JSON.parse(line) as {
        msg?: string;
        rule?: string;
        namespace?: string | null;
        pod?: string | null;
      };
      if (entry.msg === 'finding detected' || entry.msg === 'finding retired') {
        send({
          type: entry.msg === 'finding detected' ? 'detected' : 'retired',
          rule: entry.rule ?? '',
          namespace: entry.namespace ?? null,
          pod: entry.pod ?? null,
          at,
        });
      }
    }
    writeSync(2, line);
  },
};
const logger = createLogger(
  config.value['log-level'],
  { node: config.value['node-name'] },
  destination,
);
const running = await runAgent(config.value, { logger });

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (message: ParentMessage) => {
  if (message.cmd === 'gc' && gc !== undefined) {
    gc();
    gc();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  send({
    type: 'usage',
    id: message.id,
    cpuMicros: cpu.user + cpu.system,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    rss: memory.rss,
    external: memory.external,
    spaces: Object.fromEntries(
      v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size]),
    ),
    openFds: readdirSync('/proc/self/fd').length,
    findings: running.agent.view.findings().length,
  });
});

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await running.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
// The benchmark went away without stopping us.
process.once('disconnect', () => void stop());
send({ type: 'ready' });

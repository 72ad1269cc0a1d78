// What /api/v1/status says of the agent's writers (README "Reports", "Events on the pod"):
// whether each is on, why it writes nothing (the flag, a node name that cannot be a label
// value, the report CRDs missing), and its last failed write. The writers themselves know only
// their own progress; the choice of mode is the entry point's.
import type { EventWriteError } from '../events/writer.ts';
import type { ReportFlavor } from '../reports/kinds.ts';
import type { ReportsStatus, WriteError } from '../reports/reconciler.ts';

export interface LastErrorJson {
  /** RFC 3339. */
  readonly at: string;
  readonly message: string;
}

export interface ReportsStatusJson {
  readonly mode: ReportFlavor | 'off';
  /** off and node-name-too-long: nothing is written; the others are ReportsStatus['state']. */
  readonly state: 'off' | 'node-name-too-long' | ReportsStatus['state'];
  readonly problem: string | null;
  readonly objects: number;
  readonly pending: number;
  readonly lastError: LastErrorJson | null;
}

export interface EventsStatusJson {
  readonly mode: 'on' | 'off';
  readonly state: 'off' | 'node-name-too-long' | 'writing';
  readonly problem: string | null;
  readonly lastError: LastErrorJson | null;
}

export interface OutputsStatusJson {
  readonly reports: ReportsStatusJson;
  readonly events: EventsStatusJson;
}

function lastErrorJson(error: WriteError | EventWriteError | undefined): LastErrorJson | null {
  return error === undefined
    ? null
    : { at: new Date(error.at).toISOString(), message: error.message };
}

/** A writer at work, or why there is none: its flag is off, or the node's name cannot be a label value. */
export type Writer<T> = T | 'off' | 'node-name-too-long';

const TOO_LONG = 'the node name is longer than 63 characters (no valid label value)';

export function reportsStatusJson(
  mode: ReportFlavor | 'off',
  writer: Writer<{ status(): ReportsStatus }>,
): ReportsStatusJson {
  const idle = { problem: null, objects: 0, pending: 0, lastError: null };
  if (writer === 'off') return { mode, state: 'off', ...idle };
  if (writer === 'node-name-too-long')
    return { mode, state: writer, ...idle, problem: `${TOO_LONG}: no reports are written` };
  const s = writer.status();
  return {
    mode,
    state: s.state,
    problem: s.problem,
    objects: s.objects,
    pending: s.pending,
    lastError: lastErrorJson(s.lastError),
  };
}

export function eventsStatusJson(
  mode: 'on' | 'off',
  writer: Writer<{ lastError(): EventWriteError | undefined }>,
): EventsStatusJson {
  if (writer === 'off') return { mode, state: 'off', problem: null, lastError: null };
  if (writer === 'node-name-too-long')
    return { mode, state: writer, problem: `${TOO_LONG}: no Events are written`, lastError: null };
  return { mode, state: 'writing', problem: null, lastError: lastErrorJson(writer.lastError()) };
}

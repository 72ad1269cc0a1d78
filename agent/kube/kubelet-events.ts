// What the kubelet's `Pulled` events say about a container's image at its start
// (pkg/kubelet/images/image_manager.go). Pure: events in, answers out.
import type { KubeletImageEvent } from '../model/snapshot.ts';
import { timestampMs } from './pod-view.ts';

// The gate-on text extends the gate-off text, so it is tested first.
const MESSAGE_KINDS: readonly (readonly [RegExp, KubeletImageEvent])[] = [
  [
    /^Container image ".*" already present on machine and can be accessed by the pod/s,
    'already-present-verified',
  ],
  [/^Container image ".*" already present on machine/s, 'already-present'],
  [/^Successfully pulled image /, 'pulled'],
];

export function classifyPulledMessage(message: string): KubeletImageEvent | undefined {
  return MESSAGE_KINDS.find(([pattern]) => pattern.test(message))?.[1];
}

/** `spec.containers{name}`, `spec.initContainers{name}`, `spec.ephemeralContainers{name}` -> name. */
export function containerNameFromFieldPath(fieldPath: string): string | undefined {
  const match = /^spec\.(?:containers|initContainers|ephemeralContainers)\{(.+)\}$/.exec(fieldPath);
  return match?.[1];
}

type Fields = Readonly<Record<string, unknown>>;

function fieldsOf(value: unknown): Fields {
  return typeof value === 'object' && value !== null ? (value as Fields) : {};
}

function text(record: Fields, field: string): string {
  const value = record[field];
  return typeof value === 'string' ? value : '';
}

/**
 * The answer per container name from a pod's `Pulled` events (core/v1 Event objects, JSON or
 * client-node models). Only events the kubelet of `nodeName` reported count: the API server
 * has no field selector on the node, and a pod's earlier life on another node is not ours.
 * With several events for a container (restarts), the earliest wins: the first start is the
 * one that found or did not find the image in the cache.
 */
export function kubeletImageEventsOf(
  events: readonly unknown[],
  nodeName: string,
  podUid?: string,
): Map<string, KubeletImageEvent> {
  const earliest = new Map<string, { readonly at: number; readonly kind: KubeletImageEvent }>();
  for (const raw of events) {
    const event = fieldsOf(raw);
    if (text(event, 'reason') !== 'Pulled') continue;
    const host = text(fieldsOf(event['source']), 'host');
    if (host !== nodeName && text(event, 'reportingInstance') !== nodeName) continue;
    const involved = fieldsOf(event['involvedObject']);
    if (podUid !== undefined && text(involved, 'uid') !== podUid) continue;
    const container = containerNameFromFieldPath(text(involved, 'fieldPath'));
    const kind = classifyPulledMessage(text(event, 'message'));
    if (container === undefined || kind === undefined) continue;
    const at =
      timestampMs(event['eventTime']) ??
      timestampMs(event['firstTimestamp']) ??
      timestampMs(fieldsOf(event['metadata'])['creationTimestamp']) ??
      Number.MAX_SAFE_INTEGER;
    const known = earliest.get(container);
    if (known === undefined || at < known.at) earliest.set(container, { at, kind });
  }
  return new Map([...earliest].map(([container, { kind }]) => [container, kind]));
}

// The Warning Event pullwatch writes on a pod newly flagged for running another tenant's private
// image from the node's cache: an events.k8s.io/v1 Event in the pod's namespace, regarding the
// pod's container, so that it shows in `kubectl describe pod` beside the kubelet's own `Pulled`
// and reaches event exporters. The pod's tenant can read it, so it names only what the pod
// itself declares (its container and image) and never who brought the image.
import { createHash } from 'node:crypto';
import type { Finding, UnauthorizedCachedImageUse } from '../detect/finding.ts';

/** The fields of an events.k8s.io/v1 Event that pullwatch sets. */
export interface PodEvent {
  readonly apiVersion: 'events.k8s.io/v1';
  readonly kind: 'Event';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly regarding: {
    readonly apiVersion: 'v1';
    readonly kind: 'Pod';
    readonly namespace: string;
    readonly name: string;
    readonly uid: string;
    readonly fieldPath: string;
  };
  readonly type: 'Warning';
  readonly reason: string;
  readonly action: string;
  readonly reportingController: typeof REPORTING_CONTROLLER;
  readonly reportingInstance: string;
  /** MicroTime: RFC 3339 with exactly six fractional digits. */
  readonly eventTime: string;
  readonly note: string;
  readonly series?: EventSeries;
}

export interface EventSeries {
  /** At least 2: the API server refuses a series of one (validateV1EventSeries). */
  readonly count: number;
  readonly lastObservedTime: string;
}

/** The findings that put an Event on their pod: those about one pod's container. */
export type EventFinding = UnauthorizedCachedImageUse;
export type EventRule = EventFinding['rule'];

/**
 * `reason` is what `kubectl describe pod` shows in its Reason column, next to the kubelet's
 * `Pulled` ("Container image ... already present on machine"): a CamelCase phrase in the
 * kubelet's style that says what is wrong with that pull. `action` is the machine-readable
 * "what the reporter did" of events.k8s.io/v1 (the scheduler writes `Scheduling`, the kubelet
 * `Pulling`); pullwatch only observes, so it detected.
 */
export const EVENT_KINDS: Readonly<Record<EventRule, { reason: string; action: string }>> = {
  'unauthorized-cached-image-use': { reason: 'UnauthorizedCachedImage', action: 'Detected' },
};

/** A qualified name in the `domain/name` form events.k8s.io/v1 asks for. */
export const REPORTING_CONTROLLER = 'pullwatch.dev/agent';

/** events.k8s.io/v1 refuses a longer note (noteLengthLimit, counted in bytes). */
export const MAX_NOTE_BYTES = 1024;

/** Event names are DNS subdomains (metadata.name of events.k8s.io/v1). */
const MAX_NAME_LENGTH = 253;

/**
 * The Event's name: the pod's name, a dot and 16 hex digits, the shape client-go's events
 * recorder gives its Events (`<regarding name>.<hex timestamp>`, tools/events makeEvent). The
 * hex is not a time but a hash of the pod's uid and the finding's id, so an agent restarted
 * without its state names the same Event again and finds it (409 AlreadyExists) instead of
 * writing a second one.
 */
export function eventName(finding: Pick<EventFinding, 'pod' | 'podUid' | 'id'>): string {
  const hex = createHash('sha256')
    .update(`${finding.podUid}\0${finding.id}`)
    .digest('hex')
    .slice(0, 16);
  const room = MAX_NAME_LENGTH - hex.length - 1;
  // A cut pod name must still end a DNS label with a letter or digit.
  const prefix = finding.pod.slice(0, room).replace(/[^a-z0-9]+$/, '');
  return `${prefix === '' ? 'pod' : prefix}.${hex}`;
}

/** Whether the finding is one that puts an Event on its pod. */
export function isEventFinding(finding: Finding): finding is Finding & EventFinding {
  return finding.rule === 'unauthorized-cached-image-use';
}

/** Where the kubelet points its own container Events (kubecontainer.GenerateContainerRef). */
export function containerFieldPath(
  kind: UnauthorizedCachedImageUse['containerKind'],
  container: string,
): string {
  const field = { regular: 'containers', init: 'initContainers', ephemeral: 'ephemeralContainers' };
  return `spec.${field[kind]}{${container}}`;
}

/**
 * MicroTime as the API server writes it (metav1.RFC3339Micro): six fractional digits, UTC.
 * `epochMs` may carry fractions of a millisecond (performance.timeOrigin + performance.now()).
 */
export function microTime(epochMs: number): string {
  const wholeMs = Math.floor(epochMs);
  const micros = Math.min(999, Math.round((epochMs - wholeMs) * 1000));
  const iso = new Date(wholeMs).toISOString(); // 2026-01-02T03:04:05.678Z
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/**
 * What happened and what to do, for the pod's own tenant. It names the pod's container and
 * the image as the pod wrote it, the node (the Event's reportingInstance names it anyway), and
 * says only that the image came with credentials this namespace does not hold: never the owner
 * tenant, its namespace, its secret or its pods.
 */
export function eventNote(finding: EventFinding): string {
  const note =
    `Container ${finding.container} runs ${finding.image} from the image cache of node ${finding.node}. ` +
    `The image is private and was pulled onto the node with credentials this namespace does not hold; ` +
    `the kubelet started it without checking this pod's own credentials. ` +
    `If this namespace is entitled to the image, give the pod its own imagePullSecret for ${finding.registry}; ` +
    `otherwise stop using the image. Cluster admins: enable AlwaysPullImages or the kubelet's ` +
    `imagePullCredentialsVerificationPolicy: AlwaysVerify. pullwatch finding ${finding.id}.`;
  return truncateUtf8(note, MAX_NOTE_BYTES);
}

/** At most `maxBytes` of UTF-8, cut at a character boundary and marked with an ellipsis. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = '…';
  let room = maxBytes - Buffer.byteLength(ellipsis);
  let out = '';
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (size > room) break;
    out += char;
    room -= size;
  }
  return out + ellipsis;
}

/** The Event for a finding newly raised at `at` (ms since the epoch) on node `node`. */
export function podEvent(finding: EventFinding, at: number): PodEvent {
  const { reason, action } = EVENT_KINDS[finding.rule];
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: eventName(finding), namespace: finding.namespace },
    regarding: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: finding.namespace,
      name: finding.pod,
      uid: finding.podUid,
      fieldPath: containerFieldPath(finding.containerKind, finding.container),
    },
    type: 'Warning',
    reason,
    action,
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: finding.node,
    eventTime: microTime(at),
    note: eventNote(finding),
  };
}

/**
 * Whether the node's name can go into the `pullwatch.dev/node` label that issue 13's admission
 * policy checks writes against: a label value has at most 63 characters. A node whose name
 * is longer gets no reports and no Events.
 */
export function canReportFrom(node: string): boolean {
  return node.length <= 63;
}

// Pods as the API server holds them while a kubelet works on them: the demo and the tests
// play the kubelet's part with these (create a pending pod, pull, then mark it running).

export interface PodSpecOptions {
  readonly node: string;
  readonly image: string;
  readonly pullSecrets?: readonly string[];
  /** Written into the spec; omit to let the API server default it. */
  readonly pullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  readonly container?: string;
}

/** A pod scheduled to `node` whose container is being created (the kubelet may be pulling). */
export function pendingPod(
  namespace: string,
  name: string,
  o: PodSpecOptions,
): Record<string, unknown> {
  const container = o.container ?? 'app';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: {
      nodeName: o.node,
      imagePullSecrets: (o.pullSecrets ?? []).map((n) => ({ name: n })),
      containers: [
        {
          name: container,
          image: o.image,
          ...(o.pullPolicy === undefined ? {} : { imagePullPolicy: o.pullPolicy }),
        },
      ],
    },
    status: {
      phase: 'Pending',
      containerStatuses: [
        {
          name: container,
          image: o.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
}

/** A store.modify() change: every container started from the image `statusImageId` names. */
export function markRunning(statusImageId: string, startedAt = new Date()) {
  return <T extends object>(pod: T): T => {
    const status = (
      pod as { status?: { phase?: string; containerStatuses?: Record<string, unknown>[] } }
    ).status;
    if (status === undefined) return pod;
    status.phase = 'Running';
    for (const c of status.containerStatuses ?? []) {
      c.imageID = statusImageId;
      c.ready = true;
      c.state = { running: { startedAt: startedAt.toISOString() } };
    }
    return pod;
  };
}

/** A `kubernetes.io/dockerconfigjson` Secret for one registry. */
export function dockerConfigSecret(
  namespace: string,
  name: string,
  registry: string,
  credentials: { readonly username: string; readonly password: string },
): {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { namespace: string; name: string };
  type: 'kubernetes.io/dockerconfigjson';
  data: { '.dockerconfigjson': string };
} {
  const config = {
    auths: { [registry]: { username: credentials.username, password: credentials.password } },
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace, name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') },
  };
}

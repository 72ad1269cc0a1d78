// What the real API server does to a pod on its way into storage that pullwatch's
// logic depends on: imagePullPolicy defaulting (pkg/apis/core/v1/defaults.go), the
// ServiceAccount admission plugin copying the account's imagePullSecrets, and the
// optional AlwaysPullImages admission plugin.

import type { KubeObject } from './objects.ts';
import { isRecord } from './objects.ts';

const containerLists = ['initContainers', 'containers', 'ephemeralContainers'] as const;

function mapContainers(
  pod: KubeObject,
  fn: (container: Record<string, unknown>) => Record<string, unknown>,
): KubeObject {
  const spec = pod['spec'];
  if (!isRecord(spec)) return pod;
  const newSpec: Record<string, unknown> = { ...spec };
  for (const list of containerLists) {
    const containers = spec[list];
    if (Array.isArray(containers)) {
      newSpec[list] = containers.map((c: unknown) => (isRecord(c) ? fn(c) : c));
    }
  }
  return { ...pod, spec: newSpec };
}

/** `Always` for `:latest` or no tag (and no digest), otherwise `IfNotPresent`. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastComponent = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastComponent.lastIndexOf(':');
  const tag = colon < 0 ? '' : lastComponent.slice(colon + 1);
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

export function defaultPod(pod: KubeObject): KubeObject {
  return mapContainers(pod, (c) => {
    const policy = c['imagePullPolicy'];
    if (typeof policy === 'string' && policy !== '') return c;
    const image = typeof c['image'] === 'string' ? c['image'] : '';
    return { ...c, imagePullPolicy: defaultPullPolicy(image) };
  });
}

export function alwaysPullImages(pod: KubeObject): KubeObject {
  return mapContainers(pod, (c) => ({ ...c, imagePullPolicy: 'Always' }));
}

export function serviceAccountNameOf(pod: KubeObject): string {
  const spec = pod['spec'];
  if (!isRecord(spec)) return 'default';
  const name = spec['serviceAccountName'] ?? spec['serviceAccount'];
  return typeof name === 'string' && name !== '' ? name : 'default';
}

/**
 * On create only: names the service account and, when the pod lists no pull
 * secrets, copies the account's (plugin/pkg/admission/serviceaccount).
 */
export function admitServiceAccount(
  pod: KubeObject,
  serviceAccount: KubeObject | undefined,
): KubeObject {
  const spec = isRecord(pod['spec']) ? pod['spec'] : {};
  const name = serviceAccountNameOf(pod);
  const newSpec: Record<string, unknown> = {
    ...spec,
    serviceAccountName: name,
    serviceAccount: name,
  };
  const own = spec['imagePullSecrets'];
  const inherited = serviceAccount?.['imagePullSecrets'];
  const hasOwn = Array.isArray(own) && own.length > 0;
  if (!hasOwn && Array.isArray(inherited) && inherited.length > 0) {
    newSpec['imagePullSecrets'] = structuredClone(inherited);
  }
  return { ...pod, spec: newSpec };
}

import { stat } from 'node:fs/promises';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

// Sockets the kubelet's runtimes listen on by default, in the order we probe them.
// Mirrors the defaults of crictl and the distributions' packaging (see README "Runtimes").
export const WELL_KNOWN_CRI_SOCKETS: readonly {
  readonly runtime: string;
  readonly path: string;
}[] = [
  { runtime: 'containerd', path: '/run/containerd/containerd.sock' },
  { runtime: 'k3s/RKE2 containerd', path: '/run/k3s/containerd/containerd.sock' },
  { runtime: 'MicroK8s containerd', path: '/var/snap/microk8s/common/run/containerd.sock' },
  { runtime: 'CRI-O', path: '/var/run/crio/crio.sock' },
  { runtime: 'cri-dockerd', path: '/var/run/cri-dockerd.sock' },
];

/** A unix socket path, normalized from `unix:///p`, `unix:/p` or `/p`. */
export interface CriEndpoint {
  readonly socketPath: string;
  /** The form grpc-js dials: `unix:///abs/path`. */
  readonly target: string;
}

export type EndpointError =
  | { readonly kind: 'unsupported-scheme'; readonly message: string }
  | { readonly kind: 'not-found'; readonly message: string }
  | { readonly kind: 'not-a-socket'; readonly message: string };

export function parseCriEndpoint(input: string): Result<CriEndpoint, EndpointError> {
  const trimmed = input.trim();
  let path: string;
  if (trimmed.startsWith('unix://')) path = trimmed.slice('unix://'.length);
  else if (trimmed.startsWith('unix:')) path = trimmed.slice('unix:'.length);
  else if (trimmed.startsWith('/')) path = trimmed;
  else {
    // The kubelet also accepts npipe:// (Windows) and tcp://; pullwatch reads Linux nodes only.
    return err({
      kind: 'unsupported-scheme',
      message: `CRI endpoint "${input}" is not a unix socket: use unix:///path/to/runtime.sock or an absolute path`,
    });
  }
  if (!path.startsWith('/')) {
    return err({
      kind: 'unsupported-scheme',
      message: `CRI endpoint "${input}" must be an absolute socket path (unix:///path/to/runtime.sock)`,
    });
  }
  return ok({ socketPath: path, target: `unix://${path}` });
}

export type SocketKind = 'socket' | 'other' | 'missing';

export async function statSocket(path: string): Promise<SocketKind> {
  try {
    return (await stat(path)).isSocket() ? 'socket' : 'other';
  } catch {
    return 'missing';
  }
}

/**
 * The endpoint to use: the configured one (flag or env) if given, else the first
 * well-known socket that exists on this node.
 */
export async function resolveCriEndpoint(
  configured: string | undefined,
  probe: (path: string) => Promise<SocketKind> = statSocket,
  candidates = WELL_KNOWN_CRI_SOCKETS,
): Promise<Result<CriEndpoint, EndpointError>> {
  if (configured !== undefined && configured !== '') {
    const parsed = parseCriEndpoint(configured);
    if (!parsed.ok) return parsed;
    const kind = await probe(parsed.value.socketPath);
    if (kind === 'missing') {
      return err({
        kind: 'not-found',
        message: `CRI socket ${parsed.value.socketPath} does not exist: is the runtime running, and is its directory mounted into the agent?`,
      });
    }
    if (kind === 'other') {
      return err({
        kind: 'not-a-socket',
        message: `${parsed.value.socketPath} exists but is not a unix socket: point --cri-endpoint at the runtime's socket`,
      });
    }
    return parsed;
  }
  for (const candidate of candidates) {
    if ((await probe(candidate.path)) === 'socket') {
      return ok({ socketPath: candidate.path, target: `unix://${candidate.path}` });
    }
  }
  const tried = candidates.map((c) => `${c.path} (${c.runtime})`).join(', ');
  return err({
    kind: 'not-found',
    message: `no container runtime socket found; tried ${tried}. Set --cri-endpoint (or PULLWATCH_CRI_ENDPOINT) to your runtime's socket.`,
  });
}

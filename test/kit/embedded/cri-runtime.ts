// A container runtime in the agent's own process, serving the read-only CRI subset from
// memory over a real gRPC unix socket. It backs `npm run demo`, benchmarks at cache sizes a
// test containerd cannot hold, and tests of the CLI; the real containerd backs integration tests.
import * as grpc from '@grpc/grpc-js';
import { loadCriServices } from '../../../agent/cri/proto.ts';
import type { CriContainer, CriImage, CriPodSandbox } from '../../../agent/cri/types.ts';
import { Inventory } from '../../../agent/image/inventory.ts';

export interface EmbeddedRuntimeContents {
  readonly images: readonly CriImage[];
  readonly sandboxes?: readonly CriPodSandbox[];
  readonly containers?: readonly CriContainer[];
}

export interface EmbeddedCriRuntime {
  /** `unix:///...`, what --cri-endpoint takes. */
  readonly target: string;
  /** Replaces what the runtime holds (a pull, a removal, a garbage collection). */
  setContents(contents: EmbeddedRuntimeContents): void;
  contents(): EmbeddedRuntimeContents;
  stop(): Promise<void>;
}

type Handler = (request: Record<string, unknown>) => unknown;

const containerStateNames = {
  created: 'CONTAINER_CREATED',
  running: 'CONTAINER_RUNNING',
  exited: 'CONTAINER_EXITED',
  unknown: 'CONTAINER_UNKNOWN',
} as const;

function imageToWire(image: CriImage): Record<string, unknown> {
  return {
    id: image.id,
    repoTags: image.repoTags,
    repoDigests: image.repoDigests,
    size: image.sizeBytes.toString(),
    pinned: image.pinned,
  };
}

function sandboxToWire(s: CriPodSandbox): Record<string, unknown> {
  return {
    id: s.id,
    metadata: { name: s.pod.name, namespace: s.pod.namespace, uid: s.pod.uid, attempt: s.attempt },
    state: s.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    createdAt: s.createdAtNs.toString(),
    labels: s.labels,
  };
}

function containerToWire(c: CriContainer): Record<string, unknown> {
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    metadata: { name: c.name, attempt: c.attempt },
    image: { image: c.image },
    imageRef: c.imageRef,
    imageId: c.imageRef,
    state: containerStateNames[c.state],
    createdAt: c.createdAtNs.toString(),
    labels: c.labels,
  };
}

export async function startEmbeddedCriRuntime(
  socketPath: string,
  initial: EmbeddedRuntimeContents,
  identity = { runtimeName: 'pullwatch-embedded', runtimeVersion: '0.1.0' },
): Promise<EmbeddedCriRuntime> {
  let contents = initial;
  let inventory = new Inventory(initial.images);
  const services = loadCriServices('v1');

  const imageAnswer = (image: string): Record<string, unknown> | null => {
    const presence = inventory.resolvePresent(image);
    if (!presence.present) return null;
    const listed = contents.images.find((i) => i.id === presence.image.id);
    return listed === undefined ? null : imageToWire(listed);
  };

  const handlers: Record<string, Record<string, Handler>> = {
    RuntimeService: {
      Version: () => ({
        version: '0.1.0',
        runtimeName: identity.runtimeName,
        runtimeVersion: identity.runtimeVersion,
        runtimeApiVersion: 'v1',
      }),
      ListPodSandbox: () => ({ items: (contents.sandboxes ?? []).map(sandboxToWire) }),
      ListContainers: () => ({ containers: (contents.containers ?? []).map(containerToWire) }),
      ContainerStatus: (request) => {
        const found = (contents.containers ?? []).find((c) => c.id === request.containerId);
        if (found === undefined) {
          throw Object.assign(new Error(`container "${String(request.containerId)}" not found`), {
            code: grpc.status.NOT_FOUND,
          });
        }
        return { status: containerToWire(found) };
      },
    },
    ImageService: {
      ListImages: (request) => {
        const filter = (request.filter as { image?: { image?: string } } | null)?.image?.image;
        if (filter !== undefined && filter !== '') {
          const one = imageAnswer(filter);
          return { images: one === null ? [] : [one] };
        }
        return { images: contents.images.map(imageToWire) };
      },
      ImageStatus: (request) => {
        const spec = request.image as { image?: string } | null;
        return { image: imageAnswer(spec?.image ?? '') };
      },
      ImageFsInfo: () => ({
        imageFilesystems: [
          {
            timestamp: (BigInt(Date.now()) * 1_000_000n).toString(),
            fsId: { mountpoint: '/var/lib/pullwatch-embedded/images' },
            usedBytes: { value: inventory.totalBytes.toString() },
            inodesUsed: { value: String(inventory.size) },
          },
        ],
      }),
    },
  };

  const server = new grpc.Server();
  for (const [name, ctor] of Object.entries(services)) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(handlers[name] ?? {})) {
      implementation[method] = (
        call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        try {
          callback(null, handler(call.request));
        } catch (error) {
          callback(error as grpc.ServiceError);
        }
      };
    }
    server.addService(ctor.service, implementation);
  }
  const target = `unix://${socketPath}`;
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error) => {
      if (error) reject(error);
      else resolve();
    });
  });

  return {
    target,
    setContents(next) {
      contents = next;
      inventory = new Inventory(next.images);
    },
    contents: () => contents,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
      }),
  };
}

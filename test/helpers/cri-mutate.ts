// The mutating CRI calls the harness needs to fill an image cache like the
// kubelet does (PullImage with the pod's credentials, RemoveImage), plus
// RuntimeService.Version for readiness. TEST-ONLY: the agent never pulls or
// removes; it has its own read-only client.
//
// Loaded from test/fixtures/cri-test-only.proto with keepCase: false, so fields
// are camelCase here (imageRef, serverAddress, runtimeApiVersion).

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const CRI_TEST_PROTO = fileURLToPath(
  new URL('../fixtures/cri-test-only.proto', import.meta.url),
);

/** What the kubelet uses: large image lists exceed grpc-js's 4 MiB default. */
export const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
};

const definition = protoLoader.loadSync(CRI_TEST_PROTO, {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

type Method = protoLoader.MethodDefinition<object, object>;

function method(service: 'RuntimeService' | 'ImageService', name: string): Method {
  const svc = definition[`runtime.v1.${service}`];
  if (svc === undefined || 'format' in svc) throw new Error(`no service runtime.v1.${service}`);
  const m = svc[name];
  if (m === undefined) throw new Error(`no method runtime.v1.${service}/${name}`);
  return m;
}

/** `unix:///run/x.sock` or a bare absolute path -> a grpc-js target. */
export function criTarget(socket: string): string {
  return socket.startsWith('unix:') ? socket : `unix://${socket}`;
}

async function unary(
  socket: string,
  service: 'RuntimeService' | 'ImageService',
  name: string,
  request: object,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const m = method(service, name);
  const client = new grpc.Client(
    criTarget(socket),
    grpc.credentials.createInsecure(),
    CHANNEL_OPTIONS,
  );
  try {
    return await new Promise<Record<string, unknown>>((resolve, reject) => {
      client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(err);
          else resolve((value ?? {}) as Record<string, unknown>);
        },
      );
    });
  } finally {
    client.close();
  }
}

function stringField(response: Record<string, unknown>, field: string): string {
  const v = response[field];
  if (typeof v !== 'string') throw new Error(`CRI response field ${field} is not a string`);
  return v;
}

export interface CriVersion {
  readonly version: string;
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly runtimeApiVersion: string;
}

/** RuntimeService.Version on runtime.v1. */
export async function criVersion(socket: string, timeoutMs = 2000): Promise<CriVersion> {
  const r = await unary(socket, 'RuntimeService', 'Version', { version: 'v1' }, timeoutMs);
  return {
    version: stringField(r, 'version'),
    runtimeName: stringField(r, 'runtimeName'),
    runtimeVersion: stringField(r, 'runtimeVersion'),
    runtimeApiVersion: stringField(r, 'runtimeApiVersion'),
  };
}

export interface PullAuth {
  readonly username: string;
  readonly password: string;
  /**
   * Optional. containerd 1.6.20 parses it as a URL: `http://HOST:PORT` works,
   * another host drops the credentials (-> 401), a bare `HOST:PORT` fails the pull.
   */
  readonly serverAddress?: string;
}

export interface CallOptions {
  readonly timeoutMs?: number;
}

/**
 * ImageService.PullImage: returns `image_ref` (containerd: the config digest,
 * i.e. the image ID). Rejects with the grpc-js ServiceError (`code`, `details`);
 * an anonymous pull from an auth-only registry fails with a message that
 * contains `401 Unauthorized`.
 */
export async function pullImage(
  socket: string,
  image: string,
  auth?: PullAuth,
  options: CallOptions = {},
): Promise<string> {
  const request = {
    image: { image },
    ...(auth === undefined
      ? {}
      : {
          auth: {
            username: auth.username,
            password: auth.password,
            ...(auth.serverAddress === undefined ? {} : { serverAddress: auth.serverAddress }),
          },
        }),
  };
  const r = await unary(socket, 'ImageService', 'PullImage', request, options.timeoutMs ?? 60_000);
  return stringField(r, 'imageRef');
}

/** ImageService.RemoveImage (idempotent in containerd: absent is not an error). */
export async function removeImage(
  socket: string,
  image: string,
  options: CallOptions = {},
): Promise<void> {
  await unary(
    socket,
    'ImageService',
    'RemoveImage',
    { image: { image } },
    options.timeoutMs ?? 30_000,
  );
}

/**
 * ImageService.ImageStatus: the runtime's own answer to "is this image present?", the check the
 * kubelet makes before it starts a container. The image ID, or undefined when absent.
 */
export async function imageStatusId(
  socket: string,
  image: string,
  options: CallOptions = {},
): Promise<string | undefined> {
  const r = await unary(
    socket,
    'ImageService',
    'ImageStatus',
    { image: { image } },
    options.timeoutMs ?? 10_000,
  );
  const found = (r as { image?: { id?: unknown } | null }).image;
  return typeof found?.id === 'string' && found.id !== '' ? found.id : undefined;
}

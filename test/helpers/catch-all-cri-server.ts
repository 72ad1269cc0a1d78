import * as grpc from '@grpc/grpc-js';
import { UPSTREAM_CRI_METHODS } from './cri-upstream-methods.ts';

export interface CatchAllCriServer {
  readonly target: string;
  /** gRPC paths called, in order, e.g. `/runtime.v1.ImageService/ListImages`. */
  readonly calls: string[];
  stop(): Promise<void>;
}

const passThrough = (b: Buffer): Buffer => b;

/**
 * A runtime that implements every upstream CRI method of v1 and v1alpha2 and answers each
 * with an empty message (valid protobuf: all defaults), recording what was called.
 * Versions in `unimplemented` answer UNIMPLEMENTED, like a runtime that lacks them.
 */
export async function startCatchAllCriServer(
  socketPath: string,
  unimplemented: readonly string[] = [],
): Promise<CatchAllCriServer> {
  const calls: string[] = [];
  const server = new grpc.Server();
  for (const version of ['v1', 'v1alpha2']) {
    for (const [service, methods] of Object.entries(UPSTREAM_CRI_METHODS)) {
      const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
      const implementation: grpc.UntypedServiceImplementation = {};
      for (const method of methods) {
        const path = `/runtime.${version}.${service}/${method}`;
        definition[method] = {
          path,
          requestStream: false,
          responseStream: false,
          requestSerialize: passThrough,
          requestDeserialize: passThrough,
          responseSerialize: passThrough,
          responseDeserialize: passThrough,
        };
        implementation[method] = (
          _call: grpc.ServerUnaryCall<Buffer, Buffer>,
          callback: grpc.sendUnaryData<Buffer>,
        ) => {
          calls.push(path);
          if (unimplemented.includes(version)) {
            callback({
              code: grpc.status.UNIMPLEMENTED,
              details: `unknown service runtime.${version}`,
            });
          } else {
            callback(null, Buffer.alloc(0));
          }
        };
      }
      server.addService(definition, implementation);
    }
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
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
      }),
  };
}

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const CRI_API_VERSIONS = ['v1', 'v1alpha2'] as const;
export type CriApiVersion = (typeof CRI_API_VERSIONS)[number];

/**
 * Every CRI method the agent may call. All are reads. The stubs are built from
 * proto/ (which declares nothing else) and loadCriServices refuses any method
 * outside this list, so a mutating call cannot be written by mistake.
 */
export const READ_ONLY_CRI_METHODS = {
  RuntimeService: ['Version', 'ListPodSandbox', 'ListContainers', 'ContainerStatus'],
  ImageService: ['ListImages', 'ImageStatus', 'ImageFsInfo'],
} as const;

export type CriServiceName = keyof typeof READ_ONLY_CRI_METHODS;

// proto/ sits at the package root: two levels up from the sources (agent/cri/), three from
// the build (dist/agent/cri/).
const protoRoot =
  ['../../proto/', '../../../proto/']
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .find((dir) => existsSync(`${dir}runtime/v1/api.proto`)) ??
  fileURLToPath(new URL('../../proto/', import.meta.url));

// longs as strings: Image.size is a uint64 and must not be rounded through a double.
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [protoRoot],
};

export type ServiceDefinitions = Record<CriServiceName, grpc.ServiceClientConstructor>;

export function protoFileFor(version: CriApiVersion): string {
  return `runtime/${version}/api.proto`;
}

export function loadCriServices(version: CriApiVersion): ServiceDefinitions {
  const definition = protoLoader.loadSync(protoFileFor(version), PROTO_LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition);
  const pkg = (loaded.runtime as grpc.GrpcObject | undefined)?.[version] as
    grpc.GrpcObject | undefined;
  if (pkg === undefined) throw new Error(`proto ${protoFileFor(version)} lacks runtime.${version}`);
  const services = {} as ServiceDefinitions;
  for (const name of Object.keys(READ_ONLY_CRI_METHODS) as CriServiceName[]) {
    const ctor = pkg[name] as grpc.ServiceClientConstructor | undefined;
    if (ctor === undefined) throw new Error(`proto runtime.${version} lacks service ${name}`);
    assertReadOnly(
      name,
      Object.values(ctor.service).map((m) => methodNameOfPath(m.path)),
    );
    services[name] = ctor;
  }
  return services;
}

/** Throws (a bug, not an input error) if a service declares a method outside the read-only list. */
export function assertReadOnly(service: CriServiceName, methods: readonly string[]): void {
  const allowed: readonly string[] = READ_ONLY_CRI_METHODS[service];
  const extra = methods.filter((m) => !allowed.includes(m));
  if (extra.length > 0) {
    throw new Error(
      `CRI ${service} declares methods outside the read-only list: ${extra.join(', ')}`,
    );
  }
}

/** `/runtime.v1.ImageService/ListImages` -> `ListImages`. */
export function methodNameOfPath(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

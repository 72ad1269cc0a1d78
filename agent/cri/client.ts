import * as grpc from '@grpc/grpc-js';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import { convertImage, convertList } from './convert.ts';
import type { CriEndpoint } from './endpoint.ts';
import type { CriError } from './errors.ts';
import { criErrorFromGrpc } from './errors.ts';
import type { CriApiVersion, CriServiceName, ServiceDefinitions } from './proto.ts';
import { CRI_API_VERSIONS, loadCriServices } from './proto.ts';
import { RepeatCheck } from './repeat-check.ts';
import type { CriImage, Listing, RuntimeVersion } from './types.ts';

/**
 * Everything pullwatch asks the container runtime: its version and its image list (pods come
 * from the API server). Read-only by construction: there is no method here, nor in the stubs
 * behind it, that changes the node.
 */
export interface CriReader {
  readonly endpoint: string;
  /** `timeoutMs`: a shorter deadline than the client's, e.g. to check that the runtime answers. */
  version(options?: { readonly timeoutMs?: number }): Promise<Result<RuntimeVersion, CriError>>;
  listImages(): Promise<Result<Listing<CriImage>, CriError>>;
  /**
   * Calls `listener(false)` each time the connection to the runtime drops (the runtime stopped,
   * crashed or restarted), at once, without waiting for a call to fail, and `listener(true)`
   * each time it is established. Sends nothing to the runtime. Returns a function that stops
   * the calls. Optional: readers without a connection of their own (fakes, benchmarks) leave
   * it out.
   */
  onConnectionChange?(listener: (connected: boolean) => void): () => void;
  close(): void;
}

export interface CriClientOptions {
  /** Deadline for small calls (Version, ImageStatus, ContainerStatus). */
  readonly callTimeoutMs?: number;
  /** Deadline for list calls, which grow with the cache. */
  readonly listTimeoutMs?: number;
  /** Reconnect backoff ceiling after the runtime goes away (grpc-js's default is 120 s). */
  readonly maxReconnectBackoffMs?: number;
}

// The kubelet's own limit for CRI responses (pkg/kubelet/cri/remote: maxMsgSize).
export const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

// What the kubelet sends as its CRI API version in VersionRequest.
const KUBELET_API_VERSION = '0.1.0';

type Stubs = Record<CriServiceName, grpc.Client>;

/** How a response is read: decoded into a plain object, or left as the bytes received. */
type ResponseForm = 'decoded' | 'bytes';
const keepBytes = (bytes: Buffer): Buffer => bytes;

// proto files are parsed once per process, whichever number of clients are made.
const definitionsCache = new Map<CriApiVersion, ServiceDefinitions>();
function definitionsFor(version: CriApiVersion): ServiceDefinitions {
  let defs = definitionsCache.get(version);
  if (defs === undefined) {
    defs = loadCriServices(version);
    definitionsCache.set(version, defs);
  }
  return defs;
}

export function connectCri(endpoint: CriEndpoint, options: CriClientOptions = {}): CriReader {
  return new GrpcCriReader(endpoint, options);
}

class GrpcCriReader implements CriReader {
  readonly endpoint: string;
  readonly #channel: grpc.Channel;
  readonly #stubs = new Map<CriApiVersion, Stubs>();
  readonly #callTimeoutMs: number;
  readonly #listTimeoutMs: number;
  #api: CriApiVersion | undefined;
  #closed = false;
  /** The last image listing, handed out again while the runtime answers with the same bytes. */
  #lastImages: { api: CriApiVersion; listing: Listing<CriImage> } | undefined;
  readonly #imagesRepeat = new RepeatCheck();

  constructor(endpoint: CriEndpoint, options: CriClientOptions) {
    this.endpoint = endpoint.target;
    this.#callTimeoutMs = options.callTimeoutMs ?? 5_000;
    this.#listTimeoutMs = options.listTimeoutMs ?? 30_000;
    this.#channel = new grpc.Channel(endpoint.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': options.maxReconnectBackoffMs ?? 2_000,
    });
  }

  #stubsFor(version: CriApiVersion): Stubs {
    let stubs = this.#stubs.get(version);
    if (stubs === undefined) {
      const defs = definitionsFor(version);
      const make = (ctor: grpc.ServiceClientConstructor): grpc.Client =>
        new ctor(this.endpoint, grpc.credentials.createInsecure(), {
          channelOverride: this.#channel,
        });
      stubs = { RuntimeService: make(defs.RuntimeService), ImageService: make(defs.ImageService) };
      this.#stubs.set(version, stubs);
    }
    return stubs;
  }

  #unary(
    version: CriApiVersion,
    service: CriServiceName,
    method: string,
    request: object,
    timeoutMs: number,
    form: ResponseForm = 'decoded',
  ): Promise<Result<unknown, CriError>> {
    if (this.#closed) {
      return Promise.resolve(
        err({ kind: 'unavailable', endpoint: this.endpoint, method, message: 'client closed' }),
      );
    }
    // Only methods of the read-only definitions (loadCriServices refuses any other) can be called.
    const definition = definitionsFor(version)[service].service[method];
    if (definition === undefined) throw new Error(`no read-only CRI method ${service}.${method}`);
    return new Promise((resolve) => {
      this.#stubsFor(version)[service].makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        form === 'bytes' ? keepBytes : definition.responseDeserialize,
        request,
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, response?: unknown) => {
          if (error) resolve(err(criErrorFromGrpc(this.endpoint, method, error)));
          else resolve(ok(response));
        },
      );
    });
  }

  /** Probes v1 first, then v1alpha2, as the kubelet does; remembers the answer until it fails. */
  async #negotiate(
    timeoutMs = this.#callTimeoutMs,
  ): Promise<Result<{ api: CriApiVersion; raw: unknown }, CriError>> {
    let last: CriError | undefined;
    for (const api of CRI_API_VERSIONS) {
      const answer = await this.#unary(
        api,
        'RuntimeService',
        'Version',
        { version: KUBELET_API_VERSION },
        timeoutMs,
      );
      if (answer.ok) {
        this.#api = api;
        return ok({ api, raw: answer.value });
      }
      last = answer.error;
      if (answer.error.kind !== 'unimplemented') return answer;
    }
    return err(
      last ?? {
        kind: 'unimplemented',
        endpoint: this.endpoint,
        method: 'Version',
        message: 'no CRI version',
      },
    );
  }

  async #call(
    service: CriServiceName,
    method: string,
    request: object,
    timeoutMs: number,
    form: ResponseForm = 'decoded',
  ): Promise<Result<{ api: CriApiVersion; response: unknown }, CriError>> {
    let api = this.#api;
    if (api === undefined) {
      const negotiated = await this.#negotiate();
      if (!negotiated.ok) return negotiated;
      api = negotiated.value.api;
    }
    const answer = await this.#unary(api, service, method, request, timeoutMs, form);
    if (answer.ok) return ok({ api, response: answer.value });
    // A runtime replaced by another version answers UNIMPLEMENTED: probe again next time.
    if (answer.error.kind === 'unimplemented') this.#api = undefined;
    return answer;
  }

  #invalid(method: string, message: string): Result<never, CriError> {
    return err({ kind: 'invalid-response', endpoint: this.endpoint, method, message });
  }

  async version(
    options: { readonly timeoutMs?: number } = {},
  ): Promise<Result<RuntimeVersion, CriError>> {
    const negotiated = await this.#negotiate(options.timeoutMs);
    if (!negotiated.ok) return negotiated;
    const raw = (negotiated.value.raw ?? {}) as Record<string, unknown>;
    const s = (k: string): string => (typeof raw[k] === 'string' ? raw[k] : '');
    return ok({
      api: negotiated.value.api,
      runtimeName: s('runtimeName'),
      runtimeVersion: s('runtimeVersion'),
      runtimeApiVersion: s('runtimeApiVersion'),
    });
  }

  /**
   * The same Listing object as last time when the runtime's answer holds the same images (in
   * any order): callers can tell a repeat by identity, and nothing is decoded for it.
   */
  async listImages(): Promise<Result<Listing<CriImage>, CriError>> {
    const answer = await this.#call('ImageService', 'ListImages', {}, this.#listTimeoutMs, 'bytes');
    if (!answer.ok) return answer;
    const { api } = answer.value;
    const bytes = answer.value.response as Buffer;
    const repeat = this.#imagesRepeat.isRepeat(bytes);
    const last = this.#lastImages;
    if (repeat && last?.api === api) return ok(last.listing);
    this.#lastImages = undefined;
    let raw: unknown;
    try {
      raw = definitionsFor(api).ImageService.service.ListImages?.responseDeserialize(bytes);
    } catch (error) {
      // What grpc-js reports when it decodes a response itself and fails.
      return this.#invalid('ListImages', `response message parsing error: ${String(error)}`);
    }
    const listing = convertList(field(raw, 'images'), convertImage);
    this.#lastImages = { api, listing };
    return ok(listing);
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    const READY = grpc.connectivityState.READY;
    let active = true;
    // grpc-js calls a watcher once, on the first change away from the state it was given.
    const watch = (from: grpc.connectivityState): void => {
      if (!active || this.#closed) return;
      this.#channel.watchConnectivityState(from, Infinity, () => {
        // Closing the channel (SHUTDOWN) is not the runtime going away.
        if (!active || this.#closed) return;
        const state = this.#channel.getConnectivityState(false);
        if ((from === READY) !== (state === READY)) listener(state === READY);
        watch(state);
      });
    };
    watch(this.#channel.getConnectivityState(false));
    return () => {
      active = false;
    };
  }

  close(): void {
    this.#closed = true;
    for (const stubs of this.#stubs.values()) {
      stubs.RuntimeService.close();
      stubs.ImageService.close();
    }
    this.#channel.close();
  }
}

function field(response: unknown, name: string): unknown {
  return typeof response === 'object' && response !== null
    ? (response as Record<string, unknown>)[name]
    : undefined;
}

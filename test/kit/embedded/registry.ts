// The semantics of create, update, patch, delete and list on top of the versioned
// store, shared by the HTTP handlers and the test-facing store API so that both
// produce the same objects, resourceVersions and watch events.

import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import {
  admitServiceAccount,
  alwaysPullImages,
  defaultPod,
  serviceAccountNameOf,
} from './admission.ts';
import type { KubeObject, ObjectMeta, ObjectRef } from './objects.ts';
import {
  formatTimestamp,
  generateNameSuffix,
  isRecord,
  keyOf,
  objectKey,
  parseKubeObject,
  without,
} from './objects.ts';
import type { FieldConflict } from './apply.ts';
import { applyConfiguration, conflictMessage, managedFieldsOf, recordUpdate } from './apply.ts';
import type { PatchType } from './patch.ts';
import { applyPatch } from './patch.ts';
import type { ResourceType, SubresourceName, WriteContext, WriteOrigin } from './resources.ts';
import { apiVersionOf, presentAs, resourceType, storageKeyOf } from './resources.ts';
import type { ObjectFilter, SelectorText } from './selectors.ts';
import { compileFilter, matchesFilter } from './selectors.ts';
import type { ApiError } from './status.ts';
import {
  alreadyExists,
  badRequest,
  conflict,
  continueExpired,
  invalid,
  invalidObject,
  namespaceNotFound,
  notFound,
  staleObjectMessage,
  tooLargeResourceVersion,
} from './status.ts';
import type { VersionedStore } from './store.ts';

export type { WriteOrigin } from './resources.ts';

export interface RegistryOptions {
  readonly now: () => Date;
  readonly newUid: () => string;
  readonly alwaysPullImages: boolean;
  readonly enforceNamespaceExists: boolean;
}

export interface ListOptions extends SelectorText {
  readonly resourceVersion?: string | undefined;
  readonly resourceVersionMatch?: string | undefined;
  readonly limit?: number | undefined;
  readonly continueToken?: string | undefined;
}

export interface ListPage {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
  readonly remainingItemCount?: number;
}

export interface Preconditions {
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

/** Who writes, for metadata.managedFields. */
export interface FieldManager {
  readonly name: string;
  /**
   * Named by the request's fieldManager. A write by a manager the client did not name is
   * tracked only on objects that already have managedFields (server-side apply in use), so
   * objects nobody applies stay as tests wrote them; the real server tracks every write.
   */
  readonly explicit: boolean;
}

export interface UpdateOptions {
  readonly origin: WriteOrigin;
  readonly subresource?: SubresourceName | undefined;
  readonly manager?: FieldManager | undefined;
}

export interface ApplyOptions {
  readonly manager: string;
  readonly force: boolean;
  readonly subresource?: SubresourceName | undefined;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses a resourceVersion query value: undefined when absent, an error when not a number. */
export function parseResourceVersion(
  text: string | undefined,
): Result<number | undefined, ApiError> {
  if (text === undefined || text === '') return ok(undefined);
  if (!/^\d+$/.test(text)) {
    return err(badRequest(`invalid resource version "${text}": must be a non-negative integer`));
  }
  return ok(Number(text));
}

interface ContinueToken {
  readonly rv: number;
  readonly start: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', ...token })).toString('base64url');
}

function decodeContinue(text: string): Result<ContinueToken, ApiError> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      isRecord(parsed) &&
      typeof parsed['rv'] === 'number' &&
      typeof parsed['start'] === 'string'
    ) {
      return ok({ rv: parsed['rv'], start: parsed['start'] });
    }
  } catch {
    // fall through to the error below
  }
  return err(badRequest('continue key is not valid: incorrect encoded start resourceVersion'));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

function withoutResourceVersion(obj: KubeObject): KubeObject {
  return { ...obj, metadata: without(obj.metadata, ['resourceVersion']) };
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  return canonicalJson(withoutResourceVersion(a)) === canonicalJson(withoutResourceVersion(b));
}

function nameOf(obj: KubeObject): string {
  return obj.metadata.name ?? '';
}

export class Registry {
  readonly store: VersionedStore;
  readonly #options: RegistryOptions;

  constructor(store: VersionedStore, options: RegistryOptions) {
    this.store = store;
    this.#options = options;
  }

  get(rt: ResourceType, ref: ObjectRef): Result<KubeObject, ApiError> {
    const found = this.store.get(rt, keyFor(rt, ref));
    return found ? ok(presented(rt, found)) : err(notFound(rt, ref.name));
  }

  filterFor(rt: ResourceType, text: SelectorText): Result<ObjectFilter, ApiError> {
    const filter = compileFilter(rt, text);
    return filter.ok ? filter : err(badRequest(filter.error));
  }

  list(rt: ResourceType, options: ListOptions): Result<ListPage, ApiError> {
    const filter = this.filterFor(rt, options);
    if (!filter.ok) return filter;
    const snapshot = this.#listSnapshot(rt, options);
    if (!snapshot.ok) return snapshot;
    const { objects, resourceVersion, after } = snapshot.value;
    const matching = objects.filter(
      (obj) => matchesFilter(rt, filter.value, obj) && (after === undefined || keyOf(obj) > after),
    );
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : undefined;
    const page = limit === undefined ? matching : matching.slice(0, limit);
    const items = page.map((obj) => presented(rt, obj));
    const last = page.at(-1);
    if (limit === undefined || matching.length <= limit || last === undefined) {
      return ok({ items, resourceVersion: String(resourceVersion) });
    }
    const unfiltered = filter.value.fields.length === 0 && filter.value.labels.length === 0;
    return ok({
      items,
      resourceVersion: String(resourceVersion),
      continueToken: encodeContinue({ rv: resourceVersion, start: keyOf(last) }),
      ...(unfiltered ? { remainingItemCount: matching.length - page.length } : {}),
    });
  }

  #listSnapshot(
    rt: ResourceType,
    options: ListOptions,
  ): Result<{ objects: KubeObject[]; resourceVersion: number; after?: string }, ApiError> {
    const requested = parseResourceVersion(options.resourceVersion);
    if (!requested.ok) return requested;
    const rv = requested.value;
    const match = options.resourceVersionMatch ?? '';
    const current = this.store.resourceVersion;
    if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan') {
      return err(
        badRequest(
          `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`,
        ),
      );
    }
    if (match !== '' && rv === undefined) {
      return err(
        badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided'),
      );
    }
    if (options.continueToken) {
      if (rv !== undefined && rv !== 0) {
        return err(badRequest('specifying resource version is not allowed when using continue'));
      }
      const token = decodeContinue(options.continueToken);
      if (!token.ok) return token;
      const objects = this.store.snapshotAt(rt, token.value.rv);
      if (!objects.ok) return err(objects.error.code === 410 ? continueExpired() : objects.error);
      return ok({
        objects: objects.value,
        resourceVersion: token.value.rv,
        after: token.value.start,
      });
    }
    if (match === 'Exact') {
      if (rv === 0) {
        return err(badRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"'));
      }
      const at = rv ?? current;
      const objects = this.store.snapshotAt(rt, at);
      return objects.ok ? ok({ objects: objects.value, resourceVersion: at }) : objects;
    }
    if (rv !== undefined && rv > current) return err(tooLargeResourceVersion(rv, current));
    return ok({ objects: this.store.objects(rt), resourceVersion: current });
  }

  create(
    rt: ResourceType,
    input: KubeObject,
    origin: WriteOrigin,
    urlNamespace?: string,
    manager?: FieldManager,
  ): Result<KubeObject, ApiError> {
    const typed = this.#checkType(rt, input);
    if (!typed.ok) return typed;
    const metadata = { ...input.metadata };
    if (rt.namespaced) {
      if (urlNamespace && metadata.namespace && metadata.namespace !== urlNamespace) {
        return err(
          badRequest(
            'the namespace of the provided object does not match the namespace sent on the request',
          ),
        );
      }
      metadata.namespace = urlNamespace ?? metadata.namespace ?? 'default';
    } else {
      delete metadata.namespace;
    }
    if (origin === 'request' && metadata.resourceVersion) {
      return err(badRequest('resourceVersion should not be set on objects to be created'));
    }
    delete metadata.resourceVersion;
    if (!metadata.name && metadata.generateName) {
      metadata.name = this.#generateName(rt, metadata.namespace, metadata.generateName);
    }
    const name = metadata.name ?? '';
    if (name === '') {
      return err(
        invalid(rt, '', 'metadata.name', 'Required value: name or generateName is required'),
      );
    }
    if (name.length > 253 || !dnsSubdomain.test(name)) {
      return err(
        invalid(
          rt,
          name,
          'metadata.name',
          `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        ),
      );
    }
    if (rt.namespaced && this.#options.enforceNamespaceExists) {
      const ns = metadata.namespace ?? '';
      if (!this.store.get(resourceType('namespaces'), ns)) return err(namespaceNotFound(ns));
    }
    if (this.store.get(rt, objectKey(metadata.namespace, name)))
      return err(alreadyExists(rt, name));
    if (origin === 'request' || !metadata.uid) metadata.uid = this.#options.newUid();
    if (origin === 'request' || !metadata.creationTimestamp) {
      metadata.creationTimestamp = formatTimestamp(this.#options.now());
    }
    const stored = toStorage(rt, { ...input, ...typed.value, metadata });
    const obj = this.#finish(rt, this.#prepareForCreate(rt, stored, origin), undefined, origin);
    if (!obj.ok) return obj;
    const tracked = manager?.explicit
      ? this.#track(rt, undefined, obj.value, manager, undefined)
      : obj.value;
    return ok(presented(rt, this.store.put(rt, tracked).object));
  }

  /** managedFields after a write that is not an apply, when this write is tracked. */
  #track(
    rt: ResourceType,
    old: KubeObject | undefined,
    obj: KubeObject,
    manager: FieldManager | undefined,
    subresource: SubresourceName | undefined,
  ): KubeObject {
    const sent = managedFieldsOf(obj);
    const kept =
      sent.length > 0
        ? obj
        : { ...obj, metadata: { ...obj.metadata, managedFields: managedFieldsOf(old) } };
    if (managedFieldsOf(kept).length === 0) Reflect.deleteProperty(kept.metadata, 'managedFields');
    if (!manager || (!manager.explicit && managedFieldsOf(old).length === 0)) return kept;
    return recordUpdate(old, kept, {
      manager: manager.name,
      apiVersion: apiVersionOf(rt),
      subresource,
      now: formatTimestamp(this.#options.now()),
    });
  }

  /** The resource's own strategy (pruning, defaults, validation) and generation, last before storage. */
  #finish(
    rt: ResourceType,
    obj: KubeObject,
    old: KubeObject | undefined,
    origin: WriteOrigin,
  ): Result<KubeObject, ApiError> {
    const context: WriteContext = { origin, now: formatTimestamp(this.#options.now()) };
    const prepared = rt.strategy?.prepare?.(obj, old, context) ?? obj;
    const causes = rt.strategy?.validate?.(prepared, old) ?? [];
    if (causes.length > 0) return err(invalidObject(rt, nameOf(obj), causes));
    return ok(rt.tracksGeneration ? withGeneration(prepared, old) : prepared);
  }

  #generateName(rt: ResourceType, namespace: string | undefined, prefix: string): string {
    for (;;) {
      const name = prefix + generateNameSuffix();
      if (!this.store.get(rt, objectKey(namespace, name))) return name;
    }
  }

  #checkType(
    rt: ResourceType,
    input: KubeObject,
  ): Result<{ kind: string; apiVersion: string }, ApiError> {
    const apiVersion = apiVersionOf(rt);
    if (input.kind !== undefined && input.kind !== '' && input.kind !== rt.kind) {
      return err(
        badRequest(
          `the kind in the data (${input.kind}) does not match the expected kind (${rt.kind})`,
        ),
      );
    }
    if (
      input.apiVersion !== undefined &&
      input.apiVersion !== '' &&
      input.apiVersion !== apiVersion
    ) {
      return err(
        badRequest(
          `the API version in the data (${input.apiVersion}) does not match the expected API version (${apiVersion})`,
        ),
      );
    }
    return ok({ kind: rt.kind, apiVersion });
  }

  #prepareForCreate(rt: ResourceType, obj: KubeObject, origin: WriteOrigin): KubeObject {
    switch (storageKeyOf(rt)) {
      case 'pods': {
        const status =
          origin === 'request' || !isRecord(obj['status']) ? { phase: 'Pending' } : obj['status'];
        const serviceAccounts = resourceType('serviceaccounts');
        const withAccount = admitServiceAccount(
          obj,
          this.store.get(
            serviceAccounts,
            objectKey(obj.metadata.namespace, serviceAccountNameOf(obj)),
          ),
        );
        return this.#preparePod({ ...withAccount, status }, undefined);
      }
      case 'namespaces':
        return prepareNamespace(obj);
      case 'secrets':
        return {
          ...obj,
          type: typeof obj['type'] === 'string' && obj['type'] ? obj['type'] : 'Opaque',
        };
      default:
        return obj;
    }
  }

  #preparePod(pod: KubeObject, subresource: SubresourceName | undefined): KubeObject {
    // AlwaysPullImages ignores subresources, so `kubectl debug` containers escape it.
    const admitted =
      this.#options.alwaysPullImages && subresource === undefined ? alwaysPullImages(pod) : pod;
    return defaultPod(admitted);
  }

  update(
    rt: ResourceType,
    ref: ObjectRef,
    input: KubeObject,
    options: UpdateOptions,
  ): Result<KubeObject, ApiError> {
    const namespace = rt.namespaced ? (ref.namespace ?? 'default') : undefined;
    const typed = this.#checkType(rt, input);
    if (!typed.ok) return typed;
    if (input.metadata.name && input.metadata.name !== ref.name) {
      return err(
        badRequest(
          `the name of the object (${input.metadata.name}) does not match the name on the URL (${ref.name})`,
        ),
      );
    }
    if (rt.namespaced && input.metadata.namespace && input.metadata.namespace !== namespace) {
      return err(
        badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        ),
      );
    }
    const old = this.store.get(rt, objectKey(namespace, ref.name));
    const stored = toStorage(rt, { ...input, ...typed.value });
    if (!old) {
      if (rt.allowCreateOnUpdate && options.subresource === undefined) {
        const metadata = without(input.metadata, ['resourceVersion']);
        return this.create(
          rt,
          { ...input, metadata: { ...metadata, name: ref.name } },
          options.origin,
          namespace,
          options.manager,
        );
      }
      return err(notFound(rt, ref.name));
    }
    const stale = checkPreconditions(rt, old, {
      uid: input.metadata.uid,
      resourceVersion: input.metadata.resourceVersion,
    });
    if (!stale.ok) return stale;
    const merged = mergeForUpdate(rt, old, stored, options);
    const pod = storageKeyOf(rt) === 'pods';
    const obj = this.#finish(
      rt,
      pod ? this.#preparePod(merged, options.subresource) : merged,
      old,
      options.origin,
    );
    if (!obj.ok) return obj;
    const tracked = this.#track(rt, old, obj.value, options.manager, options.subresource);
    if (sameContent(tracked, old)) return ok(presented(rt, old));
    return ok(presented(rt, this.store.put(rt, tracked).object));
  }

  /**
   * Server-side apply: merges `applied` into the object (creating it when missing) as
   * apply.ts describes; `created` tells a 201 from a 200.
   */
  apply(
    rt: ResourceType,
    ref: ObjectRef,
    applied: KubeObject,
    options: ApplyOptions,
  ): Result<{ object: KubeObject; created: boolean }, ApiError> {
    if (!applied.apiVersion || !applied.kind) {
      return err(badRequest('apiVersion and kind must be set in an apply configuration'));
    }
    const typed = this.#checkType(rt, applied);
    if (!typed.ok) return typed;
    if (applied.metadata.name !== undefined && applied.metadata.name !== ref.name) {
      return err(
        badRequest(
          `the name of the object (${applied.metadata.name}) does not match the name on the URL (${ref.name})`,
        ),
      );
    }
    const undeclared = rt.strategy?.undeclaredFields?.(applied) ?? [];
    if (undeclared.length > 0) {
      return err(
        badRequest(
          `failed to create typed patch object (${apiVersionOf(rt)}, Kind=${rt.kind}): ${undeclared.map((f) => `.${f}`).join(', ')}: field not declared in schema`,
        ),
      );
    }
    const stored = this.store.get(rt, keyFor(rt, ref));
    const current = stored ? presentAs(rt, stored) : undefined;
    const outcome = applyConfiguration(current, applied, {
      manager: options.manager,
      force: options.force,
      apiVersion: apiVersionOf(rt),
      subresource: options.subresource,
      now: formatTimestamp(this.#options.now()),
    });
    if (!outcome.ok) return err(applyConflict(rt, ref.name, outcome.conflicts));
    if (!current) {
      if (options.subresource !== undefined) return err(notFound(rt, ref.name));
      const namespace = rt.namespaced ? (ref.namespace ?? 'default') : undefined;
      const metadata = { ...outcome.object.metadata, name: ref.name };
      const created = this.create(rt, { ...outcome.object, metadata }, 'request', namespace);
      return created.ok ? ok({ object: created.value, created: true }) : created;
    }
    const updated = this.update(rt, ref, outcome.object, {
      origin: 'request',
      subresource: options.subresource,
    });
    return updated.ok ? ok({ object: updated.value, created: false }) : updated;
  }

  /** Reads, lets `change` edit the object, and writes it back with no resourceVersion precondition. */
  modify(
    rt: ResourceType,
    ref: ObjectRef,
    change: (obj: KubeObject) => KubeObject,
    origin: WriteOrigin = 'request',
  ): Result<KubeObject, ApiError> {
    const current = this.get(rt, ref);
    if (!current.ok) return current;
    const edited = change(current.value);
    const metadata = without(edited.metadata, ['resourceVersion']);
    return this.update(rt, ref, { ...edited, metadata }, { origin });
  }

  delete(
    rt: ResourceType,
    ref: ObjectRef,
    preconditions: Preconditions = {},
  ): Result<KubeObject, ApiError> {
    const key = keyFor(rt, ref);
    const old = this.store.get(rt, key);
    if (!old) return err(notFound(rt, ref.name));
    const checked = checkPreconditions(rt, old, preconditions);
    if (!checked.ok) return checked;
    const change = this.store.remove(rt, key);
    return change ? ok(presented(rt, change.object)) : err(notFound(rt, ref.name));
  }
}

/**
 * The object a JSON or merge patch makes of `current`; the handlers then admit and update it
 * (a patch is an update of its result, as the real server's patcher runs it).
 */
export function patchedObject(
  current: KubeObject,
  type: Exclude<PatchType, 'apply'>,
  body: unknown,
): Result<KubeObject, ApiError> {
  const patched = applyPatch(type, current, body);
  if (!patched.ok)
    return err(
      badRequest(
        `the server rejected our request due to an error in our request: ${patched.error}`,
      ),
    );
  const parsed = parseKubeObject(patched.value);
  return parsed.ok ? parsed : err(badRequest(parsed.error));
}

function applyConflict(
  rt: ResourceType,
  name: string,
  conflicts: readonly FieldConflict[],
): ApiError {
  return {
    code: 409,
    reason: 'Conflict',
    message: conflictMessage(conflicts),
    details: {
      name,
      ...(rt.group ? { group: rt.group } : {}),
      kind: rt.resource,
      causes: conflicts.map((c) => ({
        reason: 'FieldManagerConflict',
        message: `conflict with "${c.manager}" using ${c.apiVersion}`,
        field: c.field,
      })),
    },
  };
}

/** A private copy of a stored object, as a client of `rt`'s version reads it. */
function presented(rt: ResourceType, obj: KubeObject): KubeObject {
  return structuredClone(presentAs(rt, obj));
}

function toStorage(rt: ResourceType, obj: KubeObject): KubeObject {
  return rt.codec ? rt.codec.toStorage(obj) : obj;
}

/** metadata.generation: 1 on create, one more whenever anything outside metadata and status changes. */
function withGeneration(obj: KubeObject, old: KubeObject | undefined): KubeObject {
  const previous = typeof old?.metadata['generation'] === 'number' ? old.metadata['generation'] : 0;
  const body = (o: KubeObject): string => canonicalJson(without(o, ['metadata', 'status']));
  const generation = old === undefined || body(obj) !== body(old) ? previous + 1 : previous;
  return { ...obj, metadata: { ...obj.metadata, generation } };
}

/** A namespaced ref without a namespace means `default`, as in kubectl. */
function keyFor(rt: ResourceType, ref: ObjectRef): string {
  return objectKey(rt.namespaced ? (ref.namespace ?? 'default') : undefined, ref.name);
}

function prepareNamespace(obj: KubeObject): KubeObject {
  const name = obj.metadata.name ?? '';
  const spec = isRecord(obj['spec']) ? obj['spec'] : { finalizers: ['kubernetes'] };
  const status = isRecord(obj['status']) ? obj['status'] : { phase: 'Active' };
  return {
    ...obj,
    // The apiserver labels every namespace with its own name (since 1.21).
    metadata: {
      ...obj.metadata,
      labels: { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name },
    },
    spec,
    status,
  };
}

function checkPreconditions(
  rt: ResourceType,
  old: KubeObject,
  preconditions: Preconditions,
): Result<void, ApiError> {
  const name = nameOf(old);
  if (preconditions.uid && preconditions.uid !== old.metadata.uid) {
    return err(
      conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${old.metadata.uid ?? ''}`,
      ),
    );
  }
  if (
    preconditions.resourceVersion &&
    preconditions.resourceVersion !== old.metadata.resourceVersion
  ) {
    return err(conflict(rt, name, staleObjectMessage));
  }
  return ok(undefined);
}

/** Which parts of the incoming object an update may change, by origin and subresource. */
function mergeForUpdate(
  rt: ResourceType,
  old: KubeObject,
  input: KubeObject,
  options: UpdateOptions,
): KubeObject {
  // Identity never changes on update, whatever the body says.
  const identity: Partial<ObjectMeta> = {};
  for (const field of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    const value = old.metadata[field];
    if (value !== undefined) identity[field] = value;
  }
  switch (options.subresource) {
    case 'status':
      return { ...old, status: structuredClone(input['status']) };
    case 'ephemeralcontainers': {
      const oldSpec = isRecord(old['spec']) ? old['spec'] : {};
      const newSpec = isRecord(input['spec']) ? input['spec'] : {};
      return {
        ...old,
        spec: { ...oldSpec, ephemeralContainers: structuredClone(newSpec['ephemeralContainers']) },
      };
    }
    case undefined: {
      const merged: KubeObject = { ...input, metadata: { ...input.metadata, ...identity } };
      // Through HTTP the status only changes via the status subresource.
      if (options.origin === 'request' && rt.subresources.includes('status')) {
        merged['status'] = old['status'];
      }
      return storageKeyOf(rt) === 'namespaces' ? prepareNamespace(merged) : merged;
    }
  }
}

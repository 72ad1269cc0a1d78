// Background garbage collection by ownerReferences, as kube-controller-manager's garbage
// collector does it (pkg/controller/garbagecollector): after an object is deleted, each object
// whose ownerReferences name its uid is deleted when no other owner of it still exists, and
// otherwise loses the reference to the deleted owner. It runs after the delete has been
// answered (the real collector runs apart from the API server, so clients see the dependents
// go a little later), and cascades through dependents of dependents. An owner counts only
// where Kubernetes allows one: a cluster-scoped object, or one in the dependent's namespace.
// `propagationPolicy: Orphan` strips the references first and deletes nothing; Foreground is
// treated as Background.

import type { ResourceCatalog } from './catalog.ts';
import type { KubeObject, ObjectRef } from './objects.ts';
import { isRecord } from './objects.ts';
import type { Registry } from './registry.ts';
import type { ResourceType } from './resources.ts';
import type { VersionedStore } from './store.ts';

interface OwnerReference {
  readonly uid: string;
  readonly [field: string]: unknown;
}

function ownerReferencesOf(obj: KubeObject): OwnerReference[] {
  const refs = obj.metadata['ownerReferences'];
  return Array.isArray(refs)
    ? refs.filter((r): r is OwnerReference => isRecord(r) && typeof r['uid'] === 'string')
    : [];
}

function refOf(obj: KubeObject): ObjectRef {
  return {
    name: obj.metadata.name ?? '',
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
  };
}

export class GarbageCollector {
  readonly #store: VersionedStore;
  readonly #catalog: ResourceCatalog;
  readonly #registry: Registry;
  readonly #deleted = new Set<string>();
  #scheduled = false;
  readonly #unsubscribe: () => void;

  constructor(store: VersionedStore, catalog: ResourceCatalog, registry: Registry) {
    this.#store = store;
    this.#catalog = catalog;
    this.#registry = registry;
    this.#unsubscribe = store.subscribe((_rt, change) => {
      const uid = change.object.metadata.uid;
      if (change.type !== 'DELETED' || !uid) return;
      this.#deleted.add(uid);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#sweep();
        });
      }
    });
  }

  stop(): void {
    this.#unsubscribe();
  }

  #stored(): { rt: ResourceType; obj: KubeObject }[] {
    return this.#catalog
      .storedTypes()
      .flatMap((rt) => this.#store.objects(rt).map((obj) => ({ rt, obj })));
  }

  /** Removes references to `ownerUid` from its dependents, so deleting it deletes none of them. */
  orphanDependents(ownerUid: string): void {
    for (const { rt, obj } of this.#stored()) {
      const refs = ownerReferencesOf(obj);
      if (refs.some((r) => r.uid === ownerUid)) {
        this.#setOwners(
          rt,
          obj,
          refs.filter((r) => r.uid !== ownerUid),
        );
      }
    }
  }

  #setOwners(rt: ResourceType, obj: KubeObject, refs: readonly OwnerReference[]): void {
    this.#registry.modify(rt, refOf(obj), (current) => {
      const metadata = { ...current.metadata, ownerReferences: refs };
      if (refs.length === 0) Reflect.deleteProperty(metadata, 'ownerReferences');
      return { ...current, metadata };
    });
  }

  #sweep(): void {
    this.#scheduled = false;
    const deleted = new Set(this.#deleted);
    this.#deleted.clear();
    const stored = this.#stored();
    // Where each live object is: its namespace, or '' when cluster-scoped.
    const live = new Map(
      stored.map(({ obj }) => [obj.metadata.uid ?? '', obj.metadata.namespace ?? ''] as const),
    );
    const ownerExists = (ref: OwnerReference, namespace: string): boolean => {
      const where = live.get(ref.uid);
      return where !== undefined && (where === '' || where === namespace);
    };
    for (const { rt, obj } of stored) {
      const refs = ownerReferencesOf(obj);
      if (!refs.some((r) => deleted.has(r.uid))) continue;
      const namespace = obj.metadata.namespace ?? '';
      const remaining = refs.filter((r) => ownerExists(r, namespace));
      if (remaining.length === 0) this.#registry.delete(rt, refOf(obj));
      else if (remaining.length < refs.length) this.#setOwners(rt, obj, remaining);
    }
  }
}

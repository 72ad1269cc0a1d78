// The resources one embedded server serves: the built-in ones and those its
// CustomResourceDefinitions add while it runs. Routes, discovery and the fixture store look
// resources up here, so an installed CRD is served like a built-in resource.

import type { ResourceLookup, ResourceType } from './resources.ts';
import { qualifiedResource, resources, storageKeyOf } from './resources.ts';

export class ResourceCatalog {
  readonly #builtIn: readonly ResourceType[];
  /** By CRD name (`reports.openreports.io`): one type per served version, the storage one first. */
  readonly #custom = new Map<string, readonly ResourceType[]>();

  constructor(extraBuiltIn: readonly ResourceType[]) {
    this.#builtIn = [...resources, ...extraBuiltIn];
  }

  all(): ResourceType[] {
    return [...this.#builtIn, ...[...this.#custom.values()].flat()];
  }

  readonly find: ResourceLookup = (group, version, resource) =>
    this.all().find(
      (rt) => rt.group === group && rt.version === version && rt.resource === resource,
    );

  /**
   * `pods`, `Pod` (core resources), or a group's resource at its storage version:
   * `reports.openreports.io`, `events.events.k8s.io`.
   */
  lookup(key: string): ResourceType | undefined {
    const custom = this.#custom.get(key)?.[0];
    if (custom) return custom;
    return this.#builtIn.find(
      (rt) =>
        qualifiedResource(rt) === key ||
        (rt.group === '' && (rt.resource === key || rt.kind === key)),
    );
  }

  install(crdName: string, types: readonly ResourceType[]): void {
    this.#custom.set(crdName, types);
  }

  uninstall(crdName: string): readonly ResourceType[] {
    const types = this.#custom.get(crdName) ?? [];
    this.#custom.delete(crdName);
    return types;
  }

  /** One type per store bucket, to visit every stored object once (the garbage collector). */
  storedTypes(): ResourceType[] {
    const seen = new Map<string, ResourceType>();
    for (const rt of this.all()) {
      const key = storageKeyOf(rt);
      if (!seen.has(key)) seen.set(key, rt);
    }
    return [...seen.values()];
  }
}

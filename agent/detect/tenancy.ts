import type { TenantId } from '../model/snapshot.ts';

/**
 * A tenant is its namespace, or with --tenant-label, the label's value: two namespaces of one
 * team are one tenant. A namespace without the label stays its own tenant.
 */
export function tenantResolver(
  namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>,
  tenantLabel: string | undefined,
): (namespace: string) => TenantId {
  return (namespace) => {
    if (tenantLabel !== undefined) {
      const value = namespaceLabels.get(namespace)?.[tenantLabel];
      if (value !== undefined && value !== '') return value as TenantId;
    }
    return namespace as TenantId;
  };
}

import type { OwnerRef } from './finding.ts';
import type { ImageProvenance, ProvenanceSource } from './snapshot.ts';

const sourceWords: Record<ProvenanceSource, string> = {
  'kubelet-record': "the kubelet's pulled-image record",
  'observed-pull': 'a pull pullwatch observed',
  'running-pod': 'a running pod holding the credential',
};

/** Owners as findings show them: one per tenant, namespace and secret. */
export function ownerRefs(provenance: ImageProvenance | undefined): OwnerRef[] {
  const seen = new Map<string, OwnerRef>();
  for (const o of provenance?.owners ?? []) {
    const ref: OwnerRef = { tenant: o.tenant, namespace: o.namespace, secret: o.secret ?? null };
    seen.set(`${ref.tenant}\0${ref.namespace}\0${ref.secret ?? ''}`, ref);
  }
  return [...seen.values()].sort(
    (a, b) =>
      a.tenant.localeCompare(b.tenant) ||
      a.namespace.localeCompare(b.namespace) ||
      (a.secret ?? '').localeCompare(b.secret ?? ''),
  );
}

export function describeOwners(provenance: ImageProvenance | undefined): string {
  const parts = (provenance?.owners ?? []).map(
    (o) =>
      `tenant ${o.tenant} (${o.secret !== undefined ? `secret ${o.namespace}/${o.secret}` : `namespace ${o.namespace}`}, known from ${sourceWords[o.source]})`,
  );
  return [...new Set(parts)].join('; ');
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

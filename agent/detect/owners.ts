import { byCodeUnits } from '../code-unit-order.ts';
import type { OwnerRef } from './finding.ts';
import type { ImageOwner, ImageProvenance, ProvenanceSource } from '../model/snapshot.ts';
import { isPossibleOwner } from '../model/snapshot.ts';

const sourceWords: Record<ProvenanceSource, string> = {
  'kubelet-record': "the kubelet's pulled-image record",
  'observed-pull': 'a pull pullwatch observed',
  'pulled-event': 'the kubelet\'s "Successfully pulled image" event',
  'verified-bootstrap': 'a running pod whose credential the registry confirmed',
  'unverified-bootstrap': 'a running pod holding a credential for the registry (unverified)',
};

/** Owners as findings show them: one per tenant, namespace and secret; possible owners apart. */
export function ownerRefs(provenance: ImageProvenance | undefined): OwnerRef[] {
  return refsOf((provenance?.owners ?? []).filter((o) => !isPossibleOwner(o)));
}

/** Tenants whose pods ran the image with a credential nobody could verify (unverified bootstrap). */
export function possibleOwnerRefs(provenance: ImageProvenance | undefined): OwnerRef[] {
  return refsOf((provenance?.owners ?? []).filter(isPossibleOwner));
}

function refsOf(owners: readonly ImageOwner[]): OwnerRef[] {
  const seen = new Map<string, OwnerRef>();
  for (const o of owners) {
    const ref: OwnerRef = { tenant: o.tenant, namespace: o.namespace, secret: o.secret ?? null };
    seen.set(`${ref.tenant}\0${ref.namespace}\0${ref.secret ?? ''}`, ref);
  }
  return [...seen.values()].sort(
    (a, b) =>
      byCodeUnits(a.tenant, b.tenant) ||
      byCodeUnits(a.namespace, b.namespace) ||
      byCodeUnits(a.secret ?? '', b.secret ?? ''),
  );
}

/** The owners in words; `possible` picks the possible owners instead. */
export function describeOwners(
  provenance: ImageProvenance | undefined,
  which: 'owners' | 'possible' = 'owners',
): string {
  const parts = (provenance?.owners ?? [])
    .filter((o) => isPossibleOwner(o) === (which === 'possible'))
    .map(
      (o) =>
        `tenant ${o.tenant} (${o.secret !== undefined ? `secret ${o.namespace}/${o.secret}` : `namespace ${o.namespace}`}, known from ${sourceWords[o.source]})`,
    );
  return [...new Set(parts)].join('; ');
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

// Provenance values for the state-store tests.
import fc from 'fast-check';
import type { ImageOwner, ImageProvenance, TenantId } from '../model/snapshot.ts';
import { PROVENANCE_SOURCES } from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import type { CredentialFingerprint, CredentialHash } from '../credentials/credential-identity.ts';
import type { ProvenanceState } from './state-format.ts';

export const NODE = 'node-1';
export const T0 = Date.UTC(2025, 5, 1, 10);

const hex = (seed: string) => seed.repeat(64).slice(0, 64);

export function sampleImages(): Map<ImageId, ImageProvenance> {
  const app = `sha256:${hex('a1')}` as ImageId;
  const tool = `sha256:${hex('b2')}` as ImageId;
  const bare = hex('c3') as ImageId; // CRI-O lists bare hex IDs
  return new Map<ImageId, ImageProvenance>([
    [
      app,
      {
        imageId: app,
        cachedSince: T0,
        nodeWide: false,
        owners: [
          {
            tenant: 'team-a' as TenantId,
            namespace: 'team-a',
            secret: 'pull',
            fingerprint: hex('f1') as CredentialFingerprint,
            credentialHash: hex('c1') as CredentialHash,
            source: 'observed-pull',
            firstSeen: T0,
            lastSeen: T0 + 1234,
          },
          {
            tenant: 'team-a' as TenantId,
            namespace: 'team-a-dev',
            secret: undefined,
            fingerprint: undefined,
            credentialHash: undefined,
            source: 'kubelet-record',
            firstSeen: T0 - 1,
            lastSeen: T0 - 1,
          },
        ],
      },
    ],
    [tool, { imageId: tool, cachedSince: undefined, nodeWide: true, owners: [] }],
    [bare, { imageId: bare, cachedSince: T0 - 5, nodeWide: false, owners: [] }],
  ]);
}

export function sampleState(): ProvenanceState {
  return { node: NODE, savedAt: T0 + 60_000, images: sampleImages() };
}

// Times the file format can hold: whole milliseconds between 1970 and 2100.
const time = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) });
const k8sName = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

const ownerArbitrary: fc.Arbitrary<ImageOwner> = fc
  .record({
    tenant: k8sName,
    namespace: k8sName,
    secret: fc.option(k8sName, { nil: undefined }),
    fingerprint: fc.option(hex64, { nil: undefined }),
    credentialHash: fc.option(hex64, { nil: undefined }),
    source: fc.constantFrom(...PROVENANCE_SOURCES),
    a: time,
    b: time,
  } as const)
  .map(({ a, b, tenant, fingerprint, credentialHash, ...rest }) => ({
    ...rest,
    tenant: tenant as TenantId,
    fingerprint: fingerprint as CredentialFingerprint | undefined,
    credentialHash: credentialHash as CredentialHash | undefined,
    firstSeen: Math.min(a, b),
    lastSeen: Math.max(a, b),
  }));

export const stateArbitrary: fc.Arbitrary<ProvenanceState> = fc
  .record({
    node: k8sName,
    savedAt: time,
    images: fc.uniqueArray(
      fc.record({
        imageId: hex64.map((h) => `sha256:${h}` as ImageId),
        cachedSince: fc.option(time, { nil: undefined }),
        nodeWide: fc.boolean(),
        owners: fc.array(ownerArbitrary, { maxLength: 3 }),
      }),
      { selector: (image) => image.imageId, maxLength: 4 },
    ),
  })
  .map(({ node, savedAt, images }) => ({
    node,
    savedAt,
    // fast-check builds records without a prototype; provenance values are plain objects.
    images: new Map(images.map((image) => [image.imageId, { ...image }])),
  }));

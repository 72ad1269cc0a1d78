// An upgrade to brokered secrets keeps what the agent knew. A state file written by the
// previous release (schemaVersion 1) holds owners with fingerprints made with that node's own
// key; the controller fingerprints with a cluster-wide key, so those fingerprints never match
// again. The kubelet's credentialHash does not depend on any key, and owners are kept by
// namespace and secret name: an owner still owns, and the same login elsewhere is still
// recognised.
import { createHash } from 'node:crypto';
import t from 'tap';
import { detect } from '../detect/detect.ts';
import type { CredentialFingerprint, CredentialHash } from '../model/credential.ts';
import type { CredentialView } from '../model/snapshot.ts';
import { parseRegistryKey } from '../credentials/keyring.ts';
import {
  cachedImage,
  container,
  imageId,
  pod,
  secret,
  snapshotOf,
} from '../../test/kit/snapshot-builder.ts';
import { decodeProvenanceState } from './state-format.ts';

const REG = 'registry.example.com';
const APP = `${REG}/team-a/app:v1`;
const hex = (text: string) => createHash('sha256').update(text).digest('hex');
// The same login as the kubelet hashes it, whatever key fingerprints it.
const aliceHash = hex('{"username":"alice","password":"pw"}');
const nodeKeyFingerprint = hex('node-local key, alice');
const clusterKeyFingerprint = hex('cluster key, alice');

// As the previous release wrote it (agent/provenance/state-format.ts at schemaVersion 1).
const previousRelease = JSON.stringify({
  schemaVersion: 1,
  node: 'node-1',
  savedAt: '2026-11-30T10:00:00.000Z',
  images: [
    {
      imageId: imageId('app'),
      cachedSince: '2026-11-30T09:00:00.000Z',
      nodeWide: false,
      owners: [
        {
          tenant: 'tenant-a',
          namespace: 'tenant-a',
          secret: 'alice-pull',
          fingerprint: nodeKeyFingerprint,
          credentialHash: aliceHash,
          source: 'observed-pull',
          firstSeen: '2026-11-30T09:00:00.000Z',
          lastSeen: '2026-11-30T09:00:00.000Z',
        },
      ],
    },
  ],
});

/** Alice's login as the controller now describes it: another fingerprint, the same hash. */
function brokeredAlice(): CredentialView {
  const matcher = parseRegistryKey(REG);
  if (!matcher.ok) throw new Error(matcher.error);
  return {
    matcher: matcher.value,
    fingerprint: clusterKeyFingerprint as CredentialFingerprint,
    credentialHash: aliceHash as CredentialHash,
  };
}

t.test(
  "a previous release's state file: owners kept, the same login still recognised",
  async (t) => {
    const decoded = decodeProvenanceState(previousRelease, 'node-1');
    if (!decoded.ok) throw new Error(decoded.error.reason);
    const owners = decoded.value.images.get(imageId('app'))?.owners;
    t.match(owners, [{ tenant: 'tenant-a', secret: 'alice-pull', source: 'observed-pull' }]);

    const snapshot = snapshotOf({
      images: [cachedImage('app', { tags: [APP] })],
      pods: [
        // The same login in another tenant's own secret: the kubelet would accept it.
        pod('tenant-b', 'same-login', [container(APP)], { pullSecrets: ['b-pull'] }),
        // No credential at all: still flagged, with the owner from the old file.
        pod('tenant-c', 'none', [container(APP)]),
      ],
      secrets: [secret('tenant-b', 'b-pull', [brokeredAlice()])],
    });
    const findings = detect({ ...snapshot, provenance: decoded.value.images });
    const flagged = findings.flatMap((f) =>
      f.rule === 'unauthorized-cached-image-use' ? [[f.namespace, f.owners]] : [],
    );
    t.same(flagged, [
      ['tenant-c', [{ tenant: 'tenant-a', namespace: 'tenant-a', secret: 'alice-pull' }]],
    ]);
  },
);

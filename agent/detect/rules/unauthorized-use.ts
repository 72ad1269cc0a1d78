// Rule unauthorized-cached-image-use: a tenant's container gets a private image from the
// node's cache that another tenant's credentials brought, without a right of its own.
import type { Access } from '../access.ts';
import { accessOf, isAuthorized, privacyOf } from '../access.ts';
import { cachedImageOf, mayUseCache } from '../container-image.ts';
import type { Confidence, OwnerRef, Severity, UnauthorizedCachedImageUse } from '../finding.ts';
import { findingId } from '../finding.ts';
import type { DetectionMemory } from '../memory.ts';
import { ownerRefs, describeOwners, isoTime, possibleOwnerRefs } from '../owners.ts';
import type { ImageProvenance, NodeSnapshot } from '../../model/snapshot.ts';
import { kubeletEventKey } from '../../model/snapshot.ts';

export function unauthorizedCachedImageUse(
  snapshot: NodeSnapshot,
  memory?: DetectionMemory,
): UnauthorizedCachedImageUse[] {
  const findings: UnauthorizedCachedImageUse[] = [];
  for (const pod of snapshot.pods) {
    if (snapshot.ignoredNamespaces.has(pod.namespace)) continue;
    const tenant = snapshot.tenantOfNamespace(pod.namespace);
    for (const container of pod.containers) {
      // Always: the kubelet pulls with the pod's own credentials, so the registry decides.
      if (container.pullPolicy === 'Always' || !mayUseCache(container)) continue;
      const event = snapshot.kubeletEvents.get(kubeletEventKey(pod.uid, container.name));
      // KEP-2535 checked this pod's credentials before using the cache.
      if (event === 'already-present-verified' || event === 'pulled') continue;
      const cached = cachedImageOf(snapshot, container, memory);
      if (cached === undefined) continue;
      const { reference, entry } = cached;
      const provenance = snapshot.provenance.get(entry.id);
      const privacy = privacyOf(snapshot, reference.name, provenance);
      if (!privacy.private) continue;
      const access = accessOf(snapshot, pod, reference, entry.id, provenance, memory);
      if (isAuthorized(access)) continue;

      // creationTimestamp has whole seconds: compare at that resolution, or a pod created
      // in the same second just after the image arrived would look older than it.
      const cachedBeforePod =
        provenance?.cachedSince !== undefined &&
        Math.floor(provenance.cachedSince / 1000) * 1000 <= pod.createdAt;
      const confirmed = event === 'already-present' || cachedBeforePod;
      const owners: OwnerRef[] = ownerRefs(provenance);
      const possibleOwners: OwnerRef[] = possibleOwnerRefs(provenance);
      const pending = snapshot.ownerPending.get(entry.id);
      // Whose image it is was not settled (pending) or only guessed (possible owners): the pod
      // may belong to the owner tenant, so the finding cannot claim more than "possible".
      const ownerUnsettled =
        owners.length === 0 && (pending !== undefined || possibleOwners.length > 0);
      const unverified =
        access.kind === 'unverified' || access.kind === 'unknown-secrets' || ownerUnsettled;
      const confidence: Confidence = unverified ? 'possible' : confirmed ? 'confirmed' : 'likely';
      const severity: Severity = unverified ? 'medium' : confirmed ? 'critical' : 'high';
      const where = `${pod.namespace}/${pod.name}`;
      const evidence = [
        `Container ${container.name} (${container.kind}, imagePullPolicy ${container.pullPolicy}) of pod ${where} ${
          container.state.kind === 'running' || container.state.kind === 'terminated'
            ? 'runs or ran'
            : 'is about to start'
        } ${container.image}, which is in the node's cache as ${entry.id}.`,
        `The image is private: ${privacy.basis}.`,
        ...ownerEvidence(provenance, owners, possibleOwners, pending),
        ...accessEvidence(access, tenant, reference.registry),
      ];
      if (event === 'already-present') {
        evidence.push(
          `The kubelet reported "Container image "${container.image}" already present on machine" for this pod: it did not pull.`,
        );
      } else if (cachedBeforePod && provenance?.cachedSince !== undefined) {
        evidence.push(
          `The image was already in the cache (since ${isoTime(provenance.cachedSince)}) when the pod was created (${isoTime(pod.createdAt)}, to the second): the kubelet had no reason to pull.`,
        );
      }
      findings.push({
        rule: 'unauthorized-cached-image-use',
        id: findingId(
          memory,
          'unauthorized-cached-image-use',
          snapshot.node,
          pod.uid,
          container.name,
          entry.id,
        ),
        severity,
        confidence,
        node: snapshot.node,
        tenant,
        namespace: pod.namespace,
        pod: pod.name,
        podUid: pod.uid,
        container: container.name,
        containerKind: container.kind,
        image: container.image,
        imageId: entry.id,
        repoDigest: cached.repoDigest,
        registry: reference.registry,
        repository: reference.repository,
        pullPolicy: container.pullPolicy,
        owners,
        possibleOwners,
        evidence,
        remediation:
          `Enable the AlwaysPullImages admission plugin (or the kubelet's imagePullCredentialsVerificationPolicy: AlwaysVerify), ` +
          `or, if ${tenant} is entitled to this image, give it its own pull secret for ${reference.registry}.`,
      });
    }
  }
  return findings;
}

function ownerEvidence(
  provenance: ImageProvenance | undefined,
  owners: readonly OwnerRef[],
  possibleOwners: readonly OwnerRef[],
  pending: string | undefined,
): string[] {
  if (owners.length > 0)
    return [`It was brought onto the node with the credentials of ${describeOwners(provenance)}.`];
  const lines: string[] = [];
  if (pending !== undefined)
    lines.push(
      `Who brought it onto the node is not settled yet: ${pending}. The owner is decided once that is known; until then this finding is only possible.`,
    );
  if (possibleOwners.length > 0)
    lines.push(
      `Possible owners, none verified: ${describeOwners(provenance, 'possible')}. Their credentials match the registry, but nobody could confirm that they read this repository, so none of them counts as the owner.`,
    );
  if (lines.length === 0)
    lines.push(
      'No tenant is known to have pulled it here; it is private, and this pod was not asked for a credential.',
    );
  return lines;
}

function accessEvidence(access: Access, tenant: string, registry: string): string[] {
  switch (access.kind) {
    case 'no-credential':
      return [
        `Tenant ${tenant} holds no pull secret that matches ${registry} in this pod.`,
        ...access.notes.map((n) => `${n.charAt(0).toUpperCase()}${n.slice(1)}.`),
      ];
    case 'refused':
      return [
        `The registry refused ${tenant}'s matching credential (${access.secrets.join(', ')}) for this image: it would not have been allowed to pull it.`,
      ];
    case 'unknown-secrets':
      return [
        `The pull secret${access.secrets.length > 1 ? 's' : ''} ${access.secrets.join(', ')} of this pod ${access.secrets.length > 1 ? 'are' : 'is'} not read yet (or the read failed and is retried): whether tenant ${tenant} holds a credential for ${registry} is not known yet.`,
      ];
    case 'unverified':
      return [
        `Tenant ${tenant} holds a credential that matches ${registry} (${access.secrets.join(', ')}), but whether it can read this image could not be verified (registry unreachable or --verify-credentials=off).`,
      ];
    default:
      return [];
  }
}

// Rule private-image-exposed: a private image sits in the cache of a node where another
// tenant, without credentials for it, runs pods the kubelet would serve from the cache.
import type { PodKeyring } from '../access.ts';
import { exposedImageFacts, exposedTenantsOf, privateNameOf, tenantKeyrings } from '../exposure.ts';
import { isPreloadedExemption, kubeletCheckOfEntry } from '../kubelet-posture.ts';
import type { PrivateImageExposed } from '../finding.ts';
import { findingId } from '../finding.ts';
import { DetectionMemory, type RememberedExposure } from '../memory.ts';
import { describeOwners, ownerRefs } from '../owners.ts';
import type { InventoryEntry } from '../../image/inventory.ts';
import type {
  ImageProvenance,
  NodeSnapshot,
  RepositoryVisibility,
  TenantId,
} from '../../model/snapshot.ts';
import { isPossibleOwner } from '../../model/snapshot.ts';

export function privateImageExposed(
  snapshot: NodeSnapshot,
  memory: DetectionMemory = new DetectionMemory(),
): PrivateImageExposed[] {
  const findings: PrivateImageExposed[] = [];
  const { keyringsByTenant, groups } = tenantKeyrings(snapshot, memory);
  const answers = answersFor(memory, {
    node: snapshot.node,
    secrets: snapshot.secrets,
    verdicts: snapshot.verdicts,
    groups,
  });
  for (const entry of snapshot.inventory.entries()) {
    const provenance = snapshot.provenance.get(entry.id);
    // Possible owners (unverified guesses) are no owners: exposure of whose image?
    if (provenance === undefined || provenance.owners.every(isPossibleOwner)) continue;
    const kubeletCheck = kubeletCheckOfEntry(snapshot, entry);
    // The kubelet checks each pod's credentials for this image, or it is a preloaded image the
    // kubelet exempts (preloaded-private-image-exposed says so): no exposure of this rule's kind.
    if (kubeletCheck.check.kind === 'verified' || isPreloadedExemption(kubeletCheck)) continue;
    let answer = answers.get(entry);
    if (answer === undefined || !stillValid(answer, snapshot, entry, provenance)) {
      answer = {
        provenance,
        visibilities: entry.references.map((r) => snapshot.visibility.get(r.name)),
        finding: exposureOf(snapshot, entry, provenance, keyringsByTenant, memory),
      };
      answers.set(entry, answer);
    }
    if (answer.finding !== undefined) findings.push(answer.finding);
  }
  return findings;
}

/** What an image's exposure depends on besides the image, its provenance and visibility. */
interface ExposureContext {
  readonly node: string;
  readonly secrets: NodeSnapshot['secrets'];
  readonly verdicts: NodeSnapshot['verdicts'];
  /** Each tenant's (namespace, pull secrets) groups, in the order they were found. */
  readonly groups: string;
}

interface ExposureAnswer {
  readonly provenance: ImageProvenance;
  /** The visibility of each of the image's names when the answer was worked out. */
  readonly visibilities: readonly (RepositoryVisibility | undefined)[];
  readonly finding: PrivateImageExposed | undefined;
}

// Every reconcile asks about every private image for every tenant; between two reconciles the
// answer changes only if the image, its provenance, its visibility or the context did. The
// memory keeps the answers of the last context (sources hand over new objects when something
// changes).
function answersFor(
  memory: DetectionMemory,
  context: ExposureContext,
): WeakMap<InventoryEntry, ExposureAnswer> {
  const last = memory.exposure as RememberedExposure<ExposureAnswer> | undefined;
  const lastContext = last?.context as ExposureContext | undefined;
  if (
    last === undefined ||
    lastContext?.node !== context.node ||
    lastContext.secrets !== context.secrets ||
    lastContext.verdicts !== context.verdicts ||
    lastContext.groups !== context.groups
  ) {
    const fresh: RememberedExposure<ExposureAnswer> = { context, answers: new WeakMap() };
    memory.exposure = fresh;
    return fresh.answers;
  }
  return last.answers;
}

function stillValid(
  answer: ExposureAnswer,
  snapshot: NodeSnapshot,
  entry: InventoryEntry,
  provenance: ImageProvenance,
): boolean {
  if (answer.provenance !== provenance) return false;
  return entry.references.every(
    (r, i) => snapshot.visibility.get(r.name) === answer.visibilities[i],
  );
}

function exposureOf(
  snapshot: NodeSnapshot,
  entry: InventoryEntry,
  provenance: ImageProvenance,
  keyringsByTenant: ReadonlyMap<TenantId, readonly PodKeyring[]>,
  memory: DetectionMemory,
): PrivateImageExposed | undefined {
  const privateName = privateNameOf(snapshot, entry, provenance);
  if (privateName === undefined) return undefined;
  const { reference, basis } = privateName;

  const exposed = exposedTenantsOf(snapshot, entry, reference, provenance, keyringsByTenant);
  if (exposed.length === 0) return undefined;
  const exposedTenants = exposed;
  const facts = exposedImageFacts(entry, reference);
  const { image } = facts;
  return {
    rule: 'private-image-exposed',
    id: findingId(memory, 'private-image-exposed', snapshot.node, entry.id),
    severity: 'medium',
    confidence: 'likely',
    node: snapshot.node,
    ...facts,
    owners: ownerRefs(provenance),
    exposedTenants,
    evidence: [
      `Private image ${image} (${entry.id}) is in the cache of node ${snapshot.node}; it is private because ${basis}.`,
      `It was brought here with the credentials of ${describeOwners(provenance)}.`,
      `Tenant${exposedTenants.length > 1 ? 's' : ''} ${exposedTenants.join(', ')} run${exposedTenants.length > 1 ? '' : 's'} pods on this node that are not forced to pull and hold no credential known to read it: a pod naming this image would start from the cache.`,
    ],
    remediation:
      "Enable AlwaysPullImages or the kubelet's AlwaysVerify policy, or keep tenants that must not share images on separate nodes.",
  };
}

// What the API answers, as JSON-ready values: images with exact byte sizes, the agent's status,
// and whether any source is stale. The OpenAPI document (docs/openapi.yaml) describes these.
import type { BuildInfo } from '../version.ts';
import type { AgentView, ImageView, NodeProtection, SourceHealth, SourceName } from '../view.ts';
import { presentSources } from '../view.ts';
import type { OutputsStatusJson } from './outputs-status.ts';

/** True while any source is failing and the agent serves an older picture of it. */
export function isStale(view: AgentView): boolean {
  return presentSources(view.sources()).some(([, health]) => health.stale);
}

export interface ImageJson {
  readonly imageId: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  /** A JSON.rawJSON value: the runtime's uint64 as an exact JSON number. */
  readonly sizeBytes: unknown;
  readonly pinned: boolean;
  readonly visibility: ImageView['visibility'];
  readonly owners: ImageView['owners'];
  readonly possibleOwners: ImageView['possibleOwners'];
  readonly ownerPending: string | null;
  readonly usedBy: ImageView['usedBy'];
}

export function imageJson(image: ImageView): ImageJson {
  return {
    imageId: image.imageId,
    repoTags: image.repoTags,
    repoDigests: image.repoDigests,
    // JSON.stringify writes a rawJSON value verbatim: sizes above 2^53 stay exact.
    sizeBytes: JSON.rawJSON(image.sizeBytes.toString()),
    pinned: image.pinned,
    visibility: image.visibility,
    owners: image.owners,
    possibleOwners: image.possibleOwners,
    ownerPending: image.ownerPending ?? null,
    usedBy: image.usedBy,
  };
}

export interface SourceStatusJson {
  readonly up: boolean;
  /** RFC 3339, or null before the first successful read. */
  readonly lastSync: string | null;
  readonly error: string | null;
  readonly stale: boolean;
}

function sourceStatus(health: SourceHealth): SourceStatusJson {
  return {
    up: health.up,
    lastSync: health.lastSync === undefined ? null : new Date(health.lastSync).toISOString(),
    error: health.lastError ?? null,
    stale: health.stale,
  };
}

export interface StatusJson {
  readonly node: string;
  readonly version: string;
  readonly revision: string;
  readonly ready: boolean;
  readonly notReadyReason: string | null;
  readonly stale: boolean;
  readonly sources: Readonly<Partial<Record<SourceName, SourceStatusJson>>>;
  readonly protection: NodeProtection;
  /** The report and Event writers' state: present on `pullwatch run`. */
  readonly reports?: OutputsStatusJson['reports'];
  readonly events?: OutputsStatusJson['events'];
}

export function statusJson(
  view: AgentView,
  build: BuildInfo,
  outputs?: OutputsStatusJson,
): StatusJson {
  const readiness = view.readiness();
  const sources = view.sources();
  return {
    node: view.node,
    version: build.version,
    revision: build.revision,
    ready: readiness.ready,
    notReadyReason: readiness.ready ? null : readiness.reason,
    stale: presentSources(sources).some(([, health]) => health.stale),
    sources: Object.fromEntries(
      presentSources(sources).map(([name, health]) => [name, sourceStatus(health)]),
    ),
    protection: view.protection(),
    ...outputs,
  };
}

// What the agent's loop needs of the world, each source behind a narrow port: the runtime's
// cache, the Kubernetes side, the registries, and the state dir with the kubelet's records.
import type {
  CredentialVerdict,
  KubeletImageEvent,
  PodView,
  CredentialCheck,
  RepositoryVisibility,
  SecretView,
} from '../model/snapshot.ts';
import type { ImageId } from '../image/digest.ts';
import type { ImageIdSet, Inventory } from '../image/inventory.ts';
import type { ImageProvenance } from '../model/snapshot.ts';
import type { PulledRecord } from '../provenance/kubelet-record-format.ts';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import type { FindingTimes } from '../findings/store.ts';

export interface SourceState {
  readonly synced: boolean;
  readonly up: boolean;
  readonly lastSync: number | undefined;
  readonly lastError: string | undefined;
}

/** The node's image cache as last listed (agent/cri/cache-poller.ts provides it). */
export interface CachePort {
  /** The same object until the cache changes. */
  inventory(): Inventory;
  /** Image IDs of the listing before the current one; undefined until two were seen. */
  previousImageIds(): ImageIdSet | undefined;
  status(): SourceState;
}

/**
 * What the agent needs of the Kubernetes side (agent/kube/kube-source.ts provides it). Each
 * method hands back the same object while nothing changed (see DetectionMemory).
 */
export interface KubePort {
  pods(): readonly PodView[];
  namespaces(): ReadonlyMap<string, Readonly<Record<string, string>>>;
  secrets(): ReadonlyMap<string, SecretView>;
  kubeletEvents(): ReadonlyMap<string, KubeletImageEvent>;
  health(): SourceState;
}

/** The controller, when pull secrets and registry answers come from it: only its health here. */
export interface ControllerPort {
  health(): SourceState;
}

/** Registry questions: answered asynchronously, cached by the implementation. */
export interface RegistryPort {
  repositoryVisibility(name: string, reference: string): Promise<RepositoryVisibility>;
  verifyCredential(
    check: CredentialCheck,
    name: string,
    reference: string,
  ): Promise<CredentialVerdict>;
  probeCounts(): ReadonlyMap<string, number>;
}

export interface KubeletRecordsReading {
  readonly records: ReadonlyMap<ImageId, PulledRecord>;
  readonly available: boolean;
  readonly problems: readonly string[];
}

/** The state dir and the kubelet's records. */
export interface ProvenancePort {
  readKubeletRecords(imageIds: readonly ImageId[]): Promise<KubeletRecordsReading>;
  /** Undefined when saved, else why not. */
  save(images: ReadonlyMap<ImageId, ImageProvenance>): Promise<string | undefined>;
}

/** Where finding times are kept across restarts (agent/findings/times-file.ts in the state dir). */
export interface FindingTimesPort {
  /** Undefined when saved, else why not. */
  save(times: ReadonlyMap<string, FindingTimes>): Promise<string | undefined>;
}

/** The kubelet's configuration files (agent/kubelet-config/read.ts): read again on each resync. */
export interface KubeletConfigPort {
  read(): Promise<KubeletConfigReading>;
}

// The controller's watch of the reports pullwatch's agents write: the ClusterReports (one per
// node, every finding) for the cluster findings API, and the namespaced Reports so that an agent
// that lost its record can ask which objects are its own. Each is the agent's own list-watch
// (kube/list-watch.ts, after client-go's reflector: relist on 410, backoff, for as long as the
// process runs), narrowed to pullwatch's objects by label.
//
// When the CRDs are not installed the lists fail with 404 until they are; a discovery probe
// tells that apart from an API server that is merely away, so that the log and the API's 503
// say what to do. The broker does not depend on any of this: /readyz ignores it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReportRef } from '../broker/wire.ts';
import type { ApiServerConnections } from '../kube/connections.ts';
import { getJson } from '../kube/kube-http.ts';
import { startListWatch, type ListWatch, type ListWatchTuning } from '../kube/list-watch.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import {
  availabilityOf,
  indexFindings,
  reportsOfNode,
  watchReport,
  type ClusterFindingsIndex,
  type CrdPresence,
  type DecodeClusterReport,
  type WatchedReport,
} from './cluster-findings.ts';
import type { ReportFlavor } from '../reports/kinds.ts';
import type { ReportCollection } from './report-collections.ts';
import {
  MANAGED_BY_SELECTOR,
  collectionsOf,
  collectionPath,
  describeCollection,
  groupVersionPath,
} from './report-collections.ts';

/** What the cluster findings API reads: the findings, or why there are none to serve. */
export type ClusterFindings =
  | { readonly serving: true; readonly stale: boolean; readonly index: ClusterFindingsIndex }
  | { readonly serving: false; readonly reason: string };

export interface ClusterReportsSource {
  findings(): ClusterFindings;
  /** The report objects labeled for `node`, or why the controller cannot tell yet. */
  ownReports(node: string): Result<readonly ReportRef[], string>;
  stop(): Promise<void>;
}

/** `--reports off`: nothing is watched, and both questions are answered with why. */
export function reportsOff(): ClusterReportsSource {
  const reason =
    'pullwatch controller runs with --reports off: it watches no reports and serves no cluster findings';
  return {
    findings: () => ({ serving: false, reason }),
    ownReports: () => err(reason),
    stop: () => Promise.resolve(),
  };
}

export interface ClusterReportsWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly connections?: ApiServerConnections;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly flavor: ReportFlavor;
  /** agent/reports/decode.ts findingsOfClusterReport. */
  readonly decode: DecodeClusterReport;
  /** How often discovery is asked whether a CRD is installed while a list fails (default 30 s). */
  readonly crdProbeIntervalMs?: number;
  readonly tuning?: ListWatchTuning;
}

/** Asks discovery whether the API server serves the collection. */
async function probeCrd(
  options: ClusterReportsWatchOptions,
  collection: ReportCollection,
  signal: AbortSignal,
): Promise<CrdPresence> {
  const answer = await getJson(
    options.kubeConfig,
    groupVersionPath(collection),
    {},
    {
      signal,
      timeoutMs: 10_000,
      ...(options.connections ? { connections: options.connections } : {}),
    },
  );
  if (!answer.ok) {
    return answer.error.kind === 'http' && answer.error.status === 404 ? 'missing' : 'unknown';
  }
  const resources = (answer.value as { resources?: unknown }).resources;
  if (!Array.isArray(resources)) return 'unknown';
  return resources.some((r) => (r as { name?: unknown } | null)?.name === collection.resource)
    ? 'installed'
    : 'missing';
}

interface WatchedCollection {
  readonly collection: ReportCollection;
  readonly watch: ListWatch<WatchedReport>;
  crd: CrdPresence;
}

export function watchClusterReports(options: ClusterReportsWatchOptions): ClusterReportsSource {
  const { logger, flavor } = options;
  const log = logger.child({ component: 'cluster-reports' });
  const stopping = new AbortController();
  const unreadable = new Counter({
    name: 'pullwatch_controller_reports_unreadable_total',
    help: 'Report objects the controller skipped because it could not read them, by kind.',
    labelNames: ['kind'] as const,
    registers: [options.registry],
  });

  const start = (collection: ReportCollection, onChange: () => void): WatchedCollection => {
    const decode = collection.namespaced ? undefined : options.decode;
    const skip = (report: WatchedReport): void => {
      if (report.ok) return;
      unreadable.inc({ kind: collection.kind });
      log.warn(
        { kind: collection.kind, report: report.name, reason: report.problem },
        'a report could not be read: skipped',
      );
    };
    return {
      collection,
      crd: 'unknown',
      watch: startListWatch<WatchedReport>({
        ...options.tuning,
        kubeConfig: options.kubeConfig,
        ...(options.connections ? { connections: options.connections } : {}),
        path: collectionPath(collection),
        labelSelector: MANAGED_BY_SELECTOR,
        decode: (object) => watchReport(object, collection, decode),
        onChange: (change) => {
          if (change.type === 'resync') [...change.added, ...change.modified].forEach(skip);
          else if (change.type !== 'deleted') skip(change.object);
          onChange();
        },
        logger,
      }),
    };
  };

  let index: ClusterFindingsIndex | undefined;
  const collections = collectionsOf(flavor);
  const cluster = start(collections.cluster, () => {
    index = undefined;
  });
  const namespaced = start(collections.namespaced, () => undefined);
  const both = [cluster, namespaced];

  new Gauge({
    name: 'pullwatch_controller_cluster_findings',
    help: "Findings the controller serves for the whole cluster, from the agents' cluster reports.",
    registers: [options.registry],
    collect() {
      this.set(cluster.watch.status().synced ? currentIndex().findings.length : 0);
    },
  });
  new Gauge({
    name: 'pullwatch_controller_reports_watch_up',
    help: "1 while the controller's watch of a report kind is current, by kind.",
    labelNames: ['kind'] as const,
    registers: [options.registry],
    collect() {
      for (const w of both) this.set({ kind: w.collection.kind }, w.watch.status().up ? 1 : 0);
    },
  });

  const currentIndex = (): ClusterFindingsIndex => {
    index ??= indexFindings(cluster.watch.items().values());
    return index;
  };

  // Discovery is asked while a collection has not been listed: once at start, then now and
  // then, so that a CRD installed later is noticed in the log too.
  const probeInterval = options.crdProbeIntervalMs ?? 30_000;
  const probing = (async () => {
    while (!stopping.signal.aborted) {
      for (const w of both) {
        if (w.watch.status().synced) continue;
        const found = await probeCrd(options, w.collection, stopping.signal);
        if (found === w.crd || found === 'unknown') continue;
        if (found === 'missing')
          log.warn(
            { crd: describeCollection(w.collection) },
            `the ${w.collection.kind} CRD is not installed: the controller serves no cluster findings until it is (the broker is unaffected)`,
          );
        else if (w.crd === 'missing')
          log.info(
            { crd: describeCollection(w.collection) },
            `the ${w.collection.kind} CRD is installed now`,
          );
        w.crd = found;
      }
      if (both.every((w) => w.watch.status().synced)) return;
      await sleep(probeInterval, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  })();

  return {
    findings() {
      const availability = availabilityOf(cluster.watch.status(), cluster.crd, cluster.collection);
      return availability.serving ? { ...availability, index: currentIndex() } : availability;
    },
    ownReports(node) {
      const refs: ReportRef[] = [];
      for (const w of both) {
        const availability = availabilityOf(w.watch.status(), w.crd, w.collection);
        if (!availability.serving) return err(availability.reason);
        // Deletions are decided from this answer: one missing what the agent wrote lately
        // would leave objects behind.
        if (availability.stale)
          return err(
            `the controller's watch of ${describeCollection(w.collection)} is down; ask again shortly`,
          );
        refs.push(...reportsOfNode(node, w.watch.items().values()));
      }
      return ok(refs);
    },
    async stop() {
      stopping.abort();
      await Promise.all([probing, cluster.watch.stop(), namespaced.watch.stop()]);
    },
  };
}

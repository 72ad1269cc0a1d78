// Pods on this node that pullwatch's admission webhook did not prevent: they run (or are about
// to start) another tenant's private image from the node's cache, an
// unauthorized-cached-image-use finding. The webhook sets imagePullPolicy Always on every
// container it names in the pod's pullwatch.dev/forced-always-pull annotation, and that rule
// never flags an Always container, so each such pod is one the webhook did not see or change:
// created while it was down (failurePolicy Ignore), in an excluded or warn-mode namespace, by
// a path it is not called on, or before it was installed (README "Prevention").
//
// Counted per namespace, as kube-state-metrics labels a pod's namespace, with no pod label:
// pullwatch_finding_info names the pods (capped), this count is never capped.
import { Gauge } from 'prom-client';
import type { Finding } from '../detect/finding.ts';
import type { RegisterCollector } from './collector.ts';

/** Distinct pods per namespace with an unprevented unauthorized cached-image use. */
export function unpreventedPods(findings: readonly Finding[]): Map<string, number> {
  const pods = new Map<string, Set<string>>();
  for (const finding of findings) {
    if (finding.rule !== 'unauthorized-cached-image-use' || finding.pullPolicy === 'Always')
      continue;
    const inNamespace = pods.get(finding.namespace) ?? new Set<string>();
    inNamespace.add(finding.podUid);
    pods.set(finding.namespace, inNamespace);
  }
  return new Map([...pods].map(([namespace, uids]) => [namespace, uids.size]));
}

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_unprevented_pods',
    help: "Pods on the node that start another tenant's private image from the cache with a pull policy other than Always: admissions pullwatch's webhook did not prevent, by namespace.",
    labelNames: ['namespace'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [namespace, count] of unpreventedPods(view.findings()))
        this.set({ namespace }, count);
    },
  });
  registry.renderOncePer('pullwatch_unprevented_pods', () => view.findings());
};

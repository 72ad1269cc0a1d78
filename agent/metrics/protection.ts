// What protects this node against the cached-image leak: AlwaysPullImages (or a policy
// equivalent), the kubelet's KEP-2535 credential verification and its configured policy.
import { Gauge } from 'prom-client';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_node_protection_info',
    help: 'Always 1; labels say which mechanism protects the node (protected_by), whether pulls are forced (always_pull_images), whether the kubelet visibly verifies cached images (kubelet_verification), its configured policy (kubelet_policy) and the pullwatch webhook mode (webhook).',
    labelNames: [
      'protected_by',
      'always_pull_images',
      'kubelet_verification',
      'kubelet_policy',
      'webhook',
    ] as const,
    registers: [registry],
    collect() {
      this.reset();
      const protection = view.protection();
      this.set(
        {
          protected_by: protection.protectedBy,
          always_pull_images: protection.alwaysPullImages,
          kubelet_verification: protection.kubeletVerification,
          kubelet_policy: protection.kubeletPolicy,
          webhook: protection.webhook,
        },
        1,
      );
    },
  });
};

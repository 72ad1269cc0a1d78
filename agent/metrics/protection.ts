// What protects this node against the cached-image leak: AlwaysPullImages (or a policy
// equivalent) and the kubelet's KEP-2535 credential verification.
import { Gauge } from 'prom-client';
import type { RegisterCollector } from './collector.ts';

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_node_protection_info',
    help: 'Always 1; labels say whether pulls are forced (always_pull_images) and whether the kubelet verifies credentials of cached images (kubelet_verification).',
    labelNames: ['always_pull_images', 'kubelet_verification'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const protection = view.protection();
      this.set(
        {
          always_pull_images: protection.alwaysPullImages,
          kubelet_verification: protection.kubeletVerification,
        },
        1,
      );
    },
  });
};

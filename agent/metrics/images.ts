// The node's image cache by visibility: how many images, and how many bytes, are private.
import { Gauge } from 'prom-client';
import type { Visibility } from '../model/snapshot.ts';
import type { RegisterCollector } from './collector.ts';

function zeroByVisibility(): Record<Visibility, number> {
  return { public: 0, private: 0, unknown: 0 };
}

export const register: RegisterCollector = (registry, view) => {
  new Gauge({
    name: 'pullwatch_cached_images',
    help: 'Images in the node cache, by the visibility of their repository (public, private, unknown).',
    labelNames: ['visibility'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = zeroByVisibility();
      for (const image of view.images()) counts[image.visibility] += 1;
      for (const [visibility, count] of Object.entries(counts)) this.set({ visibility }, count);
    },
  });
  new Gauge({
    name: 'pullwatch_cached_image_bytes',
    help: 'Size of the images in the node cache as the runtime reports it, by visibility.',
    labelNames: ['visibility'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const bytes = { public: 0n, private: 0n, unknown: 0n } satisfies Record<Visibility, bigint>;
      for (const image of view.images()) bytes[image.visibility] += image.sizeBytes;
      // A float64 sample is exact to 2^53 bytes (8 PiB): far beyond any node's cache.
      for (const [visibility, total] of Object.entries(bytes)) {
        this.set({ visibility }, Number(total));
      }
    },
  });
  // Thousands of images, summed again only when the cache listing or its judgement changed.
  registry.renderOncePer('pullwatch_cached_images', () => view.images());
  registry.renderOncePer('pullwatch_cached_image_bytes', () => view.images());
};

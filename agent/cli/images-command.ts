import { parseArgs } from 'node:util';
import { byCodeUnits } from '../code-unit-order.ts';
import { connectCri } from '../cri/client.ts';
import { resolveCriEndpoint } from '../cri/endpoint.ts';
import { describeCriError } from '../cri/errors.ts';
import type { InventoryEntry } from '../image/inventory.ts';
import { Inventory } from '../image/inventory.ts';
import type { CommandIo } from './io.ts';
import { EXIT, parseOutputFormat } from './io.ts';
import { formatBytes, renderTable, toJson } from './table.ts';

export const imagesUsage = `Usage: pullwatch images [--cri-endpoint unix:///path.sock] [--output table|json]

Lists the node's image cache as the container runtime reports it over CRI:
one row per image ID with every tag and digest it is known by.

  --cri-endpoint   runtime socket (env PULLWATCH_CRI_ENDPOINT); default: the first
                   well-known socket found (containerd, k3s/RKE2, MicroK8s, CRI-O, cri-dockerd)
  --output         table (default) or json
`;

export async function imagesCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'cri-endpoint': { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help === true) {
    io.stdout(imagesUsage);
    return EXIT.ok;
  }
  const output = parseOutputFormat(values.output);
  const endpoint = await resolveCriEndpoint(
    values['cri-endpoint'] ?? io.env.PULLWATCH_CRI_ENDPOINT,
  );
  if (!endpoint.ok) {
    io.stderr(`pullwatch images: ${endpoint.error.message}\n`);
    return EXIT.failure;
  }
  const cri = connectCri(endpoint.value);
  try {
    const version = await cri.version();
    if (!version.ok) {
      io.stderr(`pullwatch images: ${describeCriError(version.error)}\n`);
      return EXIT.failure;
    }
    const listing = await cri.listImages();
    if (!listing.ok) {
      io.stderr(`pullwatch images: ${describeCriError(listing.error)}\n`);
      return EXIT.failure;
    }
    const inventory = new Inventory(listing.value.items);
    const images = [...inventory.entries()].sort((a, b) => byCodeUnits(a.id, b.id));
    const warn = (text: string): void => {
      io.stderr(`pullwatch images: warning: ${text}\n`);
    };
    for (const r of listing.value.rejected) {
      warn(`runtime listed an unusable image (#${r.index}): ${r.reason}`);
    }
    for (const r of inventory.rejectedImages)
      warn(`runtime listed an unusable image ID: ${r.reason}`);
    for (const image of images) {
      for (const u of image.unparsedNames) warn(`${image.id}: ${u.listedAs} ${u.error.message}`);
    }
    if (output === 'json') {
      io.stdout(
        toJson({
          runtime: {
            endpoint: endpoint.value.target,
            criApi: version.value.api,
            name: version.value.runtimeName,
            version: version.value.runtimeVersion,
          },
          items: images.map(imageJson),
        }) + '\n',
      );
    } else {
      io.stdout(renderImageTable(images));
    }
    return EXIT.ok;
  } finally {
    cri.close();
  }
}

function imageJson(image: InventoryEntry): Record<string, unknown> {
  return {
    imageId: image.id,
    repoTags: image.repoTags,
    repoDigests: image.repoDigests,
    sizeBytes: image.sizeBytes,
    pinned: image.pinned,
  };
}

function renderImageTable(images: readonly InventoryEntry[]): string {
  const rows = images.map((image) => {
    const names = image.repoTags.length > 0 ? image.repoTags : image.repoDigests;
    return [
      image.id.replace(/^sha256:/, '').slice(0, 13),
      formatBytes(image.sizeBytes),
      image.pinned ? 'yes' : '',
      names.length > 0 ? names.join(', ') : '<none>',
    ];
  });
  return renderTable(['IMAGE ID', 'SIZE', 'PINNED', 'NAMES'], rows);
}

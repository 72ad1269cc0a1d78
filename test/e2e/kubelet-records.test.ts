// The kubelet's KEP-2535 records are read when a listing brings an image, not on the next
// resync: an image no running pod uses, whose only evidence of ownership is the kubelet's
// record, has its owner in the first answer after /readyz, and a newly pulled one within a
// cache poll. The embedded runtime and API server stand in for the node (the same gRPC and
// HTTP the agent uses); the records are files in a temp kubelet root, as the kubelet writes them.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import type { CriImage } from '../../agent/cri/types.ts';
import { startEmbeddedCriRuntime } from '../kit/embedded/cri-runtime.ts';
import { startEmbeddedApiServer } from '../kit/embedded/kube-apiserver.ts';
import { markRunning, pendingPod } from '../kit/embedded/kubelet-pods.ts';
import type { ImageId } from '../../agent/image/digest.ts';
import { recordPathForImageId } from '../../agent/provenance/kubelet-record-format.ts';
import { kubeletCredentialHash } from '../../agent/credentials/pull-secret.ts';
import { startInProcessAgent } from '../helpers/in-process-agent.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const NODE = 'node-1';
const REGISTRY = 'registry.example.com';

function cached(repository: string, seed: string): CriImage {
  return {
    id: `sha256:${seed.repeat(64 / seed.length)}`,
    repoTags: [`${REGISTRY}/${repository}:v1`],
    repoDigests: [`${REGISTRY}/${repository}@sha256:${'d'.repeat(64)}`],
    sizeBytes: 1000n,
    pinned: false,
  };
}

/** As the kubelet writes a pulled record: a temp file renamed into place. */
async function writePulledRecord(kubeletRoot: string, image: CriImage, secret: string) {
  const path = recordPathForImageId(kubeletRoot, image.id as ImageId);
  await mkdir(dirname(path), { recursive: true });
  const name = (image.repoTags[0] ?? '').replace(/:v1$/, '');
  const record = {
    kind: 'ImagePulledRecord',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    lastUpdatedTime: new Date().toISOString(),
    imageRef: image.id,
    credentialMapping: {
      [name]: {
        kubernetesSecrets: [
          {
            uid: `uid-${secret}`,
            namespace: 'tenant-a',
            name: secret,
            credentialHash: kubeletCredentialHash('a', `pw-${secret}`),
          },
        ],
      },
    },
  };
  await writeFile(`${path}.tmp`, JSON.stringify(record));
  await rename(`${path}.tmp`, path);
}

t.test(
  "an image only the kubelet's record explains has its owner as soon as the agent is ready, and a new pull within a poll",
  async (t) => {
    const dir = await makeTempDir(t, 'kubelet-records');
    const kubeletRoot = join(dir, 'kubelet');
    const billing = cached('team-a/billing', 'b1');
    const tool = cached('shared/tool', 'c2');
    await writePulledRecord(kubeletRoot, billing, 'regcred');
    const runtime = await startEmbeddedCriRuntime(join(dir, 'cri.sock'), {
      images: [billing, tool],
    });
    t.teardown(() => runtime.stop());
    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    for (const ns of ['tenant-a', 'tenant-b'])
      api.store.create('namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
      });
    // tenant-b runs another image with IfNotPresent: billing would start from the cache for it.
    api.store.create(
      'pods',
      pendingPod('tenant-b', 'b-pod', {
        node: NODE,
        image: tool.repoTags[0] ?? '',
        pullPolicy: 'IfNotPresent',
      }),
    );
    api.store.modify(
      'pods',
      { namespace: 'tenant-b', name: 'b-pod' },
      markRunning(`docker-pullable://${tool.repoDigests[0] ?? ''}`),
    );
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, api.kubeconfigYaml());
    const agent = await startInProcessAgent(t, {
      nodeName: NODE,
      criEndpoint: runtime.target,
      kubeconfigPath,
      stateDir: join(dir, 'state'),
      kubeletRoot,
      // The resync (which re-reads every record) is far away: only the listing can bring them.
      extraArgs: [
        '--registry-probe',
        'off',
        '--resync-interval',
        '10m',
        '--cri-poll-interval',
        '1s',
      ],
    });

    await waitFor(
      'the agent to be ready',
      () => (agent.agent.view.readiness().ready ? true : undefined),
      10_000,
      5,
    );
    const owner = { tenant: 'tenant-a', namespace: 'tenant-a', secret: 'regcred' };
    t.same(
      agent.image(billing.id)?.owners,
      [owner],
      "the first answer after ready uses the kubelet's record",
    );
    t.match(
      agent.agent.view.findings().find((f) => f.rule === 'private-image-exposed'),
      { imageId: billing.id, exposedTenants: ['tenant-b'], owners: [owner] },
      'and so private-image-exposed is there from the start',
    );

    // A new pull: the kubelet writes its record, the runtime lists the image.
    const invoices = cached('team-a/invoices', 'e3');
    await writePulledRecord(kubeletRoot, invoices, 'regcred-2');
    runtime.setContents({ images: [billing, tool, invoices] });
    const newOwners = await waitFor(
      'the new image to get its owner from its record',
      () => {
        const owners = agent.image(invoices.id)?.owners;
        return owners !== undefined && owners.length > 0 ? owners : undefined;
      },
      5_000,
      20,
    );
    t.same(newOwners, [{ ...owner, secret: 'regcred-2' }], 'within a cache poll, not a resync');
  },
);

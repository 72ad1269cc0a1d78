// The install manifests as `kubectl apply -k` would send them, rendered by the real kustomize
// bundled in kubectl: shared by the manifest tests and the admission policy's CEL test.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { findTool, requireTools } from '../helpers/real-parts.ts';
import type { SkipOrFail } from '../helpers/real-parts.ts';

const exec = promisify(execFile);

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** kubectl's bundled kustomize must be v5: older ones reject `components` and `labels`. */
async function requireModernKustomize(t: SkipOrFail, kubectl: string): Promise<boolean> {
  const { stdout } = await exec(kubectl, ['version', '--client', '-o', 'json']);
  const info = JSON.parse(stdout) as {
    clientVersion?: { gitVersion?: string };
    kustomizeVersion?: string;
  };
  const major = Number(/^v(\d+)\./.exec(info.kustomizeVersion ?? '')?.[1] ?? 0);
  if (major >= 5) return true;
  const message =
    `kubectl ${info.clientVersion?.gitVersion ?? '?'} bundles kustomize ` +
    `${info.kustomizeVersion ?? 'v2 or older'}; the manifests need kustomize v5 ` +
    `(kubectl 1.27 or newer; Debian's kubernetes-client 1.20 is too old)`;
  if (process.env.CI === 'true') t.fail(`CI=true and the manifests cannot be rendered: ${message}`);
  else t.plan(0, `skipped: ${message}`);
  return false;
}

/**
 * The kubectl that renders the manifests, or undefined after skipping the test (failing it
 * when CI=true) because there is none, or none with kustomize v5.
 */
export async function kubectlForManifests(t: SkipOrFail): Promise<string | undefined> {
  if (!requireTools(t, ['kubectl'], { root: false })) return undefined;
  const kubectl = findTool('kubectl') ?? 'kubectl';
  return (await requireModernKustomize(t, kubectl)) ? kubectl : undefined;
}

/** The objects `kubectl kustomize dir` renders. */
export async function render(kubectl: string, dir: string): Promise<KubeObject[]> {
  const { stdout } = await exec(kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
  return YAML.parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as unknown)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

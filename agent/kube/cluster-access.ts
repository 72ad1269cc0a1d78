// Where the API server is and how a request to it gets its credentials: the one port every
// request to the API server goes through (kube-http.ts). client-node's KubeConfig fits it as is;
// in a pod, the agent uses its own in-cluster access (in-cluster.ts) and never loads client-node,
// whose KubeConfig imports the whole generated API (+42 MiB of RSS where the agent loaded it,
// +21 MiB of V8 heap; BENCHMARKS.md section 3).
import type https from 'node:https';
import { inClusterAccess, SERVICE_ACCOUNT_DIR } from './in-cluster.ts';

export interface ClusterAccess {
  /** The API server's address, and the proxy a kubeconfig may put in front of it. */
  getCurrentCluster(): { readonly server: string; readonly proxyUrl?: string | undefined } | null;
  /** Puts the CA, client certificate and bearer token a request needs into its options. */
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

export interface AccessLookup {
  /** --kubeconfig, when given. */
  readonly kubeconfig?: string | undefined;
  /** Where the pod's service account token and CA are mounted. */
  readonly serviceAccountDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The kubeconfig lookup kubectl and client-go's controllers use: --kubeconfig if given, else
 * in-cluster when the pod's environment says so (KUBERNETES_SERVICE_HOST), else $KUBECONFIG or
 * ~/.kube/config. Throws with the reason when none of them is usable.
 */
export async function loadClusterAccess(lookup: AccessLookup = {}): Promise<ClusterAccess> {
  const env = lookup.env ?? process.env;
  if (lookup.kubeconfig === undefined && env['KUBERNETES_SERVICE_HOST'] !== undefined) {
    const access = inClusterAccess(env, lookup.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    if (!access.ok) throw new Error(access.error);
    return access.value;
  }
  // Loaded only here: a kubeconfig file may hold anything client-node understands (client
  // certificates, exec plugins, OIDC, proxies), which is what client-node is for.
  const { loadKubeConfig } = await import('./kubeconfig.ts');
  return loadKubeConfig(lookup.kubeconfig);
}

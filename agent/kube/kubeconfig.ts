// client-node's kubeconfig lookup, for the controller and for an agent run outside a pod. The
// agent imports this module only when it needs a kubeconfig (cluster-access.ts): KubeConfig
// brings client-node's whole generated API with it.
import { KubeConfig } from '@kubernetes/client-node';

/** --kubeconfig if given, else in-cluster (client-node's), else $KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) kc.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST'] !== undefined) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

// The controller's watch of the agents' reports against the in-process API server: without the
// CRDs it says so (log and reason) and keeps the broker's readiness alone.
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import t from 'tap';
import { capturedLogger } from '../../test/kit/http/serve-app.ts';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { err } from '../result.ts';
import { reportsOff, watchClusterReports } from './cluster-reports-watch.ts';

t.test(
  'without the CRDs installed, both questions are answered with what to install',
  async (t) => {
    const api = await startEmbeddedApiServer();
    t.teardown(() => api.stop());
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(api.kubeconfigYaml());
    const log = capturedLogger();
    const registry = new Registry();
    const reports = watchClusterReports({
      kubeConfig,
      logger: log.logger,
      registry,
      flavor: 'openreports',
      decode: () => err('not asked'),
      tuning: { backoff: { initialMs: 20, maxMs: 100 } },
    });
    t.teardown(() => reports.stop());
    const reason = await waitFor(
      'the reason to name the missing CRD',
      async () => {
        const findings = reports.findings();
        return !findings.serving && findings.reason.includes('not installed')
          ? findings.reason
          : undefined;
      },
      10_000,
    );
    t.match(
      reason,
      /ClusterReport CRD \(clusterreports\.openreports\.io\/v1alpha1\) is not installed/,
    );
    const own = reports.ownReports('node-1');
    t.match(
      own,
      { ok: false, error: /CRD .* is not installed/ },
      'an agent is told why, not "none"',
    );
    t.ok(
      log.lines.some((l) => l.includes('the ClusterReport CRD is not installed')),
      'the log says so',
    );
    t.match(
      await registry.metrics(),
      /pullwatch_controller_cluster_findings 0/,
      'no findings counted',
    );
  },
);

t.test('--reports off serves nothing and says so', async (t) => {
  const off = reportsOff();
  t.match(off.findings(), { serving: false, reason: /--reports off/ });
  t.match(off.ownReports('node-1'), { ok: false, error: /--reports off/ });
  await off.stop();
});

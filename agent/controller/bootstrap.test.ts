// What the controller makes on its first start, against the in-process API server: the
// cluster-wide fingerprint key and the serving certificate, each once even when replicas race,
// and the CA bundle the agents trust.
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import type { TeardownHost } from '../../test/helpers/tmp.ts';
import { startEmbeddedApiServer } from '../../test/kit/embedded/kube-apiserver.ts';
import { loadOrCreateClusterKey } from './fingerprint-key.ts';
import {
  issueServingCertificate,
  loadOrCreateServingCertificate,
  publishCaBundle,
  serviceNames,
} from './serving-certificate.ts';

async function apiServer(t: TeardownHost) {
  const api = await startEmbeddedApiServer();
  t.teardown(() => api.stop());
  api.store.create('namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'pullwatch' },
  });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  return { api, kc };
}

t.test('two replicas starting together end with one fingerprint key', async (t) => {
  const { api, kc } = await apiServer(t);
  const secret = { namespace: 'pullwatch', name: 'pullwatch-fingerprint-key' };
  const [a, b, c] = await Promise.all([
    loadOrCreateClusterKey(kc, secret),
    loadOrCreateClusterKey(kc, secret),
    loadOrCreateClusterKey(kc, secret),
  ]);
  if (!a?.ok || !b?.ok || !c?.ok) throw new Error('no key');
  t.same(Buffer.from(a.value), Buffer.from(b.value));
  t.same(Buffer.from(a.value), Buffer.from(c.value));
  const stored = api.store.list('secrets', { namespace: 'pullwatch' });
  t.equal(stored.ok && stored.value.length, 1, 'one Secret');
  const again = await loadOrCreateClusterKey(kc, secret);
  t.same(again.ok && Buffer.from(again.value), Buffer.from(a.value), 'a restart reads it back');
});

t.test('the serving certificate names the Service and chains to its CA', async (t) => {
  const names = serviceNames('pullwatch-controller', 'pullwatch');
  const made = issueServingCertificate(names);
  const cert = new X509Certificate(made.cert);
  const ca = new X509Certificate(made.ca);
  t.ok(cert.verify(ca.publicKey), 'signed by the CA');
  t.ok(ca.ca, 'the CA is a CA');
  t.notOk(cert.ca, 'the serving certificate is not');
  for (const name of names) t.equal(cert.checkHost(name), name, `valid for ${name}`);
  t.equal(cert.checkHost('pullwatch-controller.other.svc'), undefined);
});

t.test(
  'an IP address among the names is an IP SAN, which a client connecting by it checks',
  async (t) => {
    const made = issueServingCertificate(['127.0.0.1', '::1', 'localhost']);
    const cert = new X509Certificate(made.cert);
    t.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    t.equal(cert.checkIP('::1'), '::1');
    t.equal(cert.checkIP('127.0.0.2'), undefined);
    t.equal(cert.checkHost('localhost'), 'localhost');
    t.equal(cert.checkHost('127.0.0.1'), undefined, 'not also a DNS name');
    const legacy = cert.toLegacyObject();
    t.equal(checkServerIdentity('127.0.0.1', legacy), undefined, 'TLS accepts it for 127.0.0.1');
    t.ok(checkServerIdentity('127.0.0.2', legacy) instanceof Error, 'and not for another address');
  },
);

t.test(
  'replicas racing make one TLS Secret; the CA bundle is published and follows it',
  async (t) => {
    const { api, kc } = await apiServer(t);
    const ref = {
      namespace: 'pullwatch',
      name: 'pullwatch-controller-tls',
      service: 'pullwatch-controller',
    };
    const [a, b] = await Promise.all([
      loadOrCreateServingCertificate(kc, ref),
      loadOrCreateServingCertificate(kc, ref),
    ]);
    if (!a?.ok || !b?.ok) throw new Error('no certificate');
    t.equal(a.value.cert, b.value.cert, 'both use the same certificate');
    const configMap = { namespace: 'pullwatch', name: 'pullwatch-controller-ca' };
    t.ok((await publishCaBundle(kc, configMap, a.value.ca)).ok);
    t.ok((await publishCaBundle(kc, configMap, a.value.ca)).ok, 'publishing again changes nothing');
    const other = issueServingCertificate(['x']);
    t.ok((await publishCaBundle(kc, configMap, other.ca)).ok, 'a new CA replaces the old bundle');
    const stored = api.store.get('configmaps', configMap);
    t.equal(
      stored.ok && (stored.value as { data?: Record<string, string> }).data?.['ca.crt'],
      other.ca,
    );
  },
);

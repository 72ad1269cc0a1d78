// The controller's TLS Secret rotated under a running server, with real TLS on loopback: a
// client sees the new certificate after the next re-read; a pair that does not fit together is
// refused, counted, and the old certificate served on.
import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import t from 'tap';
import { selfSignedCertificate, tlsSkipReason } from '../../test/helpers/tls.ts';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import { capturedLogger } from '../../test/kit/http/serve-app.ts';
import { startHttpServer, type CertificateReload } from '../http/server.ts';
import { err, ok, type Result } from '../result.ts';
import type { ServingCertificate } from './serving-certificate.ts';
import { reloadTlsSecretPeriodically } from './tls-secret-reload.ts';

const skip = await tlsSkipReason();

/** The CN of the certificate a new connection is served. */
function servedName(address: string): Promise<string> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''));
    });
    socket.on('error', reject);
  });
}

async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

t.test('a rotated TLS Secret is served without a restart', { skip }, async (t) => {
  const dir = await makeTempDir(t, 'tls-secret-reload');
  const pem = async (name: string): Promise<ServingCertificate> => {
    const files = await selfSignedCertificate(dir, name);
    const cert = await readFile(files.cert, 'utf8');
    return { cert, key: await readFile(files.key, 'utf8'), ca: cert };
  };
  const [first, second, third] = await Promise.all([pem('first'), pem('second'), pem('third')]);
  const reloads: CertificateReload[] = [];
  const server = await startHttpServer({
    app: (_req, res) => res.end('ok'),
    listen: '127.0.0.1:0',
    tls: { cert: first.cert, key: first.key },
    onCertificateReload: (result) => reloads.push(result),
  });
  t.teardown(() => server.stop());
  let inSecret: Result<ServingCertificate, string> = ok(first);
  const published: string[] = [];
  const log = capturedLogger();
  const stop = reloadTlsSecretPeriodically({
    read: () => Promise.resolve(inSecret),
    replace: (pair) => server.replaceCertificate(pair),
    publishCa: (ca) => {
      published.push(ca);
      return Promise.resolve(ok(undefined));
    },
    current: first,
    intervalMs: 20,
    logger: log.logger,
  });
  t.teardown(stop);
  t.equal(await servedName(server.address), 'first');

  inSecret = ok({ ...third, key: second.key });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(await servedName(server.address), 'first', 'a pair that does not fit: the old one stays');
  t.ok(reloads.includes('rejected'), 'and the refusal is counted');
  t.ok(
    log.lines.some((l) => l.includes('does not fit together')),
    'and said',
  );

  inSecret = err('reading the TLS secret pullwatch/pullwatch-controller-tls failed: timeout');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(await servedName(server.address), 'first', 'a failed read changes nothing');

  inSecret = ok(second);
  t.ok(
    await eventually(async () => (await servedName(server.address)) === 'second'),
    'a client sees the new certificate after the rotation',
  );
  t.same(reloads.filter((r) => r === 'reloaded').length, 1);
  t.same(published, [second.ca], "the rotation's CA is published for the agents");
});

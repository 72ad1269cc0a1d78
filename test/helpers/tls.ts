// Self-signed certificates for TLS tests, made with the openssl command line.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why TLS tests skip: openssl is missing on a laptop; under CI=true they run and fail instead. */
export async function tlsSkipReason(): Promise<string | false> {
  try {
    await run('openssl', ['version']);
    return false;
  } catch {
    return process.env['CI'] === 'true' ? false : 'openssl is not installed (CI=true fails)';
  }
}

/**
 * A P-256 certificate for CN `name`, valid for 127.0.0.1 (and `dnsNames`, e.g. a Service's
 * `name.namespace.svc`) for a day; the files' paths.
 */
export async function selfSignedCertificate(
  dir: string,
  name: string,
  dnsNames: readonly string[] = [],
): Promise<{ readonly cert: string; readonly key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=${['IP:127.0.0.1', ...dnsNames.map((d) => `DNS:${d}`)].join(',')}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

// The controller's serving certificate when no certificate files are given: a CA and a serving
// certificate for the controller's Service, kept in a kubernetes.io/tls Secret in pullwatch's
// namespace (tls.crt, tls.key, ca.crt). The first replica to start makes them; a replica that
// loses the race (409 on create) uses the winner's. cert-manager can make the same Secret
// instead (manifests/components/cert-manager); either way the CA goes into a ConfigMap that
// the agents mount to verify the controller.
//
// node-forge writes the certificates: Node's crypto makes keys and parses X.509 but cannot
// issue a certificate, and node-forge is the long-standing dependency-free library for it
// (selfsigned and webpack-dev-server use it). The keys themselves come from node:crypto.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import forge from 'node-forge';
import { getJson, postReview, putJson } from '../kube/kube-http.ts';
import { err, ok, type Result } from '../result.ts';

export interface ServingCertificate {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The DNS names agents reach the controller by (its Service). */
export function serviceNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

const YEAR_MS = 365 * 24 * 3600_000;

function rsaKeys(): forge.pki.rsa.KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function certificate(
  subject: string,
  keys: forge.pki.rsa.KeyPair,
  issuer: { readonly name: string; readonly key: forge.pki.rsa.PrivateKey },
  extensions: object[],
  now: number,
  lifetimeMs: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  // A positive serial: the top bit cleared.
  cert.serialNumber = `0${randomBytes(16).toString('hex')}`;
  cert.validity.notBefore = new Date(now - 5 * 60_000);
  cert.validity.notAfter = new Date(now + lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  cert.setIssuer([{ name: 'commonName', value: issuer.name }]);
  cert.setExtensions(extensions);
  cert.sign(issuer.key, forge.md.sha256.create());
  return cert;
}

/**
 * A new CA (10 years) and a serving certificate for `names` (1 year) signed by it. A name that
 * is an IP address (`127.0.0.1`, `::1`) goes in as an IP SAN, the only kind a client that
 * connects by address checks.
 */
export function issueServingCertificate(
  names: readonly string[],
  now: number = Date.now(),
): ServingCertificate {
  const caKeys = rsaKeys();
  const caName = `pullwatch-controller-ca-${randomBytes(4).toString('hex')}`;
  const ca = certificate(
    caName,
    caKeys,
    { name: caName, key: caKeys.privateKey },
    [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
    now,
    10 * YEAR_MS,
  );
  const servingKeys = rsaKeys();
  const serving = certificate(
    names[0] ?? 'pullwatch-controller',
    servingKeys,
    { name: caName, key: caKeys.privateKey },
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((value) =>
          isIP(value) === 0 ? { type: 2, value } : { type: 7, ip: value },
        ),
      },
    ],
    now,
    YEAR_MS,
  );
  return {
    cert: forge.pki.certificateToPem(serving),
    key: forge.pki.privateKeyToPem(servingKeys.privateKey),
    ca: forge.pki.certificateToPem(ca),
  };
}

export interface TlsSecretRef {
  readonly namespace: string;
  readonly name: string;
  /** The Service whose names the certificate must carry. */
  readonly service: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
const text = (value: unknown) =>
  typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : '';

function fromSecret(secret: unknown, where: string): Result<ServingCertificate, string> {
  const data = (secret as { data?: Record<string, unknown> } | null)?.data ?? {};
  const cert = text(data['tls.crt']);
  const key = text(data['tls.key']);
  const ca = text(data['ca.crt']);
  if (cert === '' || key === '' || ca === '')
    return err(`secret ${where} lacks tls.crt, tls.key or ca.crt`);
  return ok({ cert, key, ca });
}

/** The Secret's certificate as it is now (never made): what a rotation left there. */
export async function readServingCertificate(
  kubeConfig: KubeConfig,
  ref: { readonly namespace: string; readonly name: string },
  timeoutMs = 10_000,
): Promise<Result<ServingCertificate, string>> {
  const where = `${ref.namespace}/${ref.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`;
  const read = await getJson(
    kubeConfig,
    path,
    {},
    { timeoutMs, signal: new AbortController().signal },
  );
  if (!read.ok) return err(`reading the TLS secret ${where} failed: ${read.error.message}`);
  return fromSecret(read.value, where);
}

/** The Secret's certificate, made and stored when the Secret does not exist yet. */
export async function loadOrCreateServingCertificate(
  kubeConfig: KubeConfig,
  ref: TlsSecretRef,
  timeoutMs = 10_000,
): Promise<Result<ServingCertificate, string>> {
  const where = `${ref.namespace}/${ref.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets`;
  const signal = new AbortController().signal;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const existing = await getJson(
      kubeConfig,
      `${path}/${encodeURIComponent(ref.name)}`,
      {},
      { timeoutMs, signal },
    );
    if (existing.ok) return fromSecret(existing.value, where);
    if (existing.error.kind !== 'http' || existing.error.status !== 404)
      return err(`reading the TLS secret ${where} failed: ${existing.error.message}`);
    const made = issueServingCertificate(serviceNames(ref.service, ref.namespace));
    // Creating is safe to repeat: a second create answers 409 and the stored one is read.
    const created = await postReview(
      kubeConfig,
      path,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          labels: {
            'app.kubernetes.io/name': 'pullwatch-controller',
            'app.kubernetes.io/component': 'controller',
          },
        },
        data: { 'tls.crt': b64(made.cert), 'tls.key': b64(made.key), 'ca.crt': b64(made.ca) },
      },
      { timeoutMs },
    );
    if (created.ok) return ok(made);
    if (created.error.kind === 'http' && created.error.status === 409) continue;
    return err(`creating the TLS secret ${where} failed: ${created.error.message}`);
  }
  return err(`the TLS secret ${where} could not be read or created`);
}

/** Publishes the CA bundle the agents verify the controller with (ConfigMap key ca.crt). */
export async function publishCaBundle(
  kubeConfig: KubeConfig,
  ref: { readonly namespace: string; readonly name: string },
  ca: string,
  timeoutMs = 10_000,
): Promise<Result<void, string>> {
  const where = `${ref.namespace}/${ref.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps`;
  const signal = new AbortController().signal;
  const existing = await getJson(
    kubeConfig,
    `${path}/${encodeURIComponent(ref.name)}`,
    {},
    { timeoutMs, signal },
  );
  if (existing.ok) {
    const current = existing.value as { data?: Record<string, unknown> };
    if (current.data?.['ca.crt'] === ca) return ok(undefined);
    // The TLS secret was made anew (deleted, or renewed with another CA): follow it.
    const updated = await putJson(
      kubeConfig,
      `${path}/${encodeURIComponent(ref.name)}`,
      { ...current, data: { ...current.data, 'ca.crt': ca } },
      { timeoutMs },
    );
    return updated.ok || (updated.error.kind === 'http' && updated.error.status === 409)
      ? ok(undefined)
      : err(`updating the CA ConfigMap ${where} failed: ${updated.error.message}`);
  }
  if (existing.error.kind !== 'http' || existing.error.status !== 404)
    return err(`reading the CA ConfigMap ${where} failed: ${existing.error.message}`);
  const created = await postReview(
    kubeConfig,
    path,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        labels: {
          'app.kubernetes.io/name': 'pullwatch-controller',
          'app.kubernetes.io/component': 'controller',
        },
      },
      data: { 'ca.crt': ca },
    },
    { timeoutMs },
  );
  if (created.ok || (created.error.kind === 'http' && created.error.status === 409))
    return ok(undefined);
  return err(`creating the CA ConfigMap ${where} failed: ${created.error.message}`);
}

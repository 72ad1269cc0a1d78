// The serving certificate the controller made or found in its TLS Secret is read again every
// interval: whoever rotates it (an admin replacing the Secret, another replica making it anew
// after a deletion) is followed without a restart. Only a changed pair is handed to the server,
// which refuses one that does not hold together and keeps serving the old; a new CA is
// published for the agents. (Certificate files, with cert-manager, are watched by
// agent/http/server.ts itself.)
import type { Logger } from 'pino';
import type { TlsPems } from '../http/server.ts';
import type { Result } from '../result.ts';
import type { ServingCertificate } from './serving-certificate.ts';

export interface TlsSecretReloadOptions {
  /** The Secret's pair as it is now. */
  read(): Promise<Result<ServingCertificate, string>>;
  /** Serves a new pair, or says why not (the old one stays). */
  replace(pair: TlsPems): Promise<Result<void, string>>;
  publishCa(ca: string): Promise<Result<void, string>>;
  /** What is served now. */
  readonly current: ServingCertificate;
  readonly intervalMs: number;
  readonly logger: Logger;
}

/** Starts the periodic re-read; returns its stop. */
export function reloadTlsSecretPeriodically(o: TlsSecretReloadOptions): () => void {
  let current = o.current;
  let running = false;
  let lastProblem: string | undefined;
  const problem = (text: string): void => {
    if (text !== lastProblem) o.logger.warn({ source: 'tls' }, text);
    lastProblem = text;
  };
  const tick = async (): Promise<void> => {
    const read = await o.read();
    if (!read.ok) {
      problem(`${read.error}; serving the certificate loaded before`);
      return;
    }
    const next = read.value;
    if (next.cert === current.cert && next.key === current.key) {
      if (next.ca !== current.ca && (await o.publishCa(next.ca)).ok) current = next;
      return;
    }
    const replaced = await o.replace({ cert: next.cert, key: next.key });
    if (!replaced.ok) {
      // Counted and logged by the server; said once here, until the Secret changes again.
      problem(`the TLS secret holds a pair that does not fit together: ${replaced.error}`);
      return;
    }
    lastProblem = undefined;
    const published = next.ca === current.ca ? undefined : await o.publishCa(next.ca);
    if (published !== undefined && !published.ok) {
      problem(published.error);
      current = { ...next, ca: current.ca }; // published again at the next tick
      return;
    }
    current = next;
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void tick().finally(() => {
      running = false;
    });
  }, o.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}

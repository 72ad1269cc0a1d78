import { readFileSync } from 'node:fs';

// Works from the sources (agent/) and from the build (dist/agent/).
function readPackageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'pullwatch' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0-unknown';
}

export interface BuildInfo {
  readonly version: string;
  /** Set at image build time (Dockerfile ARG PULLWATCH_REVISION); "unknown" from a checkout. */
  readonly revision: string;
  readonly nodejsVersion: string;
}

export const buildInfo: BuildInfo = {
  version: readPackageVersion(),
  revision: process.env.PULLWATCH_REVISION ?? 'unknown',
  nodejsVersion: process.version,
};

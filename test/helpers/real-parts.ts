// Integration tests run real binaries (containerd, docker-registry, skopeo ...).
// requireTools decides whether a test can run here: on a developer machine a
// missing tool skips the test with a hint; in CI (CI=true) it fails the test, so
// a CI machine without the tools can never look green.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package that provides each tool the integration tests use. */
export const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  containerd: 'containerd',
  ctr: 'containerd',
  runc: 'runc',
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  htpasswd: 'apache2-utils',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  kubectl: 'kubernetes-client',
};

/** Tools that only work as root (containerd mounts, chowns and owns its state). */
const NEEDS_ROOT = new Set(['containerd', 'ctr']);

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable found on PATH (or the usual system dirs), or undefined. */
export function findTool(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''),
    ...EXTRA_DIRS,
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Like {@link findTool}, but throws with the install hint when absent. */
export function toolPath(name: string): string {
  const found = findTool(name);
  if (found === undefined) throw new Error(missingMessage([name]));
  return found;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function missingMessage(missing: readonly string[]): string {
  const packages = [...new Set(missing.map((m) => DEBIAN_PACKAGE[m] ?? m))];
  return (
    `missing tool(s): ${missing.join(', ')} ` + `(Debian: apt-get install ${packages.join(' ')})`
  );
}

/** The part of a tap `Test` requireTools uses. */
export interface SkipOrFail {
  fail(message: string): unknown;
  plan(n: number, comment?: string): void;
}

export interface RequireToolsOptions {
  /** Require uid 0. Default: true when a tool that needs root (containerd, ctr) is listed. */
  readonly root?: boolean;
}

/**
 * Returns true when every tool is installed (and we are root where needed).
 * Otherwise, with CI=true it fails the test, elsewhere it skips it (plan 0);
 * either way it returns false and the caller must return at once:
 *
 *     if (!requireTools(t, ['containerd', 'ctr'])) return;
 */
export function requireTools(
  t: SkipOrFail,
  tools: readonly string[],
  options: RequireToolsOptions = {},
): boolean {
  const problems: string[] = [];
  const missing = tools.filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) problems.push(missingMessage(missing));
  const needRoot = options.root ?? tools.some((tool) => NEEDS_ROOT.has(tool));
  const uid = process.getuid?.();
  if (needRoot && uid !== 0) {
    problems.push(
      `must run as root for ${tools.filter((x) => NEEDS_ROOT.has(x)).join(', ') || 'this test'} (uid is ${uid ?? 'unknown'})`,
    );
  }
  if (problems.length === 0) return true;
  const message = problems.join('; ');
  if (process.env.CI === 'true') {
    t.fail(`CI=true and the integration test cannot run: ${message}`);
  } else {
    t.plan(0, `skipped: ${message}`);
  }
  return false;
}

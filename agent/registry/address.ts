// Where a registry is and how to reach it: `host[:port]` as written in an image reference, the
// Docker Hub aliases, which registries are spoken to over plain HTTP (loopback, as Docker does,
// and the operator's insecure list), and the manifest URL a probe asks. Pure: no I/O.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { anchoredDigestSyntaxRegExp, anchoredTagRegExp } from '../image/grammar.ts';
import { err, ok, type Result } from '../result.ts';

/** A manifest to ask about: `registry` is `host[:port]` as in an image reference. */
export interface ManifestTarget {
  readonly registry: string;
  /** The path without the registry, e.g. `library/nginx`. */
  readonly repository: string;
  /** A digest (`sha256:...`) or a tag. */
  readonly reference: string;
}

export interface RegistryAddress {
  /** Lowercase host name or IP address (IPv6 without brackets). */
  readonly hostname: string;
  /** '' when absent. */
  readonly port: string;
  /** `hostname[:port]` with IPv6 in brackets, as in a URL. */
  readonly host: string;
}

const REGISTRY_HOST =
  /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::([0-9]{1,5}))?$/;

/** Parses `host[:port]` (IPv6 in brackets) as written in an image reference. */
export function parseRegistryAddress(registry: string): Result<RegistryAddress, string> {
  const match = REGISTRY_HOST.exec(registry);
  if (!match) return err(`not a registry host: ${JSON.stringify(registry.slice(0, 100))}`);
  const ipv6 = match[1];
  if (ipv6 !== undefined && !isIPv6(ipv6)) {
    return err(`not a registry host: ${JSON.stringify(registry.slice(0, 100))}`);
  }
  const port = match[3] ?? '';
  if (port !== '' && (Number(port) < 1 || Number(port) > 65535)) {
    return err(`registry port out of range: ${JSON.stringify(registry.slice(0, 100))}`);
  }
  const hostname = (ipv6 ?? match[2] ?? '').toLowerCase();
  const bracketed = ipv6 !== undefined ? `[${hostname}]` : hostname;
  return ok({ hostname, port, host: port === '' ? bracketed : `${bracketed}:${port}` });
}

// docker.io, index.docker.io and registry-1.docker.io are one registry; only the last serves /v2/.
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io']);
const DOCKER_HUB_API = 'registry-1.docker.io';

/** Docker treats loopback registries as insecure by default (moby registry/config.go). */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  if (isIPv4(hostname)) return hostname.startsWith('127.');
  if (isIPv6(hostname)) {
    const loopback = new BlockList();
    loopback.addAddress('::1', 'ipv6');
    return loopback.check(hostname, 'ipv6');
  }
  return false;
}

/**
 * Whether `address` is in a list of `host`, `host:port`, `[v6]:port` or CIDR entries
 * (the forms of dockerd's --insecure-registry). Unparsable entries match nothing.
 */
export function registryListIncludes(list: readonly string[], address: RegistryAddress): boolean {
  for (const entry of list) {
    const trimmed = entry.trim().toLowerCase();
    const slash = trimmed.indexOf('/');
    if (slash > 0) {
      const network = trimmed.slice(0, slash);
      const prefix = Number(trimmed.slice(slash + 1));
      const family = isIPv4(network) ? 'ipv4' : isIPv6(network) ? 'ipv6' : undefined;
      const addressFamily = isIPv4(address.hostname)
        ? 'ipv4'
        : isIPv6(address.hostname)
          ? 'ipv6'
          : undefined;
      if (family === undefined || family !== addressFamily || !Number.isInteger(prefix)) continue;
      try {
        const block = new BlockList();
        block.addSubnet(network, prefix, family);
        if (block.check(address.hostname, family)) return true;
      } catch {
        // a prefix out of range: the entry matches nothing
      }
      continue;
    }
    const parsed = parseRegistryAddress(trimmed);
    if (!parsed.ok) continue;
    if (parsed.value.hostname !== address.hostname) continue;
    if (parsed.value.port === '' || parsed.value.port === address.port) return true;
  }
  return false;
}

/** Whether plain HTTP is acceptable for `address`: loopback, or listed as insecure. */
export function plainHttpAllowed(
  address: RegistryAddress,
  insecureRegistries: readonly string[],
): boolean {
  return isLoopbackHost(address.hostname) || registryListIncludes(insecureRegistries, address);
}

/** The base URL of a registry's API: `https://host[:port]`, or `http://` for insecure ones. */
export function registryBaseUrl(
  registry: string,
  insecureRegistries: readonly string[] = [],
): Result<string, string> {
  const parsed = parseRegistryAddress(registry);
  if (!parsed.ok) return parsed;
  const address = parsed.value;
  if (address.port === '' && DOCKER_HUB_NAMES.has(address.hostname)) {
    return ok(`https://${DOCKER_HUB_API}`);
  }
  const plain = plainHttpAllowed(address, insecureRegistries);
  return ok(`${plain ? 'http' : 'https'}://${address.host}`);
}

// distribution/reference's path grammar: lowercase components joined by '/'.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

/** `BASE/v2/<repository>/manifests/<reference>`, refusing anything that is not a valid name. */
export function manifestUrl(
  target: ManifestTarget,
  insecureRegistries: readonly string[] = [],
): Result<URL, string> {
  const base = registryBaseUrl(target.registry, insecureRegistries);
  if (!base.ok) return base;
  if (target.repository.length > 255 || !REPOSITORY.test(target.repository)) {
    return err(`not a repository path: ${JSON.stringify(target.repository.slice(0, 100))}`);
  }
  if (
    !anchoredDigestSyntaxRegExp.test(target.reference) &&
    !anchoredTagRegExp.test(target.reference)
  ) {
    return err(`not a tag or digest: ${JSON.stringify(target.reference.slice(0, 100))}`);
  }
  return ok(new URL(`${base.value}/v2/${target.repository}/manifests/${target.reference}`));
}

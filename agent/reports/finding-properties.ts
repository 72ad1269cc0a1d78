// A finding as the flat string map of a report result's `properties` (the only free-form field
// of the OpenReports/PolicyReport result schema), and back. The ClusterReport carries every
// finding of its node this way, so that the controller rebuilds the agent's finding JSON from
// the report alone (agent/reports/decode.ts): keys are the finding's own field names, a list
// is `field.0`, `field.1`, ... and an owner `owners.0.tenant`; a null or empty field has no
// key. The rule, severity and first-seen time travel in the result's own fields.
import type { Confidence, Finding, OwnerRef, Rule, Severity } from '../detect/finding.ts';
import { CONFIDENCES, RULES, SEVERITIES } from '../detect/finding.ts';
import type { ContainerKind, PullPolicy, TenantId } from '../model/snapshot.ts';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';

export type Properties = Readonly<Record<string, string>>;

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const satisfies readonly PullPolicy[];
const CONTAINER_KINDS = [
  'init',
  'regular',
  'ephemeral',
] as const satisfies readonly ContainerKind[];

/** The finding's id under its own name in every pullwatch result (namespaced ones too). */
export const FINDING_ID = 'findingId';

function putList(out: Record<string, string>, field: string, values: readonly string[]): void {
  values.forEach((value, index) => (out[`${field}.${index}`] = value));
}

function putOwners(out: Record<string, string>, field: string, owners: readonly OwnerRef[]): void {
  owners.forEach((owner, index) => {
    out[`${field}.${index}.tenant`] = owner.tenant;
    out[`${field}.${index}.namespace`] = owner.namespace;
    if (owner.secret !== null) out[`${field}.${index}.secret`] = owner.secret;
  });
}

/**
 * Every field of the finding but its rule, severity and times (which the result holds in
 * `rule`, `severity` and `timestamp`; lastSeen is the report's, see decode.ts).
 */
export function findingProperties(finding: Finding): Properties {
  const out: Record<string, string> = {
    [FINDING_ID]: finding.id,
    confidence: finding.confidence,
    node: finding.node,
  };
  if (finding.rule !== 'always-pull-images-not-enforced') {
    if (finding.rule === 'unauthorized-cached-image-use') {
      out['tenant'] = finding.tenant;
      out['namespace'] = finding.namespace;
      out['pod'] = finding.pod;
      out['podUid'] = finding.podUid;
      out['container'] = finding.container;
      out['containerKind'] = finding.containerKind;
      out['pullPolicy'] = finding.pullPolicy;
    }
    out['image'] = finding.image;
    out['imageId'] = finding.imageId;
    if (finding.repoDigest !== null) out['repoDigest'] = finding.repoDigest;
    out['registry'] = finding.registry;
    out['repository'] = finding.repository;
    putOwners(out, 'owners', finding.owners);
    if (finding.rule === 'unauthorized-cached-image-use')
      putOwners(out, 'possibleOwners', finding.possibleOwners);
    else putList(out, 'exposedTenants', finding.exposedTenants);
  } else {
    for (const policy of PULL_POLICIES)
      out[`containersByPolicy.${policy}`] = String(finding.containersByPolicy[policy]);
  }
  putList(out, 'evidence', finding.evidence);
  out['remediation'] = finding.remediation;
  return out;
}

/** What a result says besides its properties. */
export interface ResultFacts {
  readonly rule: string;
  readonly severity: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** Reads properties, remembering the first key that is missing or wrong. */
class PropertyReader {
  readonly #properties: Properties;
  problem: string | undefined;

  constructor(properties: Properties) {
    this.#properties = properties;
  }

  optional(key: string): string | null {
    return Object.hasOwn(this.#properties, key) ? (this.#properties[key] ?? null) : null;
  }

  text(key: string): string {
    const value = this.optional(key);
    if (value === null) this.problem ??= `property ${key} is missing`;
    return value ?? '';
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const value = this.text(key);
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem ??= `property ${key} is not one of ${allowed.join(', ')}`;
    return allowed[0] as T;
  }

  count(key: string): number {
    const value = this.text(key);
    if (/^(0|[1-9][0-9]{0,14})$/.test(value)) return Number(value);
    this.problem ??= `property ${key} is not a count`;
    return 0;
  }

  list(field: string): string[] {
    const out: string[] = [];
    for (let value = this.optional(`${field}.0`); value !== null;) {
      out.push(value);
      value = this.optional(`${field}.${out.length}`);
    }
    return out;
  }

  owners(field: string): OwnerRef[] {
    const out: OwnerRef[] = [];
    while (this.optional(`${field}.${out.length}.tenant`) !== null) {
      const at = `${field}.${out.length}`;
      out.push({
        tenant: this.text(`${at}.tenant`) as TenantId,
        namespace: this.text(`${at}.namespace`),
        secret: this.optional(`${at}.secret`),
      });
    }
    return out;
  }
}

function isOneOf<T extends string>(value: string, allowed: readonly T[]): value is T {
  return (allowed as readonly string[]).includes(value);
}

/**
 * The finding that findingProperties() wrote, with its fields in the order detect() gives them
 * (so findingJson() of it is the agent's own text), or why the properties are not one.
 */
export function findingOfProperties(
  properties: Properties,
  facts: ResultFacts,
): Result<Finding, string> {
  const { rule, severity } = facts;
  if (!isOneOf<Rule>(rule, RULES)) return err(`rule ${rule} is not a pullwatch rule`);
  if (!isOneOf<Severity>(severity, SEVERITIES)) return err(`severity ${severity} is unknown`);
  const read = new PropertyReader(properties);
  const base = {
    id: read.text(FINDING_ID),
    severity,
    confidence: read.oneOf<Confidence>('confidence', CONFIDENCES),
    node: read.text('node'),
  };
  const tail = () => ({
    evidence: read.list('evidence'),
    remediation: read.text('remediation'),
    firstSeen: facts.firstSeen,
    lastSeen: facts.lastSeen,
  });
  const imageFacts = () => ({
    image: read.text('image'),
    imageId: read.text('imageId'),
    repoDigest: read.optional('repoDigest'),
    registry: read.text('registry'),
    repository: read.text('repository'),
  });
  let finding: Finding;
  switch (rule) {
    case 'unauthorized-cached-image-use':
      finding = {
        rule,
        ...base,
        tenant: read.text('tenant') as TenantId,
        namespace: read.text('namespace'),
        pod: read.text('pod'),
        podUid: read.text('podUid'),
        container: read.text('container'),
        containerKind: read.oneOf<ContainerKind>('containerKind', CONTAINER_KINDS),
        ...imageFacts(),
        pullPolicy: read.oneOf<PullPolicy>('pullPolicy', PULL_POLICIES),
        owners: read.owners('owners'),
        possibleOwners: read.owners('possibleOwners'),
        ...tail(),
      };
      break;
    case 'private-image-exposed':
      finding = {
        rule,
        ...base,
        ...imageFacts(),
        owners: read.owners('owners'),
        exposedTenants: read.list('exposedTenants') as TenantId[],
        ...tail(),
      };
      break;
    case 'always-pull-images-not-enforced':
      finding = {
        rule,
        ...base,
        containersByPolicy: {
          Always: read.count('containersByPolicy.Always'),
          IfNotPresent: read.count('containersByPolicy.IfNotPresent'),
          Never: read.count('containersByPolicy.Never'),
        },
        ...tail(),
      };
      break;
  }
  return read.problem === undefined ? ok(finding) : err(read.problem);
}

// A finding as the flat string map of a report result's `properties` (the only free-form field
// of the OpenReports/PolicyReport result schema), and back. The ClusterReport carries every
// finding of its node this way, so that the controller rebuilds the agent's finding JSON from
// the report alone (agent/reports/decode.ts): keys are the finding's own field names, a list
// is `field.0`, `field.1`, ... and an owner `owners.0.tenant`; a null or empty field has no
// key. The rule, severity and first-seen time travel in the result's own fields.
import type { Finding, OwnerRef } from '../detect/finding.ts';
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

/**
 * How a field travels: text (a key), nullable text (no key for null), one of a set of words,
 * a list of texts (`field.0`...), a list of owners (`field.0.tenant`...) or counts per pull
 * policy (`field.Always`...).
 */
type FieldCodec =
  'text' | 'nullable' | { readonly oneOf: readonly string[] } | 'list' | 'owners' | 'policy-counts';

type Fields = readonly (readonly [field: string, codec: FieldCodec])[];

const IMAGE_FIELDS: Fields = [
  ['image', 'text'],
  ['imageId', 'text'],
  ['repoDigest', 'nullable'],
  ['registry', 'text'],
  ['repository', 'text'],
];

/**
 * Each rule's own fields, in the order detect() gives them (between the common head, `rule`,
 * `id`, `severity`, `confidence`, `node`, and tail, `evidence`, `remediation`, times).
 */
const RULE_FIELDS: Readonly<Record<string, Fields>> = {
  'unauthorized-cached-image-use': [
    ['tenant', 'text'],
    ['namespace', 'text'],
    ['pod', 'text'],
    ['podUid', 'text'],
    ['container', 'text'],
    ['containerKind', { oneOf: CONTAINER_KINDS }],
    ...IMAGE_FIELDS,
    ['pullPolicy', { oneOf: PULL_POLICIES }],
    ['owners', 'owners'],
    ['possibleOwners', 'owners'],
  ],
  'private-image-exposed': [...IMAGE_FIELDS, ['owners', 'owners'], ['exposedTenants', 'list']],
  'preloaded-private-image-exposed': [
    ...IMAGE_FIELDS,
    ['owners', 'owners'],
    ['exposedTenants', 'list'],
    ['kubeletPolicy', { oneOf: ['NeverVerifyPreloadedImages', 'NeverVerifyAllowlistedImages'] }],
    ['allowlistEntry', 'nullable'],
  ],
  'always-pull-images-not-enforced': [['containersByPolicy', 'policy-counts']],
};

function put(out: Record<string, string>, field: string, codec: FieldCodec, value: unknown): void {
  if (codec === 'list') {
    (value as readonly string[]).forEach((item, index) => (out[`${field}.${index}`] = item));
  } else if (codec === 'owners') {
    (value as readonly OwnerRef[]).forEach((owner, index) => {
      out[`${field}.${index}.tenant`] = owner.tenant;
      out[`${field}.${index}.namespace`] = owner.namespace;
      if (owner.secret !== null) out[`${field}.${index}.secret`] = owner.secret;
    });
  } else if (codec === 'policy-counts') {
    const counts = value as Readonly<Record<PullPolicy, number>>;
    for (const policy of PULL_POLICIES) out[`${field}.${policy}`] = String(counts[policy]);
  } else if (value !== null) {
    out[field] = value as string;
  }
}

/**
 * Every field of the finding but its rule, severity and times (which the result holds in
 * `rule`, `severity` and `timestamp`; lastSeen is the report's, see decode.ts).
 */
export function findingProperties(finding: Finding): Properties {
  const fields = finding as unknown as Readonly<Record<string, unknown>>;
  const out: Record<string, string> = {
    [FINDING_ID]: finding.id,
    confidence: finding.confidence,
    node: finding.node,
  };
  for (const [field, codec] of RULE_FIELDS[finding.rule] ?? [])
    put(out, field, codec, fields[field]);
  put(out, 'evidence', 'list', finding.evidence);
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

  oneOf(key: string, allowed: readonly string[]): string {
    const value = this.text(key);
    if (allowed.includes(value)) return value;
    this.problem ??= `property ${key} is not one of ${allowed.join(', ')}`;
    return allowed[0] ?? '';
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

  field(field: string, codec: FieldCodec): unknown {
    switch (codec) {
      case 'text':
        return this.text(field);
      case 'nullable':
        return this.optional(field);
      case 'list':
        return this.list(field);
      case 'owners':
        return this.owners(field);
      case 'policy-counts':
        return Object.fromEntries(PULL_POLICIES.map((p) => [p, this.count(`${field}.${p}`)]));
      default:
        return this.oneOf(field, codec.oneOf);
    }
  }
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
  const fields = RULE_FIELDS[rule];
  if (!(RULES as readonly string[]).includes(rule) || fields === undefined)
    return err(`rule ${rule} is not a pullwatch rule`);
  if (!(SEVERITIES as readonly string[]).includes(severity))
    return err(`severity ${severity} is unknown`);
  const read = new PropertyReader(properties);
  const finding: Record<string, unknown> = {
    rule,
    id: read.text(FINDING_ID),
    severity,
    confidence: read.oneOf('confidence', CONFIDENCES),
    node: read.text('node'),
  };
  for (const [field, codec] of fields) finding[field] = read.field(field, codec);
  finding['evidence'] = read.list('evidence');
  finding['remediation'] = read.text('remediation');
  finding['firstSeen'] = facts.firstSeen;
  finding['lastSeen'] = facts.lastSeen;
  return read.problem === undefined ? ok(finding as unknown as Finding) : err(read.problem);
}

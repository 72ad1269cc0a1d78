// Authentication from a table of bearer tokens and authorization by a rule function,
// served both to requests and as TokenReview / SubjectAccessReview answers
// (authentication.k8s.io/v1, authorization.k8s.io/v1), so the agent's delegated
// HTTP auth can be tested against the same table.

import { isRecord } from './objects.ts';

export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface TokenEntry extends UserInfo {
  /** When set, a TokenReview naming other audiences is refused. */
  readonly audiences?: readonly string[];
}

/** What a request or a SubjectAccessReview asks to do (authorizer.Attributes). */
export interface AccessAttributes {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly verb: string;
  /** Resource requests. */
  readonly resource?: {
    readonly group: string;
    readonly version?: string;
    readonly resource: string;
    readonly subresource?: string;
    readonly namespace?: string;
    readonly name?: string;
  };
  /** Non-resource requests (`/healthz`, `/metrics`...). */
  readonly path?: string;
}

export type AccessDecision = boolean | { readonly allowed: boolean; readonly reason?: string };
export type AccessRule = (attributes: AccessAttributes) => AccessDecision;

export const adminUser: UserInfo = {
  username: 'system:admin',
  groups: ['system:masters', 'system:authenticated'],
};

/** The default rule: nobody but system:masters (who never reaches the rule anyway). */
export const denyAll: AccessRule = () => ({ allowed: false, reason: 'no rule allows this' });

export class AuthTable {
  readonly #tokens = new Map<string, TokenEntry>();
  #rule: AccessRule;

  constructor(tokens: Readonly<Record<string, TokenEntry>>, rule: AccessRule) {
    for (const [token, entry] of Object.entries(tokens)) this.#tokens.set(token, entry);
    this.#rule = rule;
  }

  setToken(token: string, entry: TokenEntry): void {
    this.#tokens.set(token, entry);
  }

  removeToken(token: string): void {
    this.#tokens.delete(token);
  }

  setRule(rule: AccessRule): void {
    this.#rule = rule;
  }

  lookup(token: string): TokenEntry | undefined {
    return this.#tokens.get(token);
  }

  decide(attributes: AccessAttributes): { allowed: boolean; reason: string } {
    if (attributes.groups.includes('system:masters')) return { allowed: true, reason: '' };
    const decision = this.#rule(attributes);
    return typeof decision === 'boolean'
      ? { allowed: decision, reason: '' }
      : { allowed: decision.allowed, reason: decision.reason ?? '' };
  }
}

/** Groups the authenticator adds to every authenticated user. */
export function withAuthenticatedGroup(user: UserInfo): readonly string[] {
  const groups = user.groups ?? [];
  return groups.includes('system:authenticated') ? groups : [...groups, 'system:authenticated'];
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function text(record: Record<string, unknown>, field: string): string | undefined {
  const value = record[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function reviewToken(
  table: AuthTable,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const spec = isRecord(body['spec']) ? body['spec'] : {};
  const token = typeof spec['token'] === 'string' ? spec['token'] : '';
  const wanted = stringList(spec['audiences']);
  const entry = table.lookup(token);
  const response = (status: Record<string, unknown>): Record<string, unknown> => ({
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status,
  });
  if (!entry) return response({ user: {}, error: 'invalid bearer token' });
  let audiences = wanted;
  if (entry.audiences && wanted.length > 0) {
    audiences = wanted.filter((a) => entry.audiences?.includes(a));
    if (audiences.length === 0) {
      return response({ user: {}, error: 'token audiences are invalid for the target audiences' });
    }
  }
  return response({
    authenticated: true,
    user: {
      username: entry.username,
      ...(entry.uid ? { uid: entry.uid } : {}),
      groups: withAuthenticatedGroup(entry),
      ...(entry.extra ? { extra: entry.extra } : {}),
    },
    ...(audiences.length > 0 ? { audiences } : {}),
  });
}

export function reviewAccess(
  table: AuthTable,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const spec = isRecord(body['spec']) ? body['spec'] : {};
  const resourceAttributes = isRecord(spec['resourceAttributes'])
    ? spec['resourceAttributes']
    : undefined;
  const nonResource = isRecord(spec['nonResourceAttributes'])
    ? spec['nonResourceAttributes']
    : undefined;
  const uid = text(spec, 'uid');
  const attributes: AccessAttributes = {
    user: text(spec, 'user') ?? '',
    groups: stringList(spec['groups']),
    ...(uid ? { uid } : {}),
    verb:
      (resourceAttributes && text(resourceAttributes, 'verb')) ??
      (nonResource && text(nonResource, 'verb')) ??
      '',
    ...(resourceAttributes ? { resource: resourceAttributesOf(resourceAttributes) } : {}),
    ...(nonResource && !resourceAttributes ? { path: text(nonResource, 'path') ?? '' } : {}),
  };
  const decision = table.decide(attributes);
  return {
    kind: 'SubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: {
      allowed: decision.allowed,
      ...(decision.reason ? { reason: decision.reason } : {}),
    },
  };
}

function resourceAttributesOf(
  ra: Record<string, unknown>,
): NonNullable<AccessAttributes['resource']> {
  const optional = (field: string): Record<string, string> => {
    const value = text(ra, field);
    return value ? { [field]: value } : {};
  };
  return {
    group: text(ra, 'group') ?? '',
    resource: text(ra, 'resource') ?? '',
    ...optional('version'),
    ...optional('subresource'),
    ...optional('namespace'),
    ...optional('name'),
  };
}

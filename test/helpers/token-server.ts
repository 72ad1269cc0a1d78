// A Docker-distribution token server (the `auth.token` realm of Harbor, GHCR, Docker Hub),
// in-process on a free loopback port, plain HTTP, for tests: users with per-repository
// rights, optional anonymous pull of public repositories, and a record of every request.
// https://distribution.github.io/distribution/spec/auth/token/
//
//   GET /token?service=SERVICE&scope=repository:NAME:pull,push[&scope=...]
//   Authorization: Basic ... (or none: anonymous)
//
// A wrong password (or an unknown user, or a malformed Authorization header) is answered 401.
// A valid login, or an anonymous request, always gets a token: it carries only the requested
// actions the rights allow, possibly none, as real token servers do; the registry then
// answers 401 `insufficient_scope`.
//
// The token is a JWT signed ES256 with the key of a self-signed P-256 certificate
// (test/helpers/tls.ts); give the registry that certificate as `auth.token.rootcertbundle`
// (`rootCertBundle` below). distribution 2.8 finds the signing key from the JWT header
// (registry/auth/token/token.go VerifySigningKey): an `x5c` chain it verifies against the
// bundle (the default here: the self-signed certificate is its own root), or a `kid` that is
// the libtrust key ID of a bundle certificate's public key (`keyHeader: 'kid'`). distribution
// 3 looks a `kid` up as an RFC 7638 thumbprint instead; `x5c` works with both.
//
// Passwords are never printed or recorded; records hold user names, scopes and outcomes.
// The OAuth2 POST form of the realm (grant_type=password, which containerd tries first when
// it has a password) is answered 405, like Harbor: containerd then falls back to GET with
// Basic auth. Such a POST is recorded under the user name its form gives.

import { Buffer } from 'node:buffer';
import {
  createHash,
  createPrivateKey,
  randomBytes,
  sign,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server.ts';
import { createTempDir, removeDir, safeTeardown, type TeardownHost } from './tmp.ts';
import { selfSignedCertificate } from './tls.ts';

export type TokenAction = 'pull' | 'push' | 'delete' | '*';

/** Actions on the repositories a glob names: `*` is any run of characters but `/`, `**` any run. */
export interface RepositoryRight {
  /** e.g. `team-a/*` (one level under team-a), `team-a/**`, `library/nginx`. */
  readonly repository: string;
  /** `*` allows whatever is asked. */
  readonly actions: readonly TokenAction[];
}

export interface TokenUser {
  readonly password: string;
  readonly rights: readonly RepositoryRight[];
}

/** How the JWT header names the signing key for the registry. */
export type KeyHeader = 'x5c' | 'kid';

export interface TokenServerOptions {
  /** user name -> password and rights. */
  readonly users?: Readonly<Record<string, TokenUser>>;
  /** Repository globs anyone may pull, logged in or not (public repositories). */
  readonly anonymousPull?: readonly string[];
  /** The `service` the registry names in its challenge and expects as `aud`. */
  readonly service?: string;
  /** `iss` of every token; the registry's `auth.token.issuer`. */
  readonly issuer?: string;
  /** Token lifetime. Default 300 s. */
  readonly expiresInSeconds?: number;
  /** Default `x5c`. */
  readonly keyHeader?: KeyHeader;
}

/** The `user` of a request without credentials. */
export const ANONYMOUS = '(anonymous)';

export type TokenOutcome =
  /** Every requested action granted (or nothing asked: a login check). */
  | 'granted'
  /** Some requested actions granted, not all. */
  | 'partial'
  /** A valid login or anonymous request, but none of the requested actions granted. */
  | 'nothing-granted'
  /** Wrong password, unknown user or malformed Authorization: 401, no token. */
  | 'unauthorized'
  /** Missing or wrong `service`, malformed scope: 400. */
  | 'bad-request'
  /** Anything but GET (containerd's OAuth2 POST): 405. */
  | 'method-not-allowed';

/** One entry of the JWT `access` claim. */
export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenRequestRecord {
  readonly method: string;
  /** The Basic user name as sent (also for a wrong password), or {@link ANONYMOUS}. */
  readonly user: string;
  readonly outcome: TokenOutcome;
  readonly service: string | undefined;
  /** The scopes asked for, as sent (`repository:team-a/app:pull,push`). */
  readonly scopes: readonly string[];
  /** The token's `access` claim; empty when no token was issued. */
  readonly granted: readonly AccessEntry[];
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate of the signing key: the registry's `auth.token.rootcertbundle`. */
  readonly rootCertBundle: string;
  readonly keyHeader: KeyHeader;
  /** Temp dir holding the key and certificate (removed by stop). */
  readonly dir: string;
  /** Every request so far, oldest first. */
  readonly requests: readonly TokenRequestRecord[];
  /** How many requests match every field given. */
  count(filter?: {
    readonly user?: string;
    readonly outcome?: TokenOutcome;
    readonly method?: string;
  }): number;
  /** user -> outcome -> number of requests. */
  counts(): Record<string, Partial<Record<TokenOutcome, number>>>;
  /** Forgets the requests recorded so far. */
  clearRequests(): void;
  /** Closes the server (open connections too) and removes its key and certificate. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_TOKEN_SERVICE = 'pullwatch-test-registry';
export const DEFAULT_TOKEN_ISSUER = 'pullwatch-test-token-server';

// ---- rights --------------------------------------------------------------------------------

const escapeRegExp = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Whether a repository glob (`*`: any run but `/`; `**`: any run) names `repository`. */
export function repositoryGlobMatches(glob: string, repository: string): boolean {
  const source = glob
    .split('**')
    .map((part) => part.split('*').map(escapeRegExp).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`).test(repository);
}

/** The requested actions `rights` allow on `repository`, in the order asked. */
function allowedActions(
  rights: readonly RepositoryRight[],
  repository: string,
  requested: readonly string[],
): string[] {
  const allowed = new Set<string>();
  for (const right of rights) {
    if (repositoryGlobMatches(right.repository, repository)) {
      for (const action of right.actions) allowed.add(action);
    }
  }
  return requested.filter((action) => allowed.has('*') || allowed.has(action));
}

interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** `type:name:a,b` (the name may hold `:` as in `host:port/x`); undefined when malformed. */
function parseScope(scope: string): Scope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first + 1) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

// ---- JWT -----------------------------------------------------------------------------------

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * libtrust's key ID (docker/libtrust util.go keyIDFromCryptoKey): SHA-256 of the DER
 * SubjectPublicKeyInfo, first 240 bits, base32 without padding, in 12 groups of 4 joined
 * by `:`. distribution 2.8 keys the certificates of its root bundle by it.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const digest = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  let bits = '';
  for (const byte of digest) bits += byte.toString(2).padStart(8, '0');
  let text = '';
  for (let i = 0; i < bits.length; i += 5) text += BASE32.charAt(parseInt(bits.slice(i, i + 5), 2));
  return text.match(/.{4}/g)?.join(':') ?? text;
}

/** Header and claims of a JWT, not verified: for tests that check what a token grants. */
export function decodeToken(jwt: string): {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown> & { readonly access?: readonly AccessEntry[] };
} {
  const [header, claims] = jwt.split('.');
  if (header === undefined || claims === undefined) throw new Error('not a JWT');
  const part = (s: string) =>
    JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: part(header), claims: part(claims) };
}

// ---- HTTP ----------------------------------------------------------------------------------

type Login =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user'; readonly name: string; readonly user: TokenUser }
  | { readonly kind: 'refused'; readonly name: string };

const sameSecret = (a: string, b: string): boolean => {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
};

function login(
  authorization: string | undefined,
  users: Readonly<Record<string, TokenUser>>,
): Login {
  if (authorization === undefined || authorization === '') return { kind: 'anonymous' };
  const match = /^basic\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) return { kind: 'refused', name: ANONYMOUS };
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'refused', name: ANONYMOUS };
  const name = decoded.slice(0, colon);
  const user = Object.hasOwn(users, name) ? users[name] : undefined;
  if (user === undefined || !sameSecret(decoded.slice(colon + 1), user.password)) {
    return { kind: 'refused', name };
  }
  return { kind: 'user', name, user };
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      ...headers,
    })
    .end(JSON.stringify(body));
}

const MAX_BODY_BYTES = 64 * 1024;

const errorBody = (code: string, message: string) => ({ errors: [{ code, message }] });

/**
 * Starts the token server on 127.0.0.1:<free port>. Teardown (registered at once) closes it
 * and removes the temp dir holding its key and certificate.
 */
export async function startTokenServer(
  t: TeardownHost,
  options: TokenServerOptions = {},
): Promise<TokenServer> {
  const users = options.users ?? {};
  for (const name of Object.keys(users)) {
    if (name === '' || name.includes(':')) throw new Error(`invalid user name: ${name}`);
  }
  const anonymousRights: RepositoryRight[] = (options.anonymousPull ?? []).map((repository) => ({
    repository,
    actions: ['pull'],
  }));
  const service = options.service ?? DEFAULT_TOKEN_SERVICE;
  const issuer = options.issuer ?? DEFAULT_TOKEN_ISSUER;
  const expiresIn = options.expiresInSeconds ?? 300;
  const keyHeader = options.keyHeader ?? 'x5c';

  const dir = await createTempDir('token-server');
  let stopped = false;
  let closeServer = async (): Promise<void> => {};
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await closeServer();
    await removeDir(dir);
  };
  safeTeardown(t, `stop token server ${dir}`, stop);

  const files = await selfSignedCertificate(dir, 'token-signer');
  const certificate = new X509Certificate(await readFile(files.cert));
  const privateKey = createPrivateKey(await readFile(files.key));
  const jwtHeader = b64url(
    JSON.stringify({
      typ: 'JWT',
      alg: 'ES256',
      ...(keyHeader === 'x5c'
        ? { x5c: [certificate.raw.toString('base64')] }
        : { kid: libtrustKeyId(certificate.publicKey) }),
    }),
  );
  const signToken = (claims: object): string => {
    const input = `${jwtHeader}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 is r || s (64 bytes), not DER.
    const signature = sign('sha256', Buffer.from(input), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${input}.${b64url(signature)}`;
  };

  const requests: TokenRequestRecord[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') {
      sendJson(res, 404, errorBody('NOT_FOUND', 'no such endpoint'));
      return;
    }
    const who = login(req.headers.authorization, users);
    const userName = who.kind === 'anonymous' ? ANONYMOUS : who.name;
    const askedService = url.searchParams.get('service') ?? undefined;
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
    const record = (outcome: TokenOutcome, granted: readonly AccessEntry[] = []): void => {
      requests.push({
        method: req.method ?? '',
        user: userName,
        outcome,
        service: askedService,
        scopes,
        granted,
      });
    };

    if (req.method !== 'GET') {
      // containerd's OAuth2 POST names the user (and the password) in its form: keep the name,
      // service and scope only, so its attempts count for the right user.
      const form = new URLSearchParams(body);
      requests.push({
        method: req.method ?? '',
        user: form.get('username') || userName,
        outcome: 'method-not-allowed',
        service: form.get('service') ?? askedService,
        scopes: (form.get('scope') ?? '').split(' ').filter(Boolean),
        granted: [],
      });
      sendJson(res, 405, errorBody('UNSUPPORTED', 'only GET is supported'), { allow: 'GET' });
      return;
    }
    if (who.kind === 'refused') {
      record('unauthorized');
      sendJson(res, 401, errorBody('UNAUTHORIZED', 'incorrect username or password'), {
        'www-authenticate': `Basic realm=${JSON.stringify(issuer)}`,
      });
      return;
    }
    if (askedService !== service) {
      record('bad-request');
      sendJson(
        res,
        400,
        errorBody('INVALID_REQUEST', `unknown service ${JSON.stringify(askedService ?? '')}`),
      );
      return;
    }
    const parsed = scopes.map(parseScope);
    if (parsed.some((s) => s === undefined)) {
      record('bad-request');
      sendJson(res, 400, errorBody('INVALID_REQUEST', 'malformed scope'));
      return;
    }

    // Merge what was asked per resource, then keep what the rights allow.
    const asked = new Map<string, { type: string; name: string; actions: Set<string> }>();
    for (const scope of parsed as Scope[]) {
      const key = `${scope.type}\n${scope.name}`;
      const entry = asked.get(key) ?? { type: scope.type, name: scope.name, actions: new Set() };
      for (const action of scope.actions) entry.actions.add(action);
      asked.set(key, entry);
    }
    const rights = [...anonymousRights, ...(who.kind === 'user' ? who.user.rights : [])];
    let askedCount = 0;
    let grantedCount = 0;
    const access: AccessEntry[] = [];
    for (const entry of asked.values()) {
      const wanted = [...entry.actions];
      askedCount += wanted.length;
      const actions = entry.type === 'repository' ? allowedActions(rights, entry.name, wanted) : [];
      grantedCount += actions.length;
      if (actions.length > 0) access.push({ type: entry.type, name: entry.name, actions });
    }

    const now = Math.floor(Date.now() / 1000);
    const token = signToken({
      iss: issuer,
      sub: who.kind === 'user' ? who.name : '',
      aud: service,
      exp: now + expiresIn,
      nbf: now,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access,
    });
    record(
      grantedCount === askedCount ? 'granted' : grantedCount === 0 ? 'nothing-granted' : 'partial',
      access,
    );
    sendJson(res, 200, {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    });
  };

  const server = createServer((req, res) => {
    // Answer once the body (an OAuth2 form at most) is read; refuse anything bigger.
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.once('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch {
        // No detail: an error message could quote a header.
        if (!res.headersSent) sendJson(res, 500, errorBody('UNKNOWN', 'internal error'));
        else res.destroy();
      }
    });
  });
  const port = await listenOnLoopback(t, server);
  closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    });
  const url = `http://127.0.0.1:${port}`;

  const matches = (
    r: TokenRequestRecord,
    filter: { readonly user?: string; readonly outcome?: TokenOutcome; readonly method?: string },
  ): boolean =>
    (filter.user === undefined || r.user === filter.user) &&
    (filter.outcome === undefined || r.outcome === filter.outcome) &&
    (filter.method === undefined || r.method === filter.method);

  return {
    url,
    port,
    realm: `${url}/token`,
    service,
    issuer,
    rootCertBundle: files.cert,
    keyHeader,
    dir,
    requests,
    count: (filter = {}) => requests.filter((r) => matches(r, filter)).length,
    counts: () => {
      const out: Record<string, Partial<Record<TokenOutcome, number>>> = {};
      for (const r of requests) {
        const perUser = (out[r.user] ??= {});
        perUser[r.outcome] = (perUser[r.outcome] ?? 0) + 1;
      }
      return out;
    },
    clearRequests: () => {
      requests.length = 0;
    },
    stop,
  };
}

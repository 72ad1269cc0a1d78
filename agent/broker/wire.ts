// What the controller and its agents say to each other, as JSON: the requests an agent makes
// and the answers it gets. A pull secret crosses as what its credentials match and how they
// are recognised (the keyring entry, a keyed fingerprint, the kubelet's credentialHash), never
// as the credential. Parsed with zod on both sides; sizes are bounded.
import { z } from 'zod';
import type { CredentialFingerprint, CredentialHash } from '../model/credential.ts';
import type { CredentialView, RepositoryVisibility, SecretView } from '../model/snapshot.ts';

/** The path of each broker call; every one is a POST of a JSON object. */
export const BROKER_PATHS = {
  pullSecret: '/api/v1/pull-secrets',
  visibility: '/api/v1/registry/visibility',
  verdict: '/api/v1/registry/verdicts',
} as const;

/** A request body is never larger than this (names are at most a few hundred bytes). */
export const MAX_REQUEST_BYTES = 8 * 1024;

/**
 * Registry questions travel in batches: an agent asks a whole round at once (every cached
 * repository, every verdict its pods need), and one call per question made a node's budget the
 * limit. At most this many questions per call; more go in further calls.
 */
export const MAX_QUESTIONS_PER_CALL = 64;
/** The body of a batch: 64 of the largest verdict questions (about 1.3 KiB each) fit. */
export const MAX_BATCH_REQUEST_BYTES = 96 * 1024;

const k8sName = z.string().min(1).max(253);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const imageName = z.string().min(1).max(512);

export const pullSecretRequest = z.strictObject({
  namespace: k8sName,
  /** The secret, by name. */
  name: k8sName,
  /** A pod on the caller's node that names it. */
  pod: k8sName,
});
export type PullSecretRequest = z.infer<typeof pullSecretRequest>;

export const visibilityRequest = z.strictObject({
  /** registry/repository */
  name: imageName,
  /** A tag or digest of an image of that repository. */
  reference: z.string().min(1).max(200),
});

export const verdictRequest = z.strictObject({
  namespace: k8sName,
  secret: k8sName,
  fingerprint: hex64,
  name: imageName,
  reference: z.string().min(1).max(200),
});
export type VerdictRequest = z.infer<typeof verdictRequest>;

const batchOf = <T extends z.ZodType>(question: T) =>
  z.strictObject({ questions: z.array(question).min(1).max(MAX_QUESTIONS_PER_CALL) });

/** `{"questions": [...]}`: answered `{"answers": [...]}`, one per question, in order. */
export const visibilityBatchRequest = batchOf(visibilityRequest);
export const verdictBatchRequest = batchOf(verdictRequest);

const credentialWire = z.strictObject({
  registryKey: z.strictObject({
    indexKey: z.string().max(1024),
    host: z.string().max(512),
    port: z.string().max(5),
    path: z.string().max(1024),
  }),
  fingerprint: hex64,
  credentialHash: hex64,
  /** The controller can ask the registry whether this credential reads a repository. */
  verifiable: z.boolean(),
});

export const secretAnswer = z.strictObject({
  namespace: k8sName,
  name: k8sName,
  state: z.enum(['ok', 'missing', 'malformed', 'unreadable', 'unavailable']),
  problem: z.string().max(2048).optional(),
  credentials: z.array(credentialWire).max(256),
});
export type SecretAnswer = z.infer<typeof secretAnswer>;

export const visibilityAnswer = z.strictObject({
  visibility: z.enum(['public', 'private', 'unknown']),
  basis: z.string().max(2048),
  nodeCredentials: z.boolean(),
});

export const verdictAnswer = z.strictObject({
  verdict: z.enum(['can-read', 'cannot-read', 'unknown']),
});

/** An error answer: `error` says why, in words safe for the caller. */
export const errorAnswer = z.strictObject({ error: z.string() });

export const visibilityBatchAnswer = z.strictObject({
  answers: z.array(visibilityAnswer).max(MAX_QUESTIONS_PER_CALL),
});
/** A verdict, or why this question was refused (its secret is not named on the caller's node). */
export const verdictBatchAnswer = z.strictObject({
  answers: z.array(z.union([verdictAnswer, errorAnswer])).max(MAX_QUESTIONS_PER_CALL),
});

/** The controller's view of a secret as it is sent. */
export function secretToWire(view: SecretView): SecretAnswer {
  const base = { namespace: view.namespace, name: view.name };
  if (view.state !== 'ok')
    return { ...base, state: view.state, problem: view.problem, credentials: [] };
  return {
    ...base,
    state: 'ok',
    credentials: view.credentials.map((c) => ({
      registryKey: {
        indexKey: c.matcher.indexKey,
        host: c.matcher.host,
        port: c.matcher.port,
        path: c.matcher.path,
      },
      fingerprint: c.fingerprint,
      credentialHash: c.credentialHash,
      verifiable: c.check !== undefined,
    })),
  };
}

/** What an agent keeps of an answer: a SecretView whose checks go through the controller. */
export function secretFromWire(answer: SecretAnswer): SecretView {
  const { namespace, name } = answer;
  if (answer.state !== 'ok')
    return {
      state: answer.state,
      namespace,
      name,
      problem: answer.problem ?? `pull secret ${namespace}/${name} is ${answer.state}`,
    };
  const credentials: CredentialView[] = answer.credentials.map((c) => ({
    matcher: c.registryKey,
    fingerprint: c.fingerprint as CredentialFingerprint,
    credentialHash: c.credentialHash as CredentialHash,
    check: c.verifiable
      ? { via: 'controller', namespace, secret: name, fingerprint: c.fingerprint }
      : undefined,
  }));
  return { state: 'ok', namespace, name, credentials };
}

export type VisibilityAnswer = RepositoryVisibility;

/**
 * An agent without its record of the reports it wrote asks the controller which exist for its
 * node (the agent may not read reports itself: they name other nodes' tenants). Body `{}`; the
 * node is the caller's, from its bound token.
 */
export const OWN_REPORTS_PATH = '/api/v1/reports/own';

export const ownReportsRequest = z.strictObject({});

const namespacedReportRef = <V extends string, K extends string>(apiVersion: V, kind: K) =>
  z.strictObject({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    namespace: k8sName,
    name: k8sName,
  });
const clusterReportRef = <V extends string, K extends string>(apiVersion: V, kind: K) =>
  z.strictObject({ apiVersion: z.literal(apiVersion), kind: z.literal(kind), name: k8sName });

export const reportRef = z.union([
  namespacedReportRef('openreports.io/v1alpha1', 'Report'),
  clusterReportRef('openreports.io/v1alpha1', 'ClusterReport'),
  namespacedReportRef('wgpolicyk8s.io/v1alpha2', 'PolicyReport'),
  clusterReportRef('wgpolicyk8s.io/v1alpha2', 'ClusterPolicyReport'),
]);
export type ReportRef = z.infer<typeof reportRef>;

/** The report objects labeled pullwatch.dev/node=<the caller's node>, as the controller's watch holds them. */
export const ownReportsAnswer = z.strictObject({ reports: z.array(reportRef).max(100_000) });
export type OwnReportsAnswer = z.infer<typeof ownReportsAnswer>;

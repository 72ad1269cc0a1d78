// The admission.k8s.io/v1 AdmissionReview wire (k8s.io/api/admission/v1/types.go): the
// request read at the edge, the response built from a Decision. Pure.
import { z } from 'zod';
import type { Result } from '../result.ts';
import { err, ok } from '../result.ts';
import type { PodAdmission } from './admitted-pod.ts';
import type { Decision } from './decide.ts';

const reviewSchema = z
  .object({
    apiVersion: z.literal('admission.k8s.io/v1'),
    kind: z.literal('AdmissionReview'),
    request: z
      .object({
        uid: z.string().min(1),
        kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }).loose(),
        resource: z
          .object({ group: z.string(), version: z.string(), resource: z.string() })
          .loose(),
        subResource: z.string().optional(),
        namespace: z.string().optional(),
        operation: z.string(),
        object: z.unknown().optional(),
        oldObject: z.unknown().optional(),
        dryRun: z.boolean().optional(),
      })
      .loose(),
  })
  .loose();

/** What the webhook does with a request it can read. */
export type ReviewRequest =
  | { readonly kind: 'pod'; readonly uid: string; readonly admission: PodAdmission }
  /** Not a request this webhook decides (another resource or operation): allowed as it is. */
  | { readonly kind: 'not-ours'; readonly uid: string; readonly what: string };

/**
 * Reads an AdmissionReview. An error means the body is no AdmissionReview v1 with a request
 * uid: there is nobody to answer, so the caller answers 400 and the API server applies the
 * webhook's failurePolicy.
 */
export function readReview(body: unknown): Result<ReviewRequest, string> {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join('.') ?? '';
    return err(
      `not an admission.k8s.io/v1 AdmissionReview${where === '' ? '' : ` (${where})`}: ${issue?.message ?? 'bad body'}`,
    );
  }
  const { request } = parsed.data;
  const { uid, resource, subResource = '', operation } = request;
  const what = `${operation} ${resource.resource}${subResource === '' ? '' : `/${subResource}`}`;
  if (resource.group !== '' || resource.resource !== 'pods' || request.namespace === undefined)
    return ok({ kind: 'not-ours', uid, what });
  const admission = (scope: PodAdmission['scope']): ReviewRequest => ({
    kind: 'pod',
    uid,
    admission: {
      scope,
      namespace: request.namespace ?? '',
      object: request.object,
      ...(request.oldObject === undefined ? {} : { oldObject: request.oldObject }),
    },
  });
  if (operation === 'CREATE' && subResource === '') return ok(admission('pod'));
  if (operation === 'UPDATE' && subResource === 'ephemeralcontainers')
    return ok(admission('ephemeral-containers'));
  return ok({ kind: 'not-ours', uid, what });
}

/**
 * The API server returns warnings to the client as headers and truncates what is too long
 * (k8s.io/apiserver pkg/warning: each may be cut at 256 characters, all together at 4 KiB);
 * past a few the rest are summed up in one line.
 */
export const MAX_WARNINGS = 10;

export function limitWarnings(warnings: readonly string[]): string[] {
  if (warnings.length <= MAX_WARNINGS) return [...warnings];
  const shown = warnings.slice(0, MAX_WARNINGS - 1);
  return [
    ...shown,
    `pullwatch: ${warnings.length - shown.length} more warnings like these (the pod's annotation and the audit log list every container).`,
  ];
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** base64 of the JSON Patch. */
  readonly patch?: string;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
  readonly status?: { readonly code: number; readonly message: string };
}

export function reviewResponse(response: AdmissionResponse): unknown {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function responseFor(uid: string, decision: Decision): AdmissionResponse {
  const warnings = limitWarnings(decision.warnings);
  const audit = decision.auditAnnotations;
  return {
    uid,
    allowed: decision.allowed,
    ...(decision.patch.length > 0
      ? {
          patchType: 'JSONPatch' as const,
          patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
        }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(Object.keys(audit).length > 0 ? { auditAnnotations: audit } : {}),
    ...(decision.message === undefined ? {} : { status: { code: 403, message: decision.message } }),
  };
}

// A ValidatingAdmissionPolicy applied to one admission request as the API server applies it
// (k8s.io/apiserver pkg/admission/plugin/policy/validating): the resource rules of
// matchConstraints, then matchConditions (any false skips the policy, an error fails it under
// failurePolicy Fail), then the variables in order, then every validation, whose false results
// deny with their message. The CEL is evaluated by @marcbachmann/cel-js, an implementation of
// standard CEL without the Kubernetes libraries, so a policy tested here must keep to standard
// CEL. Not modelled, because pullwatch's policy uses none of them: namespaceSelector,
// objectSelector, excludeResourceRules, params, authorizer, namespaceObject, auditAnnotations,
// and the lazy evaluation of variables (they are evaluated eagerly here, so one that fails
// fails the request even if no validation reads it: stricter than the API server).

import { parse } from '@marcbachmann/cel-js';
import type { IValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';

/** The part of an admission.k8s.io/v1 AdmissionRequest that the policy reads. */
export interface AdmissionRequest {
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly resource: {
    readonly group: string;
    readonly version: string;
    readonly resource: string;
  };
  readonly name: string;
  readonly namespace?: string;
  readonly userInfo: {
    readonly username: string;
    readonly groups?: readonly string[];
    readonly extra?: Readonly<Record<string, readonly string[]>>;
  };
}

/** What the API server reads in CEL: the request and the object before and after it. */
export interface Admission {
  readonly request: AdmissionRequest;
  /** null on DELETE. */
  readonly object: object | null;
  /** null on CREATE. */
  readonly oldObject: object | null;
}

export type PolicyVerdict =
  | { readonly verdict: 'not matched' }
  | { readonly verdict: 'allowed' }
  /** `failed`: the indexes of the validations that were false, `messages` theirs. */
  | {
      readonly verdict: 'denied';
      readonly failed: readonly number[];
      readonly messages: readonly string[];
    }
  /** An expression that could not be evaluated (the API server denies under failurePolicy Fail). */
  | { readonly verdict: 'error'; readonly expression: string; readonly error: string };

type Spec = NonNullable<IValidatingAdmissionPolicy['spec']>;
type Rule = NonNullable<NonNullable<Spec['matchConstraints']>['resourceRules']>[number];
type Validation = NonNullable<Spec['validations']>[number];

const listed = (values: readonly string[] | undefined, value: string) =>
  values === undefined || values.includes('*') || values.includes(value);

/** Whether a resource rule names the request's group, version, resource and operation. */
function ruleMatches(rule: Rule, request: AdmissionRequest): boolean {
  return (
    listed(rule.apiGroups, request.resource.group) &&
    listed(rule.apiVersions, request.resource.version) &&
    listed(rule.resources, request.resource.resource) &&
    listed(rule.operations, request.operation)
  );
}

/** An expression that threw: the API server's "expression evaluation error". */
class ExpressionError extends Error {
  readonly expression: string;
  constructor(expression: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.expression = expression;
  }
}

/** A policy's expressions, parsed once, applied to admissions. */
export function compilePolicy(
  policy: IValidatingAdmissionPolicy,
): (admission: Admission) => PolicyVerdict {
  const spec = policy.spec ?? {};
  const compiled = new Map(
    [
      ...(spec.matchConditions ?? []).map((c) => c.expression),
      ...(spec.variables ?? []).map((v) => v.expression),
      ...(spec.validations ?? []).flatMap((v) => [v.expression, v.messageExpression ?? 'null']),
    ].map((expression) => [expression, parse(expression)]),
  );
  const run = (expression: string, context: Record<string, unknown>): unknown => {
    try {
      return compiled.get(expression)?.(context);
    } catch (error) {
      throw new ExpressionError(expression, error);
    }
  };
  const rules = spec.matchConstraints?.resourceRules ?? [];

  const decide = (admission: Admission): PolicyVerdict => {
    if (!rules.some((rule) => ruleMatches(rule, admission.request))) {
      return { verdict: 'not matched' };
    }
    const input = { ...admission };
    // Any false skips the policy, even when another condition fails to evaluate.
    const conditions = (spec.matchConditions ?? []).map((c) => {
      try {
        return run(c.expression, input);
      } catch (error) {
        return error;
      }
    });
    if (conditions.includes(false)) return { verdict: 'not matched' };
    const broken = conditions.find((c) => c instanceof ExpressionError);
    if (broken !== undefined) throw broken;

    const variables: Record<string, unknown> = {};
    const context = { ...admission, variables };
    for (const variable of spec.variables ?? []) {
      variables[variable.name] = run(variable.expression, context);
    }
    const failed: number[] = [];
    const messages: string[] = [];
    for (const [index, validation] of (spec.validations ?? []).entries()) {
      if (run(validation.expression, context) === true) continue;
      failed.push(index);
      messages.push(messageOf(validation, context));
    }
    return failed.length === 0 ? { verdict: 'allowed' } : { verdict: 'denied', failed, messages };
  };

  // A messageExpression that fails or yields no string falls back to message.
  const messageOf = (validation: Validation, context: Record<string, unknown>): string => {
    try {
      const message =
        validation.messageExpression === undefined
          ? undefined
          : run(validation.messageExpression, context);
      if (typeof message === 'string') return message;
    } catch {
      // the static message below
    }
    return validation.message ?? `failed expression: ${validation.expression}`;
  };

  return (admission) => {
    try {
      return decide(admission);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      return { verdict: 'error', expression: error.expression, error: error.message };
    }
  };
}

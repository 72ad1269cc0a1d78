// Mutating admission webhooks, as the real API server calls them
// (k8s.io/apiserver pkg/admission/plugin/webhook): on a create or update, after the built-in
// mutating plugins (defaulting, the ServiceAccount plugin, AlwaysPullImages when on: see
// admission.ts) and before storage, every stored MutatingWebhookConfiguration's webhooks whose
// rules, namespaceSelector, objectSelector and matchConditions (CEL) match are called in order
// over HTTPS with an admission.k8s.io/v1 AdmissionReview. A JSONPatch in the answer changes the
// object; a denial ends the request with the webhook's status; a webhook that cannot be called
// (down, timeout, bad answer) is skipped under failurePolicy Ignore and ends the request with
// 500 under Fail. A webhook with reinvocationPolicy IfNeeded is called once more when a later
// webhook changed the object. Warnings reach the client as `Warning: 299 - "..."` headers.
//
// A `service` clientConfig has no cluster DNS here: the server option `webhookServices` maps
// `<namespace>/<name>` to a loopback port, and the certificate is still checked against
// `<name>.<namespace>.svc` with the webhook's caBundle, as the real server checks it.

import { randomUUID } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { parse as parseCel } from '@marcbachmann/cel-js';
import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import type { ServerResponse } from 'node:http';
import {
  admitServiceAccount,
  alwaysPullImages,
  defaultPod,
  serviceAccountNameOf,
} from './admission.ts';
import type { UserInfo } from './auth.ts';
import type { KubeObject } from './objects.ts';
import { isRecord, objectKey, parseKubeObject } from './objects.ts';
import { jsonPatch } from './patch.ts';
import type { Registry } from './registry.ts';
import type { ResourceType } from './resources.ts';
import { resourceType, storageKeyOf } from './resources.ts';
import type { LabelRequirement } from './selectors.ts';
import { matchesLabels } from './selectors.ts';
import type { ApiError } from './status.ts';
import { errorForCode } from './status.ts';
import type { LabelSelectorSpec, MutatingWebhook, WebhookRule } from './webhook-configurations.ts';
import { mutatingWebhookConfigurations, webhooksOf } from './webhook-configurations.ts';

export interface AdmissionAttributes {
  readonly operation: 'CREATE' | 'UPDATE';
  readonly rt: ResourceType;
  readonly subresource?: string | undefined;
  readonly namespace?: string | undefined;
  readonly name: string;
  /** After the built-in mutating plugins. */
  readonly object: KubeObject;
  readonly oldObject?: KubeObject | undefined;
  readonly user: UserInfo;
}

export interface Admitted {
  readonly object: KubeObject;
  /** For the client, in order, without repeats. */
  readonly warnings: readonly string[];
}

/** `<namespace>/<name>` of a Service → the loopback port its webhook listens on. */
export type WebhookServices = Readonly<Record<string, number>>;

// ---- matching (pure) ----

/** rules.Matcher: operation, group, version, resource/subresource and scope. */
export function ruleMatches(rule: WebhookRule, a: AdmissionAttributes): boolean {
  const any = (values: readonly string[], value: string): boolean =>
    values.includes('*') || values.includes(value);
  const scopeOk =
    rule.scope === '*' ||
    (rule.scope === 'Namespaced') === (a.rt.namespaced && a.namespace !== undefined);
  const resourceOk = rule.resources.some((text) => {
    const slash = text.indexOf('/');
    const [res, sub] = slash < 0 ? [text, ''] : [text.slice(0, slash), text.slice(slash + 1)];
    return (res === '*' || res === a.rt.resource) && (sub === '*' || sub === (a.subresource ?? ''));
  });
  return (
    any(rule.operations, a.operation) &&
    any(rule.apiGroups, a.rt.group) &&
    any(rule.apiVersions, a.rt.version) &&
    resourceOk &&
    scopeOk
  );
}

export function selectorRequirements(selector: LabelSelectorSpec): LabelRequirement[] {
  const operators = {
    In: 'in',
    NotIn: 'notin',
    Exists: 'exists',
    DoesNotExist: '!exists',
  } as const;
  return [
    ...Object.entries(selector.matchLabels ?? {}).map(([key, value]): LabelRequirement => ({
      key,
      operator: '=',
      values: [value],
    })),
    ...(selector.matchExpressions ?? []).map((e): LabelRequirement => ({
      key: e.key,
      operator: operators[e.operator],
      values: e.values ?? [],
    })),
  ];
}

const labelsOf = (obj: KubeObject | undefined): Readonly<Record<string, string>> | undefined =>
  obj?.metadata.labels;

/** object.Matcher: the object's labels or the old object's match. */
export function objectSelectorMatches(hook: MutatingWebhook, a: AdmissionAttributes): boolean {
  const requirements = selectorRequirements(hook.objectSelector);
  if (requirements.length === 0) return true;
  return (
    matchesLabels(requirements, labelsOf(a.object) ?? {}) ||
    (a.oldObject !== undefined && matchesLabels(requirements, labelsOf(a.oldObject) ?? {}))
  );
}

/**
 * namespace.Matcher: a cluster-scoped object other than a Namespace always matches; a
 * Namespace is judged by its own labels, anything else by its namespace's.
 */
export function namespaceSelectorMatches(
  hook: MutatingWebhook,
  a: AdmissionAttributes,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>>,
): boolean {
  const requirements = selectorRequirements(hook.namespaceSelector);
  if (requirements.length === 0) return true;
  if (a.rt.group === '' && a.rt.resource === 'namespaces')
    return matchesLabels(requirements, labelsOf(a.object) ?? {});
  if (a.namespace === undefined) return true;
  return matchesLabels(requirements, namespaceLabels(a.namespace));
}

/** admission.k8s.io/v1 AdmissionRequest (k8s.io/api/admission/v1/types.go). */
export function admissionRequest(a: AdmissionAttributes, uid: string): Record<string, unknown> {
  const gvk = { group: a.rt.group, version: a.rt.version, kind: a.rt.kind };
  const gvr = { group: a.rt.group, version: a.rt.version, resource: a.rt.resource };
  const sub = a.subresource ?? '';
  return {
    uid,
    kind: gvk,
    resource: gvr,
    ...(sub === '' ? {} : { subResource: sub, requestSubResource: sub }),
    requestKind: gvk,
    requestResource: gvr,
    name: a.name,
    ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
    operation: a.operation,
    userInfo: {
      username: a.user.username,
      ...(a.user.uid ? { uid: a.user.uid } : {}),
      groups: a.user.groups ?? [],
      ...(a.user.extra ? { extra: a.user.extra } : {}),
    },
    object: a.object,
    oldObject: a.oldObject ?? null,
    dryRun: false,
    options: {
      apiVersion: 'meta.k8s.io/v1',
      kind: a.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions',
    },
  };
}

/**
 * matchconditions.Matcher: every condition must be true; the first false skips the webhook. An
 * expression that fails to evaluate is an error, which the failurePolicy judges.
 */
export function matchConditionsHold(
  hook: MutatingWebhook,
  request: Record<string, unknown>,
): Result<boolean, string> {
  const context = { object: request['object'], oldObject: request['oldObject'], request };
  for (const condition of hook.matchConditions) {
    try {
      const value: unknown = parseCel(condition.expression)(context);
      if (typeof value !== 'boolean')
        return err(`matchCondition ${condition.name} did not evaluate to a bool`);
      if (!value) return ok(false);
    } catch (e) {
      return err(`matchCondition ${condition.name} failed: ${(e as Error).message}`);
    }
  }
  return ok(true);
}

/**
 * A warning as a header value: `299 - "text"` with `"` and `\` escaped and control characters
 * replaced (k8s.io/apimachinery pkg/util/net NewWarningHeader, apiserver's warning recorder).
 */
export function warningHeader(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `299 - "${clean.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** webhookerrors.ToStatusErr: a denial, never below 400, prefixed with the webhook's name. */
export function denial(hook: string, status: unknown): ApiError {
  const s = isRecord(status) ? status : {};
  const code = typeof s['code'] === 'number' && s['code'] >= 400 ? s['code'] : 400;
  const deniedBy = `admission webhook "${hook}" denied the request`;
  const why =
    typeof s['message'] === 'string' && s['message'] !== ''
      ? s['message']
      : typeof s['reason'] === 'string' && s['reason'] !== ''
        ? s['reason']
        : '';
  return errorForCode(code, why === '' ? `${deniedBy} without explanation` : `${deniedBy}: ${why}`);
}

// ---- calling ----

interface WebhookAnswer {
  readonly allowed: boolean;
  readonly patch?: unknown;
  readonly warnings: readonly string[];
  readonly status?: unknown;
}

/** VerifyAdmissionResponse: an error is a failed call, which the failurePolicy judges. */
export function readAnswer(body: unknown, uid: string): Result<WebhookAnswer, string> {
  if (
    !isRecord(body) ||
    body['apiVersion'] !== 'admission.k8s.io/v1' ||
    body['kind'] !== 'AdmissionReview'
  )
    return err('the answer is not an admission.k8s.io/v1 AdmissionReview');
  const response = body['response'];
  if (!isRecord(response)) return err('webhook response was absent');
  if (response['uid'] !== uid)
    return err(`expected response.uid="${uid}", got "${String(response['uid'])}"`);
  if (typeof response['allowed'] !== 'boolean') return err('response.allowed is not a bool');
  const warnings = Array.isArray(response['warnings'])
    ? (response['warnings'] as unknown[]).filter((w): w is string => typeof w === 'string')
    : [];
  const patch = response['patch'];
  if (patch === undefined || patch === null || patch === '')
    return ok({ allowed: response['allowed'], warnings, status: response['status'] });
  if (response['patchType'] !== 'JSONPatch')
    return err(`webhook returned response.patch but not response.patchType=JSONPatch`);
  if (typeof patch !== 'string') return err('response.patch is not base64');
  try {
    const operations: unknown = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
    return ok({
      allowed: response['allowed'],
      patch: operations,
      warnings,
      status: response['status'],
    });
  } catch (e) {
    return err(`response.patch is not a base64 JSON patch: ${(e as Error).message}`);
  }
}

export interface WebhookDispatcherOptions {
  readonly services?: WebhookServices | undefined;
  /** The AlwaysPullImages plugin is on: it mutates before webhooks, as the plugin order has it. */
  readonly alwaysPullImages: boolean;
}

/**
 * The object webhooks see: for a pod, after the built-in mutating plugins (the ServiceAccount
 * plugin on create, AlwaysPullImages but not on subresources) and defaulting; for the
 * `ephemeralcontainers` subresource, the stored pod with the request's ephemeral containers
 * (ephemeralContainersStrategy keeps nothing else). The registry runs the same steps again on
 * the way into storage, where they change nothing.
 */
export function builtInAdmission(
  a: AdmissionAttributes,
  options: {
    readonly alwaysPullImages: boolean;
    readonly serviceAccount: (namespace: string, name: string) => KubeObject | undefined;
  },
): KubeObject {
  if (storageKeyOf(a.rt) !== 'pods') return a.object;
  let pod: KubeObject =
    a.namespace === undefined
      ? a.object
      : { ...a.object, metadata: { ...a.object.metadata, namespace: a.namespace } };
  if (a.subresource === 'ephemeralcontainers' && a.oldObject !== undefined) {
    const oldSpec = isRecord(a.oldObject['spec']) ? a.oldObject['spec'] : {};
    const spec = isRecord(a.object['spec']) ? a.object['spec'] : {};
    pod = {
      ...a.oldObject,
      spec: { ...oldSpec, ephemeralContainers: spec['ephemeralContainers'] },
    };
  }
  if (a.operation === 'CREATE')
    pod = admitServiceAccount(
      pod,
      options.serviceAccount(a.namespace ?? 'default', serviceAccountNameOf(pod)),
    );
  if (options.alwaysPullImages && a.subresource === undefined) pod = alwaysPullImages(pod);
  return defaultPod(pod);
}

type CallOutcome =
  | { readonly kind: 'answer'; readonly answer: WebhookAnswer }
  | { readonly kind: 'failed'; readonly why: string };

export class WebhookDispatcher {
  readonly #registry: Registry;
  readonly #options: WebhookDispatcherOptions;
  /** One keep-alive agent per (caBundle, server name). */
  readonly #agents = new Map<string, Agent>();

  constructor(registry: Registry, options: WebhookDispatcherOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  stop(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  #webhooks(): MutatingWebhook[] {
    const stored = this.#registry.list(mutatingWebhookConfigurations, {});
    return stored.ok ? webhooksOf(stored.value.items) : [];
  }

  #namespaceLabels = (namespace: string): Readonly<Record<string, string>> =>
    this.#registry.store.get(resourceType('namespaces'), objectKey(undefined, namespace))?.metadata
      .labels ?? {};

  /**
   * Runs the built-in plugins and every matching webhook; the object to store, or the error
   * that ends the request. Warnings are returned either way, for the response's headers.
   */
  async admit(
    attributes: AdmissionAttributes,
  ): Promise<{ result: Result<KubeObject, ApiError>; warnings: string[] }> {
    const warnings: string[] = [];
    const warn = (text: string): void => {
      if (!warnings.includes(text)) warnings.push(text);
    };
    let current: KubeObject = builtInAdmission(attributes, {
      alwaysPullImages: this.#options.alwaysPullImages,
      serviceAccount: (namespace, name) =>
        this.#registry.store.get(resourceType('serviceaccounts'), objectKey(namespace, name)),
    });
    const hooks = this.#webhooks();
    if (hooks.length === 0) return { result: ok(current), warnings };

    // dispatcher.go's webhookReinvokeContext: IfNeeded webhooks called before a change made by
    // a later one are called once more in a second round.
    const previouslyInvoked = new Set<string>();
    const reinvoke = new Set<string>();
    let changedInRoundOne = false;
    for (const round of [0, 1]) {
      if (round === 1 && !changedInRoundOne) break;
      for (const hook of hooks) {
        if (round === 1 && !reinvoke.has(hook.uid)) continue;
        const step = await this.#callIfMatching(hook, { ...attributes, object: current }, warn);
        if (!step.ok) return { result: step, warnings };
        if (step.value === undefined) continue;
        const changed = JSON.stringify(step.value) !== JSON.stringify(current);
        current = step.value;
        if (round === 0 && changed) {
          for (const uid of previouslyInvoked) reinvoke.add(uid);
          previouslyInvoked.clear();
          changedInRoundOne = true;
        }
        if (round === 0 && hook.reinvocationPolicy === 'IfNeeded') previouslyInvoked.add(hook.uid);
      }
    }
    return { result: ok(current), warnings };
  }

  /** undefined: not called (no match, or failed open); else the object after its patch. */
  async #callIfMatching(
    hook: MutatingWebhook,
    a: AdmissionAttributes,
    warn: (text: string) => void,
  ): Promise<Result<KubeObject | undefined, ApiError>> {
    if (!hook.rules.some((rule) => ruleMatches(rule, a))) return ok(undefined);
    if (!namespaceSelectorMatches(hook, a, this.#namespaceLabels)) return ok(undefined);
    if (!objectSelectorMatches(hook, a)) return ok(undefined);
    const uid = randomUUID();
    const request = admissionRequest(a, uid);
    const failed = (why: string): Result<KubeObject | undefined, ApiError> =>
      hook.failurePolicy === 'Ignore'
        ? ok(undefined)
        : err(
            errorForCode(
              500,
              `Internal error occurred: failed calling webhook "${hook.name}": ${why}`,
            ),
          );
    const conditions = matchConditionsHold(hook, request);
    if (!conditions.ok) return failed(conditions.error);
    if (!conditions.value) return ok(undefined);

    const outcome = await this.#call(hook, request, uid);
    if (outcome.kind === 'failed') return failed(outcome.why);
    const { answer } = outcome;
    for (const w of answer.warnings) warn(w);
    if (!answer.allowed) return err(denial(hook.name, answer.status));
    if (answer.patch === undefined) return ok(a.object);
    // A patch that does not apply is the webhook's bug: 500 whatever the failurePolicy.
    const patched = jsonPatch(a.object, answer.patch);
    const parsed = patched.ok ? parseKubeObject(patched.value) : patched;
    return parsed.ok
      ? ok(parsed.value)
      : err(
          errorForCode(
            500,
            `Internal error occurred: JSON patch of webhook "${hook.name}": ${parsed.error}`,
          ),
        );
  }

  #target(hook: MutatingWebhook): Result<{ url: URL; servername: string }, string> {
    const { url, service } = hook.clientConfig;
    if (url !== undefined) {
      const parsed = new URL(url);
      return ok({ url: parsed, servername: parsed.hostname });
    }
    if (service === undefined) return err('no clientConfig');
    const port = this.#options.services?.[`${service.namespace}/${service.name}`];
    if (port === undefined)
      return err(`service "${service.namespace}/${service.name}" has no address (webhookServices)`);
    // The service's port is the one it maps to; only the loopback port stands in for it.
    return ok({
      url: new URL(`https://127.0.0.1:${port}${service.path ?? '/'}`),
      servername: `${service.name}.${service.namespace}.svc`,
    });
  }

  #agentFor(caBundle: string | undefined, servername: string): Agent {
    const key = `${caBundle ?? ''}|${servername}`;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent = new Agent({
        keepAlive: true,
        servername,
        ...(caBundle === undefined ? {} : { ca: Buffer.from(caBundle, 'base64') }),
      });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  #call(
    hook: MutatingWebhook,
    request: Record<string, unknown>,
    uid: string,
  ): Promise<CallOutcome> {
    const target = this.#target(hook);
    if (!target.ok) return Promise.resolve({ kind: 'failed', why: target.error });
    const { url, servername } = target.value;
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request,
    });
    const failed = (why: string): CallOutcome => ({ kind: 'failed', why });
    return new Promise((resolve) => {
      const req = httpsRequest(
        url,
        {
          method: 'POST',
          agent: this.#agentFor(hook.clientConfig.caBundle, servername),
          servername,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          signal: AbortSignal.timeout(hook.timeoutSeconds * 1000),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (e) => {
            resolve(failed(`failed to call webhook: ${e.message}`));
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) {
              resolve(
                failed(
                  `expected response status 200, got ${String(res.statusCode)}: ${text.slice(0, 200)}`,
                ),
              );
              return;
            }
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              resolve(failed('the answer is not JSON'));
              return;
            }
            const answer = readAnswer(parsed, uid);
            resolve(answer.ok ? { kind: 'answer', answer: answer.value } : failed(answer.error));
          });
        },
      );
      req.on('error', (e) => {
        resolve(
          failed(
            e.name === 'AbortError' || e.name === 'TimeoutError'
              ? `context deadline exceeded (timeoutSeconds ${hook.timeoutSeconds})`
              : `failed to call webhook: ${e.message}`,
          ),
        );
      });
      req.end(body);
    });
  }
}

/**
 * For the handlers: admits a write and puts the warnings on the response, as the real server
 * sends them whether the request succeeds or not.
 */
export async function admitWrite(
  dispatcher: WebhookDispatcher,
  res: ServerResponse,
  attributes: AdmissionAttributes,
): Promise<Result<KubeObject, ApiError>> {
  const { result, warnings } = await dispatcher.admit(attributes);
  if (!res.headersSent) for (const w of warnings) res.appendHeader('Warning', warningHeader(w));
  return result;
}

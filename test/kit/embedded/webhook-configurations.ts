// admissionregistration.k8s.io/v1 MutatingWebhookConfigurations: stored with the defaults of
// pkg/apis/admissionregistration/v1/defaults.go and the checks of
// ValidateMutatingWebhookConfiguration (pkg/apis/admissionregistration/validation) that a test
// can trip over, and read back as typed webhooks for the dispatcher (webhooks.ts).

import { parse as parseCel } from '@marcbachmann/cel-js';
import type { KubeObject } from './objects.ts';
import { isRecord } from './objects.ts';
import type { ResourceType } from './resources.ts';
import { fields } from './resources.ts';
import type { StatusCause } from './status.ts';
import { fieldInvalid, fieldRequired, fieldUnsupported } from './status.ts';

export interface LabelSelectorSpec {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly {
    readonly key: string;
    readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    readonly values?: readonly string[];
  }[];
}

export interface WebhookRule {
  readonly operations: readonly string[];
  readonly apiGroups: readonly string[];
  readonly apiVersions: readonly string[];
  readonly resources: readonly string[];
  readonly scope: 'Cluster' | 'Namespaced' | '*';
}

export interface ServiceReference {
  readonly namespace: string;
  readonly name: string;
  readonly path?: string;
  readonly port: number;
}

/** One webhook of a configuration, defaulted as the real server stores it. */
export interface MutatingWebhook {
  readonly name: string;
  /** `<configuration>/<index>`: tells two webhooks of the same name apart. */
  readonly uid: string;
  readonly clientConfig: {
    readonly url?: string;
    readonly service?: ServiceReference;
    /** base64 PEM; absent: the system's trust roots. */
    readonly caBundle?: string;
  };
  readonly rules: readonly WebhookRule[];
  readonly failurePolicy: 'Ignore' | 'Fail';
  readonly namespaceSelector: LabelSelectorSpec;
  readonly objectSelector: LabelSelectorSpec;
  readonly timeoutSeconds: number;
  readonly reinvocationPolicy: 'Never' | 'IfNeeded';
  readonly matchConditions: readonly { readonly name: string; readonly expression: string }[];
}

const FAILURE_POLICIES = ['Ignore', 'Fail'];
const SIDE_EFFECTS = ['None', 'NoneOnDryRun'];
const REINVOCATION_POLICIES = ['Never', 'IfNeeded'];
const SCOPES = ['Cluster', 'Namespaced', '*'];

const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const record = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});

/** The defaults of SetDefaults_MutatingWebhook, SetDefaults_Rule and SetDefaults_ServiceReference. */
function defaultWebhook(webhook: Record<string, unknown>): Record<string, unknown> {
  const clientConfig = record(webhook['clientConfig']);
  const service = clientConfig['service'];
  return {
    ...webhook,
    failurePolicy: webhook['failurePolicy'] ?? 'Fail',
    matchPolicy: webhook['matchPolicy'] ?? 'Equivalent',
    namespaceSelector: webhook['namespaceSelector'] ?? {},
    objectSelector: webhook['objectSelector'] ?? {},
    timeoutSeconds: webhook['timeoutSeconds'] ?? 10,
    reinvocationPolicy: webhook['reinvocationPolicy'] ?? 'Never',
    rules: list(webhook['rules']).map((rule) => ({ scope: '*', ...record(rule) })),
    clientConfig: isRecord(service)
      ? { ...clientConfig, service: { port: 443, ...service } }
      : clientConfig,
  };
}

function webhookCauses(webhook: Record<string, unknown>, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (typeof webhook['name'] !== 'string' || !webhook['name'].includes('.'))
    causes.push(
      fieldInvalid(
        `${at}.name`,
        webhook['name'],
        'should be a domain with at least three segments',
      ),
    );
  const versions = list(webhook['admissionReviewVersions']);
  if (versions.length === 0) causes.push(fieldRequired(`${at}.admissionReviewVersions`));
  // This server speaks v1 only, as every API server since 1.22 prefers it.
  else if (!versions.includes('v1'))
    causes.push(fieldUnsupported(`${at}.admissionReviewVersions`, versions, ['v1']));
  if (!SIDE_EFFECTS.includes(String(webhook['sideEffects'])))
    causes.push(fieldUnsupported(`${at}.sideEffects`, webhook['sideEffects'], SIDE_EFFECTS));
  if (!FAILURE_POLICIES.includes(String(webhook['failurePolicy'])))
    causes.push(
      fieldUnsupported(`${at}.failurePolicy`, webhook['failurePolicy'], FAILURE_POLICIES),
    );
  if (!REINVOCATION_POLICIES.includes(String(webhook['reinvocationPolicy'])))
    causes.push(
      fieldUnsupported(
        `${at}.reinvocationPolicy`,
        webhook['reinvocationPolicy'],
        REINVOCATION_POLICIES,
      ),
    );
  const timeout = webhook['timeoutSeconds'];
  if (typeof timeout !== 'number' || timeout < 1 || timeout > 30)
    causes.push(
      fieldInvalid(
        `${at}.timeoutSeconds`,
        timeout,
        'the timeout value must be between 1 and 30 seconds',
      ),
    );
  const clientConfig = record(webhook['clientConfig']);
  const hasUrl = typeof clientConfig['url'] === 'string';
  const hasService = isRecord(clientConfig['service']);
  if (hasUrl === hasService)
    causes.push(fieldRequired(`${at}.clientConfig`, 'exactly one of url or service is required'));
  if (hasUrl && !String(clientConfig['url']).startsWith('https://'))
    causes.push(fieldUnsupported(`${at}.clientConfig.url`, clientConfig['url'], ['https']));
  for (const [i, rule] of list(webhook['rules']).entries())
    if (!SCOPES.includes(String(record(rule)['scope'])))
      causes.push(fieldUnsupported(`${at}.rules[${i}].scope`, record(rule)['scope'], SCOPES));
  for (const [i, condition] of list(webhook['matchConditions']).entries()) {
    const expression = record(condition)['expression'];
    try {
      parseCel(typeof expression === 'string' ? expression : '');
    } catch (e) {
      causes.push(
        fieldInvalid(
          `${at}.matchConditions[${i}].expression`,
          expression,
          `compilation failed: ${(e as Error).message}`,
        ),
      );
    }
  }
  return causes;
}

function configurationCauses(obj: KubeObject): StatusCause[] {
  const webhooks = list(obj['webhooks']);
  const names = new Set<string>();
  const causes: StatusCause[] = [];
  for (const [i, webhook] of webhooks.entries()) {
    const name = record(webhook)['name'];
    if (typeof name === 'string' && names.has(name))
      causes.push({
        reason: 'FieldValueDuplicate',
        field: `webhooks[${i}].name`,
        message: `Duplicate value: "${name}"`,
      });
    names.add(String(name));
    causes.push(...webhookCauses(record(webhook), `webhooks[${i}]`));
  }
  return causes;
}

export const mutatingWebhookConfigurations: ResourceType = {
  resource: 'mutatingwebhookconfigurations',
  singular: 'mutatingwebhookconfiguration',
  kind: 'MutatingWebhookConfiguration',
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  namespaced: false,
  shortNames: [],
  fields: fields(false, {}),
  subresources: [],
  deleteReturnsObject: false,
  allowCreateOnUpdate: false,
  strategy: {
    prepare: (obj) => ({
      ...obj,
      webhooks: list(obj['webhooks']).map((w) => defaultWebhook(record(w))),
    }),
    validate: (obj) => configurationCauses(obj),
  },
};

const strings = (value: unknown): string[] =>
  list(value).filter((v): v is string => typeof v === 'string');

/** The webhooks of stored (defaulted, valid) configurations, in the order the server calls them. */
export function webhooksOf(configurations: readonly KubeObject[]): MutatingWebhook[] {
  // The dispatcher sorts configurations by name (MutatingWebhookConfigurationSorter).
  const sorted = [...configurations].sort((a, b) =>
    (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  );
  return sorted.flatMap((configuration) =>
    list(configuration['webhooks']).map((raw, index): MutatingWebhook => {
      const w = record(raw);
      const client = record(w['clientConfig']);
      const service = record(client['service']);
      return {
        name: String(w['name']),
        uid: `${configuration.metadata.name ?? ''}/${index}`,
        clientConfig: {
          ...(typeof client['url'] === 'string' ? { url: client['url'] } : {}),
          ...(isRecord(client['service'])
            ? {
                service: {
                  namespace: String(service['namespace']),
                  name: String(service['name']),
                  port: Number(service['port']),
                  ...(typeof service['path'] === 'string' ? { path: service['path'] } : {}),
                },
              }
            : {}),
          ...(typeof client['caBundle'] === 'string' && client['caBundle'] !== ''
            ? { caBundle: client['caBundle'] }
            : {}),
        },
        rules: list(w['rules']).map((r) => {
          const rule = record(r);
          return {
            operations: strings(rule['operations']),
            apiGroups: strings(rule['apiGroups']),
            apiVersions: strings(rule['apiVersions']),
            resources: strings(rule['resources']),
            scope: rule['scope'] as WebhookRule['scope'],
          };
        }),
        failurePolicy: w['failurePolicy'] as MutatingWebhook['failurePolicy'],
        namespaceSelector: record(w['namespaceSelector']),
        objectSelector: record(w['objectSelector']),
        timeoutSeconds: Number(w['timeoutSeconds']),
        reinvocationPolicy: w['reinvocationPolicy'] as MutatingWebhook['reinvocationPolicy'],
        matchConditions: list(w['matchConditions']).map((c) => ({
          name: String(record(c)['name']),
          expression: String(record(c)['expression']),
        })),
      };
    }),
  );
}

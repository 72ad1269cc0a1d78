// The schemas the deploy tests check rendered objects against: the Kubernetes OpenAPI schemas of
// kubernetes-models (and its prometheus-operator and cert-manager packages), and the field lists
// of client-node's generated models, which catch fields the API server would refuse. Shared by
// the kustomize tests (manifests.test.ts) and the Helm chart's (helm.test.ts).

import * as clientNode from '@kubernetes/client-node';
import type { KubeObject } from './kustomize.ts';

interface ValidatingModel {
  validate(): void;
}
type ModelConstructor = new (data: unknown) => ValidatingModel;

/** CRD groups the manifests use, and the kubernetes-models package with their schemas. */
const CRD_MODELS: Readonly<Record<string, string>> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'cert-manager.io': '@kubernetes-models/cert-manager',
};

export const crdGroup = (apiVersion: string): string | undefined =>
  Object.keys(CRD_MODELS).find((group) => apiVersion.startsWith(`${group}/`));

/** The kubernetes-models class for an apiVersion/kind, or undefined when none ships. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelConstructor | undefined> {
  const group = crdGroup(apiVersion);
  const specifier =
    group === undefined ? `kubernetes-models/${apiVersion}` : `${CRD_MODELS[group]}/${apiVersion}`;
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const model = module[kind];
  return typeof model === 'function' ? (model as ModelConstructor) : undefined;
}

/** The JSON schema errors of an object, as "path message" lines (empty when valid). */
export async function schemaErrors(object: KubeObject): Promise<string[]> {
  const Model = await modelFor(object.apiVersion, object.kind);
  if (Model === undefined) return [`no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

interface AttributeType {
  readonly baseName: string;
  readonly type: string;
}
interface GeneratedModel {
  getAttributeTypeMap(): readonly AttributeType[];
}

function generatedModel(type: string): GeneratedModel | undefined {
  const candidate = (clientNode as unknown as Record<string, unknown>)[type];
  if (typeof candidate !== 'function') return undefined;
  const model = candidate as unknown as Partial<GeneratedModel>;
  return typeof model.getAttributeTypeMap === 'function' ? (model as GeneratedModel) : undefined;
}

/**
 * Fields the API server does not know. JSON schemas of the Kubernetes OpenAPI allow extra
 * properties, but `kubectl apply` (strict field validation) refuses them, and a misspelled
 * security field would otherwise be dropped silently. client-node's generated models list
 * every field of every built-in type.
 */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1] !== undefined) {
    const itemType = array[1];
    return Array.isArray(value)
      ? value.flatMap((item, i) => unknownFields(item, itemType, `${path}[${i}]`))
      : [];
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined) {
    const valueType = map[1];
    return typeof value === 'object'
      ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, valueType, `${path}.${k}`))
      : [];
  }
  const model = generatedModel(type);
  if (model === undefined || typeof value !== 'object') return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined
      ? [`${path}.${key} is not a field of ${type}`]
      : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

/** The client-node type of a built-in object (V1DaemonSet ...), undefined for CRDs. */
export function builtInType(object: KubeObject): string | undefined {
  const version = object.apiVersion.split('/').at(-1) ?? '';
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
  return generatedModel(type) === undefined ? undefined : type;
}

// CustomResourceDefinitions (apiextensions.k8s.io/v1): the CRD resource itself, what the
// real server checks of one and adds to it (defaulted names, an Established status), and the
// resource types a CRD serves, one per served version, sharing one store as a CRD with
// conversion strategy None does (only apiVersion changes between versions).

import { parseAllDocuments } from 'yaml';
import type { Result } from '../../../agent/result.ts';
import { err, ok } from '../../../agent/result.ts';
import type { ResourceCatalog } from './catalog.ts';
import type { KubeObject } from './objects.ts';
import { fieldText, isRecord, without } from './objects.ts';
import type { Registry } from './registry.ts';
import type { FieldGetter, ResourceType, SubresourceName } from './resources.ts';
import { fields, storageKeyOf } from './resources.ts';
import type { CompiledSchema, OpenApiSchema } from './schema.ts';
import { compileSchema } from './schema.ts';
import type { StatusCause } from './status.ts';
import { fieldInvalid, fieldRequired, fieldUnsupported } from './status.ts';
import type { VersionedStore } from './store.ts';

export const crdGroup = 'apiextensions.k8s.io';

interface CrdNames {
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly shortNames: readonly string[];
}

interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly storage: boolean;
  readonly schema: OpenApiSchema | undefined;
  readonly status: boolean;
  readonly selectableFields: readonly string[];
}

interface CrdSpec {
  readonly group: string;
  readonly names: CrdNames;
  readonly namespaced: boolean;
  readonly versions: readonly CrdVersion[];
}

const record = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});
const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

function specOf(crd: KubeObject): CrdSpec {
  const spec = record(crd['spec']);
  const names = record(spec['names']);
  const kind = text(names['kind']);
  return {
    group: text(spec['group']),
    names: {
      plural: text(names['plural']),
      singular: text(names['singular']) || kind.toLowerCase(),
      kind,
      listKind: text(names['listKind']) || `${kind}List`,
      shortNames: strings(names['shortNames']),
    },
    namespaced: spec['scope'] === 'Namespaced',
    versions: (Array.isArray(spec['versions']) ? spec['versions'] : []).map((v: unknown) => {
      const version = record(v);
      const schema = record(version['schema'])['openAPIV3Schema'];
      return {
        name: text(version['name']),
        served: version['served'] === true,
        storage: version['storage'] === true,
        schema: isRecord(schema) ? schema : undefined,
        status: isRecord(record(version['subresources'])['status']),
        selectableFields: (Array.isArray(version['selectableFields'])
          ? version['selectableFields']
          : []
        ).map((f: unknown) => text(record(f)['jsonPath']).replace(/^\./, '')),
      };
    }),
  };
}

const dnsLabel = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The checks of ValidateCustomResourceDefinition this server relies on. */
export function crdCauses(crd: KubeObject): StatusCause[] {
  const spec = specOf(crd);
  const causes: StatusCause[] = [];
  const name = crd.metadata.name ?? '';
  if (name !== `${spec.names.plural}.${spec.group}`) {
    causes.push(fieldInvalid('metadata.name', name, 'must be spec.names.plural+"."+spec.group'));
  }
  if (spec.group === '') causes.push(fieldRequired('spec.group'));
  else if (!spec.group.includes('.')) {
    causes.push(fieldInvalid('spec.group', spec.group, 'should be a domain with at least one dot'));
  }
  const scope = record(crd['spec'])['scope'];
  if (scope !== 'Namespaced' && scope !== 'Cluster') {
    causes.push(fieldUnsupported('spec.scope', scope ?? '', ['Cluster', 'Namespaced']));
  }
  if (!dnsLabel.test(spec.names.plural)) {
    causes.push(fieldInvalid('spec.names.plural', spec.names.plural, 'a lowercase RFC 1123 label'));
  }
  if (spec.names.kind === '') causes.push(fieldRequired('spec.names.kind'));
  if (spec.versions.length === 0) {
    causes.push(
      fieldInvalid('spec.versions', [], 'must have exactly one version marked as storage version'),
    );
  } else if (spec.versions.filter((v) => v.storage).length !== 1) {
    causes.push(
      fieldInvalid(
        'spec.versions',
        spec.versions.map((v) => v.name),
        'must have exactly one version marked as storage version',
      ),
    );
  }
  spec.versions.forEach((v, i) => {
    if (v.schema === undefined) {
      causes.push(
        fieldRequired(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'),
      );
    }
  });
  return causes;
}

/** What the real server writes into a CRD it accepts: defaulted names and an Established status. */
export function establishCrd(crd: KubeObject, now: string): KubeObject {
  const spec = specOf(crd);
  const names = {
    plural: spec.names.plural,
    singular: spec.names.singular,
    kind: spec.names.kind,
    listKind: spec.names.listKind,
    ...(spec.names.shortNames.length > 0 ? { shortNames: spec.names.shortNames } : {}),
  };
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    ...crd,
    spec: { ...record(crd['spec']), names },
    status: {
      conditions: [
        condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
      acceptedNames: names,
      storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
    },
  };
}

export const crdResource: ResourceType = {
  resource: 'customresourcedefinitions',
  singular: 'customresourcedefinition',
  kind: 'CustomResourceDefinition',
  group: crdGroup,
  version: 'v1',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  fields: fields(false, {}),
  subresources: ['status'],
  deleteReturnsObject: true,
  allowCreateOnUpdate: false,
  strategy: {
    prepare: (obj, _old, context) => establishCrd(obj, context.now),
    validate: (obj) => crdCauses(obj),
  },
};

function customStrategy(
  schema: CompiledSchema,
  hasStatus: boolean,
): NonNullable<ResourceType['strategy']> {
  return {
    prepare: (obj, old, { origin }) => {
      // With a status subresource, a create through the main resource starts without status
      // (customResourceStrategy.PrepareForCreate).
      const input =
        hasStatus && old === undefined && origin === 'request' ? without(obj, ['status']) : obj;
      return schema.prune(input).value as KubeObject;
    },
    validate: (obj) => schema.validate(obj),
    undeclaredFields: (obj) => schema.prune(obj).unknown,
  };
}

/** The resource types a valid CRD serves, the storage version first. */
export function typesOfCrd(crd: KubeObject): Result<ResourceType[], StatusCause[]> {
  const causes = crdCauses(crd);
  if (causes.length > 0) return err(causes);
  const spec = specOf(crd);
  const storageKey = `${spec.names.plural}.${spec.group}`;
  const storage = spec.versions.find((v) => v.storage)?.name ?? '';
  const served = spec.versions
    .filter((v) => v.served)
    .sort((a, b) => Number(b.storage) - Number(a.storage));
  return ok(
    served.map((v): ResourceType => {
      const apiVersion = `${spec.group}/${v.name}`;
      const selectable: Record<string, FieldGetter> = Object.fromEntries(
        v.selectableFields.map((path) => [
          path,
          (obj: KubeObject) => fieldText(obj, path.split('.')),
        ]),
      );
      const subresources: SubresourceName[] = v.status ? ['status'] : [];
      return {
        resource: spec.names.plural,
        singular: spec.names.singular,
        kind: spec.names.kind,
        group: spec.group,
        version: v.name,
        namespaced: spec.namespaced,
        shortNames: spec.names.shortNames,
        fields: fields(spec.namespaced, selectable),
        subresources,
        deleteReturnsObject: false,
        allowCreateOnUpdate: false,
        storageKey,
        codec: {
          toStorage: (obj) => ({ ...obj, apiVersion: `${spec.group}/${storage}` }),
          fromStorage: (obj) => ({ ...obj, apiVersion }),
        },
        strategy: customStrategy(compileSchema(v.schema ?? {}), v.status),
        tracksGeneration: true,
      };
    }),
  );
}

/** CRDs from YAML (one or more documents) or objects, as a test hands them over. */
export function parseCrds(sources: readonly (string | object)[]): Result<KubeObject[], string> {
  const crds: KubeObject[] = [];
  for (const source of sources) {
    const docs =
      typeof source === 'string'
        ? parseAllDocuments(source).map((d) => d.toJSON() as unknown)
        : [JSON.parse(JSON.stringify(source)) as unknown];
    for (const doc of docs) {
      if (doc === null || doc === undefined) continue;
      if (!isRecord(doc) || doc['kind'] !== 'CustomResourceDefinition') {
        return err(
          'a customResourceDefinitions entry holds something other than a CustomResourceDefinition',
        );
      }
      crds.push({ ...doc, metadata: record(doc['metadata']) });
    }
  }
  return ok(crds);
}

/**
 * Serves each CRD stored (whoever wrote it) and stops serving a deleted one, removing its
 * objects as the real server's CRD finalizer does.
 */
export function serveStoredCrds(
  store: VersionedStore,
  catalog: ResourceCatalog,
  registry: Registry,
): () => void {
  return store.subscribe((rt, change) => {
    if (storageKeyOf(rt) !== storageKeyOf(crdResource)) return;
    const name = change.object.metadata.name ?? '';
    if (change.type === 'DELETED') {
      const [served] = catalog.uninstall(name);
      if (served) {
        for (const obj of store.objects(served)) {
          registry.delete(served, {
            name: obj.metadata.name ?? '',
            ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          });
        }
      }
      return;
    }
    const types = typesOfCrd(change.object);
    if (types.ok) catalog.install(name, types.value);
  });
}

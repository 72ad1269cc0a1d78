// A CRD schema applied to custom resources: pruning, null handling and defaults, then
// validation, each as a named case.

import t from 'tap';
import type { KubeObject } from './objects.ts';
import type { OpenApiSchema } from './schema.ts';
import { compileSchema } from './schema.ts';

const schema = (spec: Record<string, unknown>): OpenApiSchema => ({
  type: 'object',
  properties: { spec: { type: 'object', properties: spec } },
});

const object = (spec: unknown): KubeObject => ({
  apiVersion: 'example.com/v1',
  kind: 'Thing',
  metadata: { name: 'x', labels: { a: 'b' } },
  spec,
});

const pruneCases = [
  {
    name: 'an undeclared field is pruned and reported',
    spec: { a: { type: 'string' } },
    input: { a: 'kept', b: 'dropped' },
    want: { a: 'kept' },
    unknown: ['spec.b'],
  },
  {
    name: 'x-kubernetes-preserve-unknown-fields keeps everything below it',
    spec: { free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    input: { free: { deep: { er: 1 } } },
    want: { free: { deep: { er: 1 } } },
    unknown: [],
  },
  {
    name: 'a null where the schema is not nullable is dropped',
    spec: { a: { type: 'string' }, b: { type: 'string', nullable: true } },
    input: { a: null, b: null },
    want: { b: null },
    unknown: [],
  },
  {
    name: 'a missing field with a default gets it',
    spec: { a: { type: 'integer', default: 3 } },
    input: {},
    want: { a: 3 },
    unknown: [],
  },
  {
    name: 'additionalProperties is the schema of every map value',
    spec: {
      m: { type: 'object', additionalProperties: { type: 'object', properties: { x: {} } } },
    },
    input: { m: { one: { x: 1, y: 2 } } },
    want: { m: { one: { x: 1 } } },
    unknown: ['spec.m.one.y'],
  },
  {
    name: 'list items are pruned by the items schema',
    spec: { l: { type: 'array', items: { type: 'object', properties: { x: {} } } } },
    input: { l: [{ x: 1, y: 2 }] },
    want: { l: [{ x: 1 }] },
    unknown: ['spec.l[0].y'],
  },
  {
    name: 'an embedded resource keeps its apiVersion, kind and metadata',
    spec: {
      e: {
        type: 'object',
        'x-kubernetes-embedded-resource': true,
        properties: { data: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    },
    input: { e: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {}, z: 1 } },
    want: { e: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} } },
    unknown: ['spec.e.z'],
  },
];

for (const c of pruneCases) {
  t.test(`pruning: ${c.name}`, async (t) => {
    const pruned = compileSchema(schema(c.spec)).prune(object(c.input));
    t.same((pruned.value as KubeObject)['spec'], c.want);
    t.same(pruned.unknown, c.unknown);
    t.same((pruned.value as KubeObject).metadata, { name: 'x', labels: { a: 'b' } });
  });
}

const validationCases = [
  {
    name: 'int-or-string takes both',
    spec: { s: { 'x-kubernetes-int-or-string': true } },
    input: { s: '50%' },
    fields: [],
  },
  {
    name: 'int-or-string refuses a boolean',
    spec: { s: { 'x-kubernetes-int-or-string': true } },
    input: { s: true },
    fields: ['spec.s'],
  },
  {
    name: 'date-time is checked',
    spec: { t: { type: 'string', format: 'date-time' } },
    input: { t: 'yesterday' },
    fields: ['spec.t'],
  },
  {
    name: 'a format the server does not know is ignored',
    spec: { t: { type: 'string', format: 'kubernetes-name' } },
    input: { t: 'Anything Goes' },
    fields: [],
  },
  {
    name: 'int64 takes any integer, not a fraction',
    spec: { n: { type: 'integer', format: 'int64' } },
    input: { n: 1.5 },
    fields: ['spec.n'],
  },
  {
    name: 'every error is named',
    spec: { a: { type: 'string', enum: ['x'] }, b: { type: 'boolean' } },
    input: { a: 'y', b: 'no' },
    fields: ['spec.a', 'spec.b'],
  },
  {
    name: 'x-kubernetes-validations (CEL) are not evaluated',
    spec: { a: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == "z"' }] } },
    input: { a: 'y' },
    fields: [],
  },
];

for (const c of validationCases) {
  t.test(`validation: ${c.name}`, async (t) => {
    const causes = compileSchema(schema(c.spec)).validate(object(c.input));
    t.same(
      causes.map((cause) => cause.field),
      c.fields,
      causes.map((cause) => cause.message).join('; '),
    );
  });
}

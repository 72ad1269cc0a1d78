// The kubelet's record files are read from disk: whatever they hold (arbitrary bytes, arbitrary
// JSON, records with fields of the wrong type or nested absurdly deep), the parsers return a
// Result and never throw, and what they accept is well formed.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import t from 'tap';
import type { PulledRecord } from './kubelet-record-format.ts';
import {
  KUBELET_RECORD_API_VERSIONS,
  MAX_RECORD_BYTES,
  parseKubeletRecord,
  parsePullIntent,
  parsePulledRecord,
} from './kubelet-record-format.ts';

const PARSERS = { parseKubeletRecord, parsePulledRecord, parsePullIntent } as const;

/** Runs every parser on `text`; a throw fails the property with the parser named. */
function parseAll(text: string): void {
  for (const [name, parse] of Object.entries(PARSERS)) {
    let result;
    try {
      result = parse(text);
    } catch (error) {
      throw new Error(`${name} threw ${String(error)}`, { cause: error });
    }
    if (typeof result.ok !== 'boolean') throw new Error(`${name} returned no Result`);
    if (!result.ok && (typeof result.error !== 'string' || result.error === '')) {
      throw new Error(`${name} refused without a reason`);
    }
    // Reasons end up in log lines: bounded, whatever the file held.
    if (!result.ok && result.error.length > 1000) throw new Error(`${name}: a reason that long`);
  }
}

function checkPulled(record: PulledRecord): void {
  if (record.imageRef === '') throw new Error('a record without imageRef was accepted');
  if (!Number.isFinite(record.lastUpdatedTime)) throw new Error('lastUpdatedTime is not a time');
  for (const [name, credentials] of record.credentialMapping) {
    if (typeof name !== 'string') throw new Error('a mapping key is not a string');
    for (const s of credentials.kubernetesSecrets) {
      if (s.namespace === '' || s.name === '') throw new Error('a secret without coordinates');
      if (s.credentialHash !== undefined && !/^[0-9a-f]{64}$/.test(s.credentialHash)) {
        throw new Error(`credentialHash ${s.credentialHash}`);
      }
    }
    if (typeof credentials.nodePodsAccessible !== 'boolean') {
      throw new Error('nodePodsAccessible is not a boolean');
    }
  }
}

const garbage = fc.oneof(fc.jsonValue(), fc.string(), fc.constant(null));
function field<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(valid, garbage);
}
const coordinates = fc.record(
  {
    uid: field(fc.uuid()),
    namespace: field(fc.constantFrom('team-a', '')),
    name: field(fc.constantFrom('pull', '')),
    credentialHash: field(
      fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{64}$/), fc.stringMatching(/^[0-9a-f]{1,70}$/)),
    ),
  },
  { requiredKeys: [] },
);
const credentials = fc.record(
  {
    kubernetesSecrets: field(fc.array(field(coordinates), { maxLength: 3 })),
    kubernetesSecretCoordinates: field(fc.array(field(coordinates), { maxLength: 3 })),
    kubernetesServiceAccounts: field(fc.array(field(coordinates), { maxLength: 3 })),
    nodePodsAccessible: field(fc.boolean()),
  },
  { requiredKeys: [] },
);
const time = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2025-06-01T10:00:00Z', '2025-06-01t10:00:00+02:00', '2025-13-45T99:99:99Z'),
);
const recordShaped = fc.record(
  {
    kind: field(fc.constantFrom('ImagePulledRecord', 'ImagePullIntent', 'toString')),
    apiVersion: field(fc.constantFrom(...KUBELET_RECORD_API_VERSIONS)),
    imageRef: field(fc.constantFrom('sha256:' + '1'.repeat(64), '')),
    image: field(fc.constantFrom('registry.example.com/a:1', '')),
    lastUpdatedTime: field(time),
    credentialMapping: field(
      fc.dictionary(
        fc.oneof(
          fc.string(),
          fc.constantFrom('__proto__', 'constructor', 'registry.example.com/a'),
        ),
        field(credentials),
      ),
    ),
  },
  { requiredKeys: [] },
);

t.test('arbitrary text and bytes never throw', async () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      parseAll(text);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      parseAll(Buffer.from(bytes).toString('utf8'));
      parseAll(Buffer.from(bytes).toString('latin1'));
    }),
    { numRuns: 500 },
  );
});

t.test('arbitrary JSON never throws', async () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      parseAll(JSON.stringify(value));
    }),
    { numRuns: 500 },
  );
});

t.test(
  'records with fields of every wrong type: never throw, accepted ones are whole',
  async () => {
    fc.assert(
      fc.property(recordShaped, (value) => {
        const text = JSON.stringify(value);
        parseAll(text);
        const pulled = parsePulledRecord(text);
        if (pulled.ok) checkPulled(pulled.value);
      }),
      { numRuns: 2000 },
    );
  },
);

t.test('JSON nested deeper than any stack, in any field, never throws', async () => {
  const nested = (depth: number, open: string, close: string) =>
    open.repeat(depth) + close.repeat(depth);
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}']))
    .map(([depth, [open, close]]) =>
      open === '[' ? nested(depth, '[', ']') : `${open.repeat(depth)}1${close.repeat(depth)}`,
    );
  const where = fc.constantFrom(
    (v: string) => v,
    (v: string) => `{"apiVersion":${v}}`,
    (v: string) => `{"apiVersion":"${KUBELET_RECORD_API_VERSIONS[1]}","kind":${v}}`,
    (v: string) =>
      `{"apiVersion":"${KUBELET_RECORD_API_VERSIONS[1]}","kind":"ImagePulledRecord","imageRef":"x","lastUpdatedTime":${v}}`,
    (v: string) =>
      `{"apiVersion":"${KUBELET_RECORD_API_VERSIONS[0]}","kind":"ImagePulledRecord","imageRef":"x","lastUpdatedTime":"2025-06-01T10:00:00Z","credentialMapping":{"r/a":{"kubernetesSecrets":[{"namespace":"a","name":"b","credentialHash":${v}}]}}}`,
  );
  fc.assert(
    fc.property(deep, where, (value, place) => {
      const text = place(value);
      if (Buffer.byteLength(text) <= MAX_RECORD_BYTES) parseAll(text);
    }),
    { numRuns: 60 },
  );
});

t.test('a file over the size limit is refused without being parsed', async (t) => {
  const text = `{"apiVersion":"${KUBELET_RECORD_API_VERSIONS[1]}","pad":"${'x'.repeat(MAX_RECORD_BYTES)}"}`;
  const result = parsePulledRecord(text);
  t.notOk(result.ok);
  t.match(result.ok ? '' : result.error, /larger than/);
});

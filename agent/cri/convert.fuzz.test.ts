// Whatever a runtime (or a broken proxy in front of it) sends, conversion never throws: every
// item becomes a valid domain value or is rejected with a reason, and a bad item never hides
// the good ones around it.
import { inspect } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import {
  convertContainer,
  convertContainerStatus,
  convertImage,
  convertImageFsUsage,
  convertList,
  convertPodSandbox,
} from './convert.ts';
import type { Result } from '../result.ts';

const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** A field as a runtime might send it: right, missing, or of any type. */
function field<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(valid, fc.constant(undefined), fc.constant(null), anything);
}

const wireInteger = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.integer(),
  fc.double(),
  fc.constantFrom('', '-', '1e9', '0x10', ' 1', '18446744073709551615', '-0'),
);
const rawImage = fc.record(
  {
    id: field(fc.constantFrom('sha256:' + 'a'.repeat(64), 'x', '')),
    repoTags: field(fc.array(field(fc.string()))),
    repoDigests: field(fc.array(field(fc.string()))),
    size: field(wireInteger),
    pinned: field(fc.boolean()),
  },
  { requiredKeys: [] },
);
const labels = field(fc.dictionary(fc.string(), field(fc.string())));
const rawSandbox = fc.record(
  {
    id: field(fc.string()),
    metadata: field(
      fc.record(
        {
          name: field(fc.string()),
          namespace: field(fc.string()),
          uid: field(fc.string()),
          attempt: field(fc.integer()),
        },
        { requiredKeys: [] },
      ),
    ),
    state: field(fc.constantFrom('SANDBOX_READY', 'SANDBOX_NOTREADY', 'x')),
    createdAt: field(wireInteger),
    labels,
  },
  { requiredKeys: [] },
);
const rawContainer = fc.record(
  {
    id: field(fc.string()),
    podSandboxId: field(fc.string()),
    metadata: field(
      fc.record({ name: field(fc.string()), attempt: field(fc.integer()) }, { requiredKeys: [] }),
    ),
    image: field(fc.record({ image: field(fc.string()) }, { requiredKeys: [] })),
    imageRef: field(fc.string()),
    state: field(fc.constantFrom('CONTAINER_RUNNING', 'CONTAINER_EXITED', 'x', 'toString')),
    createdAt: field(wireInteger),
    startedAt: field(wireInteger),
    finishedAt: field(wireInteger),
    exitCode: field(fc.integer()),
    reason: field(fc.string()),
    message: field(fc.string()),
    labels,
  },
  { requiredKeys: [] },
);
const rawFsUsage = fc.record(
  {
    fsId: field(fc.record({ mountpoint: field(fc.string()) }, { requiredKeys: [] })),
    usedBytes: field(fc.record({ value: field(wireInteger) }, { requiredKeys: [] })),
    inodesUsed: field(fc.record({ value: field(wireInteger) }, { requiredKeys: [] })),
    timestamp: field(wireInteger),
  },
  { requiredKeys: [] },
);

/** Calls a converter; a throw becomes a failed property with the input named. */
function converts<T>(
  convert: (raw: unknown) => Result<T, string>,
  raw: unknown,
): Result<T, string> {
  const result = convert(raw);
  if (typeof result.ok !== 'boolean') throw new Error('not a Result');
  if (!result.ok && (typeof result.error !== 'string' || result.error === '')) {
    throw new Error('rejected without a reason');
  }
  return result;
}

const isNonNegativeBigint = (x: unknown) => typeof x === 'bigint' && x >= 0n;
const isStringArray = (x: unknown) =>
  Array.isArray(x) && x.every((v) => typeof v === 'string' && v !== '');

const converters: Readonly<Record<string, (raw: unknown) => Result<unknown, string>>> = {
  image: convertImage,
  sandbox: convertPodSandbox,
  container: convertContainer,
  'container status': convertContainerStatus,
  'image fs usage': convertImageFsUsage,
};

t.test('any value at all: never throws, rejected with a reason', async () => {
  for (const convert of Object.values(converters)) {
    fc.assert(
      fc.property(anything, (raw) => {
        converts(convert, raw);
      }),
      { numRuns: 300 },
    );
  }
});

t.test('images with missing or garbage fields become valid values or are rejected', async () => {
  fc.assert(
    fc.property(rawImage, (raw) => {
      const result = converts(convertImage, raw);
      if (!result.ok) return;
      const image = result.value;
      if (typeof image.id !== 'string' || image.id === '') throw new Error('empty id accepted');
      if (!isStringArray(image.repoTags) || !isStringArray(image.repoDigests)) {
        throw new Error('names that are not non-empty strings');
      }
      if (!isNonNegativeBigint(image.sizeBytes)) throw new Error(`size ${image.sizeBytes}`);
      if (typeof image.pinned !== 'boolean') throw new Error('pinned is not a boolean');
    }),
    { numRuns: 1000 },
  );
});

t.test('sandboxes and containers with garbage fields are typed values or rejections', async () => {
  fc.assert(
    fc.property(rawSandbox, (raw) => {
      const result = converts(convertPodSandbox, raw);
      if (!result.ok) return;
      const { pod, state, createdAtNs, attempt } = result.value;
      if (pod.name === '' || pod.namespace === '') throw new Error('sandbox without its pod');
      if (state !== 'ready' && state !== 'not-ready') throw new Error(`state ${String(state)}`);
      if (!isNonNegativeBigint(createdAtNs) || typeof attempt !== 'number') {
        throw new Error('bad numbers');
      }
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(rawContainer, (raw) => {
      const result = converts(convertContainerStatus, raw);
      if (!result.ok) return;
      const c = result.value;
      if (!['created', 'running', 'exited', 'unknown'].includes(c.state)) {
        throw new Error(`state ${inspect(c.state)}`);
      }
      for (const s of [c.id, c.podSandboxId, c.name, c.image, c.imageRef, c.reason, c.message]) {
        if (typeof s !== 'string') throw new Error('a text field is not a string');
      }
      if (![c.createdAtNs, c.startedAtNs, c.finishedAtNs].every(isNonNegativeBigint)) {
        throw new Error('a timestamp is not a non-negative bigint');
      }
      for (const v of Object.values(c.labels)) {
        if (typeof v !== 'string') throw new Error('a label value is not a string');
      }
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(rawFsUsage, (raw) => {
      const result = converts(convertImageFsUsage, raw);
      if (!result.ok) return;
      const { usedBytes, inodesUsed } = result.value;
      for (const v of [usedBytes, inodesUsed]) {
        if (v !== undefined && typeof v !== 'bigint') throw new Error('a usage is not a bigint');
      }
    }),
    { numRuns: 500 },
  );
});

t.test('a list: every good item kept in order, every bad one rejected by index', async () => {
  const good = fc
    .tuple(fc.stringMatching(/^[a-f0-9]{1,12}$/), fc.array(fc.string({ minLength: 1 })))
    .map(([id, tags]) => ({ id: `sha256:${id}`, repoTags: tags, size: '1' }));
  const bad = fc.oneof(
    anything.filter((x) => !(typeof x === 'object' && x !== null && 'id' in x)),
    rawImage.map((r) => ({ ...r, id: '' })),
    rawImage.map((r) => ({ ...r, id: 42 })),
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          good.map((g) => ({ good: g })),
          bad.map((b) => ({ bad: b })),
        ),
      ),
      (entries) => {
        const raw = entries.map((e) => ('good' in e ? e.good : e.bad));
        const listing = convertList(raw, convertImage);
        const goodIds = entries.flatMap((e) => ('good' in e ? [e.good.id] : []));
        const badIndexes = entries.flatMap((e, i) => ('bad' in e ? [i] : []));
        if (listing.items.map((i) => i.id).join('\n') !== goodIds.join('\n')) {
          throw new Error('a good item was lost or reordered');
        }
        if (listing.rejected.map((r) => r.index).join() !== badIndexes.join()) {
          throw new Error('rejections do not name the bad items');
        }
        if (!listing.rejected.every((r) => r.reason !== '')) throw new Error('no reason given');
      },
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      anything.filter((x) => !Array.isArray(x)),
      (raw) => {
        const listing = convertList(raw, convertImage);
        if (listing.items.length + listing.rejected.length !== 0) {
          throw new Error('a list from something that is not an array');
        }
      },
    ),
  );
});

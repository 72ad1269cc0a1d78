import fc from 'fast-check';
import t from 'tap';
import {
  familiarReference,
  formatReference,
  normalizedReference,
  parseDigest,
  parseDockerRef,
  parseImageId,
  parseImageReference,
  parseRepoDigest,
  parseRepoTag,
  stripRuntimePrefix,
  toDockerRef,
  type ImageReference,
} from './reference.ts';

const alphanumeric = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const pathComponent = fc
  .tuple(alphanumeric, fc.array(fc.tuple(separator, alphanumeric), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const path = fc
  .array(pathComponent, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));

const domainComponent = fc.stringMatching(
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,6}[a-zA-Z0-9])$/,
);
const port = fc.integer({ min: 0, max: 65535 }).map((n) => `:${n}`);
const optionalPort = fc.option(port, { nil: '' });
const registry = fc
  .oneof(
    fc
      .tuple(fc.array(domainComponent, { minLength: 2, maxLength: 4 }), optionalPort)
      .map(([parts, p]) => parts.join('.') + p),
    fc.tuple(domainComponent, port).map(([host, p]) => host + p),
    optionalPort.map((p) => `localhost${p}`),
    domainComponent.filter((host) => host.toLowerCase() !== host),
    fc
      .tuple(fc.stringMatching(/^[a-fA-F0-9:]{1,12}$/), optionalPort)
      .map(([address, p]) => `[${address}]${p}`),
    fc.constantFrom('docker.io', 'index.docker.io'),
    // The first component only counts as a registry when it looks like one.
  )
  .filter(
    (host) =>
      host.includes('.') ||
      host.includes(':') ||
      host === 'localhost' ||
      host.toLowerCase() !== host,
  );

const tag = fc.oneof(
  fc.stringMatching(/^[\w][\w.-]{0,20}$/),
  fc.stringMatching(/^[\w][\w.-]{127}$/),
);
const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const digest = fc.oneof(
  hex(64).map((h) => `sha256:${h}`),
  hex(96).map((h) => `sha384:${h}`),
  hex(128).map((h) => `sha512:${h}`),
);

interface Parts {
  readonly registry: string | undefined;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

function expectedRegistry(parts: Parts): string {
  return parts.registry === undefined || parts.registry === 'index.docker.io'
    ? 'docker.io'
    : parts.registry;
}

function expectedRepository(parts: Parts): string {
  return expectedRegistry(parts) === 'docker.io' && !parts.path.includes('/')
    ? `library/${parts.path}`
    : parts.path;
}

function firstComponentLooksLikeRegistry(p: string): boolean {
  const slash = p.indexOf('/');
  if (slash === -1) return false;
  const first = p.slice(0, slash);
  return first.includes('.') || first === 'localhost';
}

const validParts: fc.Arbitrary<Parts> = fc
  .record({
    registry: fc.option(registry, { nil: undefined }),
    path,
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  // Without a registry, a first component with a dot would itself be read as one.
  .filter((parts) => parts.registry !== undefined || !firstComponentLooksLikeRegistry(parts.path))
  .filter((parts) => expectedRepository(parts).length <= 255);

function render(parts: Parts): string {
  const name = parts.registry === undefined ? parts.path : `${parts.registry}/${parts.path}`;
  return (
    name +
    (parts.tag === undefined ? '' : `:${parts.tag}`) +
    (parts.digest === undefined ? '' : `@${parts.digest}`)
  );
}

function sameReference(a: ImageReference, b: ImageReference): boolean {
  return (
    a.registry === b.registry &&
    a.repository === b.repository &&
    a.name === b.name &&
    a.tag === b.tag &&
    a.digest === b.digest
  );
}

// Pieces of references, so that random strings get deep into the grammar.
const referenceAlphabet = fc.constantFrom(
  'a',
  'A',
  '0',
  'f',
  ':',
  '/',
  '@',
  '.',
  '-',
  '_',
  '[',
  ']',
  'sha256:',
  'library/',
  'localhost',
);
const referenceLike = fc.oneof(
  validParts.map(render),
  fc.string({ unit: referenceAlphabet, maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
);

const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary-ascii', maxLength: 300 }),
  fc.string({ unit: referenceAlphabet, maxLength: 300 }),
  // Lone surrogates: string units that JavaScript allows and UTF-8 cannot encode.
  fc
    .array(fc.integer({ min: 0xd800, max: 0xdfff }), { maxLength: 10 })
    .map((units) => String.fromCharCode(...units)),
);

function isWellFormedResult(result: unknown): boolean {
  if (typeof result !== 'object' || result === null || !('ok' in result)) return false;
  if (result.ok === true) return 'value' in result;
  return (
    'error' in result &&
    typeof result.error === 'object' &&
    result.error !== null &&
    'kind' in result.error &&
    'message' in result.error &&
    typeof result.error.message === 'string' &&
    result.error.message.length > 0
  );
}

function parseEverything(input: string): boolean {
  stripRuntimePrefix(input);
  parseImageId(input);
  return [
    parseImageReference(input),
    parseDockerRef(input),
    parseRepoTag(input),
    parseRepoDigest(input),
    parseDigest(input),
  ].every(isWellFormedResult);
}

// fc.check instead of fc.assert so that a counterexample shows up as a tap failure message.
function holds<Ts extends [unknown, ...unknown[]]>(
  t: { notOk(value: unknown, message: string): boolean },
  property: fc.IProperty<Ts>,
  parameters: fc.Parameters<Ts>,
): void {
  const details = fc.check(property, parameters);
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? 'property held');
}

t.test('parsing never throws on arbitrary strings, unicode included', async (t) => {
  holds(t, fc.property(anyString, parseEverything), { numRuns: 2000 });
});

t.test('parsing never throws on huge repetitive strings', async (t) => {
  const huge = fc
    .tuple(
      fc.string({ unit: referenceAlphabet, minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1_000, max: 200_000 }),
    )
    .map(([piece, times]) => piece.repeat(times));
  holds(t, fc.property(huge, parseEverything), { numRuns: 50 });
});

t.test('generated valid references round-trip their parts', async (t) => {
  holds(
    t,
    fc.property(validParts, (parts) => {
      const parsed = parseImageReference(render(parts));
      if (!parsed.ok) return false;
      const ref = parsed.value;
      return (
        ref.registry === expectedRegistry(parts) &&
        ref.repository === expectedRepository(parts) &&
        ref.name === `${expectedRegistry(parts)}/${expectedRepository(parts)}` &&
        ref.tag === parts.tag &&
        ref.digest === parts.digest
      );
    }),
    { numRuns: 1000 },
  );
});

t.test('normalizing is idempotent', async (t) => {
  holds(
    t,
    fc.property(referenceLike, (input) => {
      const parsed = parseImageReference(input);
      if (!parsed.ok) return true;
      const normalized = normalizedReference(parsed.value);
      const reparsed = parseImageReference(normalized);
      return (
        reparsed.ok &&
        sameReference(reparsed.value, toDockerRef(parsed.value)) &&
        normalizedReference(reparsed.value) === normalized
      );
    }),
    { numRuns: 1000 },
  );
});

t.test(
  'the full form, the normalized form and the familiar form name the same image',
  async (t) => {
    holds(
      t,
      fc.property(validParts, (parts) => {
        const parsed = parseImageReference(render(parts));
        if (!parsed.ok) return false;
        const ref = parsed.value;
        const full = parseImageReference(formatReference(ref));
        const familiar = parseImageReference(familiarReference(ref));
        const normalized = parseImageReference(normalizedReference(ref));
        return (
          full.ok &&
          sameReference(full.value, ref) &&
          familiar.ok &&
          sameReference(familiar.value, ref) &&
          normalized.ok &&
          normalized.value.name === ref.name
        );
      }),
      { numRuns: 1000 },
    );
  },
);

t.test('a digest decides over a tag in the normalized form', async (t) => {
  holds(
    t,
    fc.property(validParts, (parts) => {
      const parsed = parseDockerRef(render(parts));
      if (!parsed.ok) return false;
      const ref = parsed.value;
      return parts.digest === undefined
        ? ref.tag === (parts.tag ?? 'latest') && ref.digest === undefined
        : ref.tag === undefined && ref.digest === parts.digest;
    }),
    { numRuns: 500 },
  );
});

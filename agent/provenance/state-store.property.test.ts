// A torn write (a crash mid-write on a system without our rename, a disk that lost the tail of
// the file, zero-filled blocks after a power cut) must never be loaded as valid state: load gives
// the whole state or nothing (the file set aside), never part of it.
import { Buffer } from 'node:buffer';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { makeTempDir } from '../../test/helpers/tmp.ts';
import { NODE, T0, sampleState, stateArbitrary } from './state-fixtures.test-helper.ts';
import {
  decodeProvenanceState,
  encodeProvenanceState,
  type ProvenanceState,
} from './state-format.ts';
import { STATE_FILE_NAME, loadProvenance, stateFilePath } from './state-store.ts';

type Torn = (bytes: Buffer, offset: number) => Buffer;
const truncated: Torn = (bytes, offset) => bytes.subarray(0, offset);
const zeroFilled: Torn = (bytes, offset) =>
  Buffer.concat([bytes.subarray(0, offset), Buffer.alloc(bytes.length - offset)]);

/** Whether `torn` is, as JSON text, the same document as the intact file. */
function sameDocument(torn: Buffer, intact: Buffer): boolean {
  return torn.toString('utf8').trim() === intact.toString('utf8').trim();
}

t.test('a state file cut at any offset loads whole or not at all', async (t) => {
  const dir = await makeTempDir(t, 'torn');
  const state = sampleState();
  const intact = Buffer.from(encodeProvenanceState(state), 'utf8');
  for (const [label, tear] of [
    ['truncated', truncated],
    ['zero-filled', zeroFilled],
  ] as const) {
    let loadedWhole = 0;
    for (let offset = 0; offset <= intact.length; offset++) {
      const torn = tear(intact, offset);
      await writeFile(stateFilePath(dir), torn);
      const loaded = await loadProvenance(dir, { node: NODE, now: T0 + offset });
      if (loaded.outcome === 'loaded') {
        loadedWhole++;
        if (!sameDocument(torn, intact)) t.fail(`${label} at ${offset} loaded a partial file`);
        t.same(loaded.images, state.images, `${label} at ${offset} loaded the whole state`);
      } else if (loaded.outcome !== 'set-aside' || loaded.images.size !== 0) {
        t.fail(`${label} at ${offset}: outcome ${loaded.outcome}`);
      } else if ((await readdir(dir)).includes(STATE_FILE_NAME)) {
        t.fail(`${label} at ${offset}: the torn file was not moved aside`);
      }
      for (const name of await readdir(dir)) await rm(join(dir, name));
    }
    // Only the intact file, and the intact file without its final newline, are whole.
    t.equal(loadedWhole, label === 'truncated' ? 2 : 1, `${label}: files that loaded`);
  }
});

t.test('property: no prefix of any state file decodes to anything but that state', async () => {
  fc.assert(
    fc.property(
      stateArbitrary,
      fc.double({ min: 0, max: 1, noNaN: true }),
      (state: ProvenanceState, fraction) => {
        const intact = Buffer.from(encodeProvenanceState(state), 'utf8');
        const offset = Math.floor(fraction * intact.length);
        for (const torn of [truncated(intact, offset), zeroFilled(intact, offset)]) {
          const decoded = decodeProvenanceState(torn.toString('utf8'), state.node);
          if (decoded.ok) {
            if (!sameDocument(torn, intact) || !isDeepStrictEqual(decoded.value, state)) {
              return false;
            }
          } else if (decoded.error.kind !== 'corrupt') {
            return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
});

t.test('property: every state round-trips through the file', async () => {
  fc.assert(
    fc.property(stateArbitrary, (state) => {
      const decoded = decodeProvenanceState(encodeProvenanceState(state), state.node);
      return decoded.ok && isDeepStrictEqual(decoded.value, state);
    }),
    { numRuns: 200 },
  );
});

t.test('property: through the disk, a torn file is set aside and never half-applied', async (t) => {
  const base = await makeTempDir(t, 'torn-disk');
  let run = 0;
  await fc.assert(
    fc.asyncProperty(stateArbitrary, fc.nat(), async (state, cut) => {
      const dir = join(base, String(run++));
      const intact = Buffer.from(encodeProvenanceState(state), 'utf8');
      const offset = cut % (intact.length + 1);
      await mkdir(dir);
      await writeFile(stateFilePath(dir), truncated(intact, offset));
      const loaded = await loadProvenance(dir, { node: state.node, now: T0 });
      if (loaded.outcome === 'loaded') {
        return offset >= intact.length - 1 && isDeepStrictEqual(loaded.images, state.images);
      }
      return loaded.outcome === 'set-aside' && loaded.images.size === 0;
    }),
    { numRuns: 60 },
  );
});

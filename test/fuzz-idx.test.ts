// Property-based fuzzing of the IDX reader (lib/data/idx.ts): files of every value type and rank read back as
// written, plain or gzipped; corrupt files (mutations of valid ones, arbitrary bytes, broken gzip streams) give
// an array or an IdxFormatError naming the file, never another error, a crash or a hang. Runs and seed:
// test/fixtures/fuzz.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdxFormatError, parseIdx, readIdx } from '../lib/data/idx.js';
import { corrupted, fuzzSettings } from './fixtures/fuzz.js';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-fuzz-idx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TYPES = {
  0x08: { bytes: 1, value: fc.integer({ min: 0, max: 255 }), write: (b: Buffer, v: number, at: number) => b.writeUInt8(v, at) },
  0x09: { bytes: 1, value: fc.integer({ min: -128, max: 127 }), write: (b: Buffer, v: number, at: number) => b.writeInt8(v, at) },
  0x0b: { bytes: 2, value: fc.integer({ min: -32768, max: 32767 }), write: (b: Buffer, v: number, at: number) => b.writeInt16BE(v, at) },
  0x0c: { bytes: 4, value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), write: (b: Buffer, v: number, at: number) => b.writeInt32BE(v, at) },
  0x0d: { bytes: 4, value: fc.float({ noNaN: true }), write: (b: Buffer, v: number, at: number) => b.writeFloatBE(v, at) },
  0x0e: { bytes: 8, value: fc.double({ noNaN: true }), write: (b: Buffer, v: number, at: number) => b.writeDoubleBE(v, at) },
} as const;
type TypeCode = keyof typeof TYPES;

interface IdxCase {
  type: TypeCode;
  shape: number[];
  values: number[];
}

const idxCase: fc.Arbitrary<IdxCase> = fc
  .record({
    type: fc.constantFrom(...(Object.keys(TYPES).map(Number) as TypeCode[])),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ type, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.array(TYPES[type].value, { minLength: n, maxLength: n }).map((values) => ({ type, shape, values }));
  });

/** The IDX bytes of a case, from LeCun's description: magic, big-endian uint32 sizes, big-endian values. */
function encode(c: IdxCase): Uint8Array {
  const { bytes, write } = TYPES[c.type];
  const out = Buffer.alloc(4 + 4 * c.shape.length + bytes * c.values.length);
  out.set([0, 0, c.type, c.shape.length]);
  c.shape.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  c.values.forEach((v, i) => write(out, v, 4 + 4 * c.shape.length + bytes * i));
  return out;
}

async function fileWith(bytes: Uint8Array, gzip = false): Promise<string> {
  const path = join(dir, `${files++}-idx${gzip ? '.gz' : ''}`);
  await writeFile(path, gzip ? gzipSync(bytes) : bytes);
  return path;
}

async function expectArrayOrIdxError(read: () => Promise<{ shape: number[]; data: ArrayLike<number> }>, name: string) {
  let file;
  try {
    file = await read();
  } catch (error) {
    expect(error).toBeInstanceOf(IdxFormatError);
    expect((error as Error).message.startsWith(`${name}: `), (error as Error).message).toBe(true);
    return;
  }
  expect(file.data.length).toBe(file.shape.reduce((a, b) => a * b, 1));
}

describe('IDX reader under fuzzing', () => {
  it('reads back every value type and rank, plain and gzipped', async () => {
    await fc.assert(
      fc.asyncProperty(idxCase, fc.boolean(), async (c, gzip) => {
        const { shape, data } = await readIdx(await fileWith(encode(c), gzip));
        expect(shape).toEqual(c.shape);
        expect(data.length).toBe(c.values.length);
        // Compared as Object.is does: -0 must stay -0 in the float types.
        const differs = Array.from(data).findIndex((v, i) => !Object.is(v, c.values[i]));
        expect(differs, `value ${differs}`).toBe(-1);
      }),
      fuzzSettings(150),
    );
  });

  it('gives corrupt bytes back as an array or an IdxFormatError naming the source', () => {
    fc.assert(
      fc.property(corrupted(idxCase.map(encode)), (bytes) => {
        let file;
        try {
          file = parseIdx(bytes, 'fuzz.idx');
        } catch (error) {
          expect(error).toBeInstanceOf(IdxFormatError);
          expect((error as Error).message.startsWith('fuzz.idx: ')).toBe(true);
          return;
        }
        expect(file.data.length).toBe(file.shape.reduce((a, b) => a * b, 1));
      }),
      fuzzSettings(1000),
    );
  });

  it('gives corrupt files, plain or gzipped (the stream or its content broken), the same treatment', async () => {
    const gzipped = idxCase.map((c) => gzipSync(encode(c)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(corrupted(idxCase.map(encode)), corrupted(gzipped)), async (bytes) => {
        const path = await fileWith(bytes);
        await expectArrayOrIdxError(() => readIdx(path), path);
      }),
      fuzzSettings(300),
    );
  });
});

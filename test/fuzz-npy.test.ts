// Property-based fuzzing of readNpy (lib/npy.ts): every variant of the format it documents reads back the values
// written, and corrupt files (mutations of valid ones, arbitrary bytes) give an array or an NpyFormatError naming
// the file, never another error, a crash or a hang. Runs and seed: test/fixtures/fuzz.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpyFormatError, readNpy, writeNpy } from '../lib/npy.js';
import { corrupted, float32Bits, fuzzSettings } from './fixtures/fuzz.js';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-fuzz-npy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A new file holding `bytes` (a fresh name each time: rewriting one file would wait for its writeback). */
async function fileWith(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `${files++}.npy`);
  await writeFile(path, bytes);
  return path;
}

interface NpyCase {
  shape: number[];
  values: number[]; // C order
  version: 1 | 2 | 3;
  byteOrder: '<' | '>';
  width: 4 | 8;
  fortran: boolean;
}

const npyCase: fc.Arbitrary<NpyCase> = fc
  .record({
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    version: fc.constantFrom(1 as const, 2 as const, 3 as const),
    byteOrder: fc.constantFrom('<' as const, '>' as const),
    width: fc.constantFrom(4 as const, 8 as const),
    fortran: fc.boolean(),
  })
  .chain((c) => {
    const numel = c.shape.reduce((a, b) => a * b, 1);
    return fc.array(fc.double(), { minLength: numel, maxLength: numel }).map((values) => ({ ...c, values }));
  });

/** The .npy bytes of a case, written here from the format spec (independently of writeNpy). */
function encode(c: NpyCase): Uint8Array {
  const dims = c.shape.length === 1 ? `(${c.shape[0]},)` : `(${c.shape.join(', ')})`;
  const dict = `{'descr': '${c.byteOrder}f${c.width}', 'fortran_order': ${c.fortran ? 'True' : 'False'}, 'shape': ${dims}, }`;
  const prefix = c.version === 1 ? 10 : 12;
  const unpadded = prefix + dict.length + 1;
  const header = Buffer.from(dict.padEnd(Math.ceil(unpadded / 64) * 64 - prefix - 1, ' ') + '\n', 'latin1');
  const start = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, c.version, 0]).copy(start);
  if (c.version === 1) start.writeUInt16LE(header.length, 8);
  else start.writeUInt32LE(header.length, 8);
  // Fortran order: the first index varies fastest.
  const order = c.fortran ? fortranOrder(c.shape) : c.values.map((_, i) => i);
  const data = Buffer.alloc(order.length * c.width);
  order.forEach((source, k) => {
    const v = c.values[source];
    if (c.width === 4) c.byteOrder === '<' ? data.writeFloatLE(v, 4 * k) : data.writeFloatBE(v, 4 * k);
    else c.byteOrder === '<' ? data.writeDoubleLE(v, 8 * k) : data.writeDoubleBE(v, 8 * k);
  });
  return Buffer.concat([start, header, data]);
}

/** For each position of the Fortran-ordered data, the C-order index of its element. */
function fortranOrder(shape: number[]): number[] {
  const numel = shape.reduce((a, b) => a * b, 1);
  const cStrides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  return Array.from({ length: numel }, (_, k) => {
    let rest = k;
    let c = 0;
    shape.forEach((size, d) => {
      c += (rest % size) * cStrides[d];
      rest = Math.floor(rest / size);
    });
    return c;
  });
}

/** Equal as float32 values: the same bits, or both NaN (a byte-swapped NaN need not keep its payload). */
function expectSameFloat32(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const a = float32Bits(actual);
  const e = float32Bits(expected);
  for (let i = 0; i < a.length; i++) {
    if (!(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) expect(a[i], `element ${i}`).toBe(e[i]);
  }
}

describe('readNpy under fuzzing', () => {
  it('reads versions 1-3, both byte orders, float32 and float64, C and Fortran order', async () => {
    await fc.assert(
      fc.asyncProperty(npyCase, async (c) => {
        const { data, shape } = await readNpy(await fileWith(encode(c)));
        expect(shape).toEqual(c.shape);
        expectSameFloat32(data, Float32Array.from(c.values));
      }),
      fuzzSettings(150),
    );
  });

  it('reads back what writeNpy wrote, bit for bit', async () => {
    const array = fc
      .array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 })
      .chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.constant(shape), fc.float32Array({ minLength: n, maxLength: n }));
      });
    await fc.assert(
      fc.asyncProperty(array, async ([shape, values]) => {
        const path = join(dir, `${files++}.npy`);
        await writeNpy(path, values, shape);
        const read = await readNpy(path);
        expect(read.shape).toEqual(shape);
        expect(float32Bits(read.data)).toEqual(float32Bits(values));
      }),
      fuzzSettings(150),
    );
  });

  it('gives corrupt files back as an array or an NpyFormatError naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(npyCase.map(encode)), async (bytes) => {
        const path = await fileWith(bytes);
        let read;
        try {
          read = await readNpy(path);
        } catch (error) {
          expect(error).toBeInstanceOf(NpyFormatError);
          expect((error as Error).message).toContain(`'${path}'`);
          return;
        }
        // Accepted: a shape of exact, non-negative integers whose product is the number of values.
        for (const d of read.shape) expect(Number.isSafeInteger(d) && d >= 0, `dimension ${d}`).toBe(true);
        expect(read.data.length).toBe(read.shape.reduce((a, b) => a * b, 1));
      }),
      fuzzSettings(400),
    );
  });

  it('reads arbitrary header dicts as an array or an NpyFormatError naming the file', async () => {
    // The header is a Python literal that readNpy parses with its own rules: vary every field's text.
    const dimension = fc.oneof(
      { weight: 3, arbitrary: fc.nat({ max: 4 }).map(String) },
      { weight: 1, arbitrary: fc.stringMatching(/^0?[0-9]{1,3}L$/) }, // Python 2's longs, leading zeros
      { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 50n, max: 10n ** 22n }).map(String) }, // around 2^53 and past it
      { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
    );
    const header = fc.record({
      descr: fc.constantFrom('<f4', '>f4', '<f8', '|f4', '=f8', '<i4', 'f4', '', "<f4'"),
      fortran: fc.constantFrom('True', 'False', 'true', '0'),
      dims: fc.array(dimension, { maxLength: 4 }),
      trailingComma: fc.boolean(),
      data: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 64 })), // empty: any shape with a 0
    });
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const dict = `{'descr': '${h.descr}', 'fortran_order': ${h.fortran}, 'shape': (${h.dims.join(', ')}${h.trailingComma ? ',' : ''}), }\n`;
        const start = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
        start.writeUInt16LE(dict.length, 8);
        const path = await fileWith(Buffer.concat([start, Buffer.from(dict, 'latin1'), h.data]));
        let read;
        try {
          read = await readNpy(path);
        } catch (error) {
          expect(error).toBeInstanceOf(NpyFormatError);
          expect((error as Error).message).toContain(`'${path}'`);
          return;
        }
        // Accepted: exactly the dimensions the header wrote, and as many values as they hold.
        // (A ')' inside a dimension ends the tuple early: readNpy reads the fields with patterns, not as Python.)
        const tuple = `${h.dims.join(', ')}${h.trailingComma ? ',' : ''}`;
        if (!tuple.includes(')')) {
          const written = tuple.split(',').map((d) => d.trim());
          if (written[written.length - 1] === '') written.pop();
          expect(read.shape.map(String)).toEqual(written.map((d) => d.replace(/L$/, '').replace(/^0+(?=\d)/, '')));
        }
        expect(read.data.length).toBe(read.shape.reduce((a, b) => a * b, 1));
      }),
      fuzzSettings(300, {
        // Regression (found by this property): a dimension past 2^53 beside a 0 was read as another integer.
        examples: [[{ descr: '<f4', fortran: 'True', dims: ['0', '11236134663958013'], trailingComma: false, data: new Uint8Array(0) }]],
      }),
    );
  });
});

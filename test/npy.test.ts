// .npy files: the bytes follow the NumPy format spec (version 1.0), numpy reads what we write, we read what
// numpy.save writes, and bad files fail with errors that say what is wrong.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npyHeader, NpyFormatError, readNpy, writeNpy } from '../lib/npy.js';
import { randn, tensor } from '../lib/tensor.js';
import { python } from './python.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-npy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const script = join(import.meta.dirname, '..', 'scripts', 'python', 'npy_interop.py');
const py = (...args: string[]): unknown => {
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${python} npy_interop.py ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const probe = spawnSync(python, [script, 'probe'], { encoding: 'utf8' });
const numpyAvailable = probe.status === 0;
if (!numpyAvailable) console.warn(`skipping numpy interop: ${python} cannot import numpy (set BYOL_PYTHON): ${probe.stderr}`);

const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => (i - n / 3) * 0.37);

describe('writeNpy', () => {
  it('writes the header exactly as the NumPy format spec says (version 1.0)', async () => {
    const path = join(dir, 'h.npy');
    await writeNpy(path, seq(6), [2, 3]);
    const buf = await readFile(path);
    expect([...buf.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLen = buf.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    const header = buf.toString('latin1', 10, 10 + headerLen);
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect(header.indexOf('\n')).toBe(header.length - 1);
    expect(buf.length).toBe(10 + headerLen + 6 * 4);
    expect(new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + headerLen, buf.byteOffset + buf.length))).toEqual(seq(6));
  });

  it('writes 1-d shapes as (n,) and scalars as ()', () => {
    expect(npyHeader([5]).toString('latin1')).toContain("'shape': (5,), }");
    expect(npyHeader([]).toString('latin1')).toContain("'shape': (), }");
    expect(npyHeader([1, 2, 3, 4]).toString('latin1')).toContain("'shape': (1, 2, 3, 4), }");
    for (const shape of [[], [5], [123456789, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]) {
      expect(npyHeader(shape).length % 64).toBe(0);
    }
  });

  it('round-trips through readNpy (shapes incl. scalar and empty, special values)', async () => {
    const cases: Array<[Float32Array, number[]]> = [
      [seq(24), [2, 3, 4]],
      [seq(7), [7]],
      [Float32Array.of(3.5), []],
      [new Float32Array(0), [0, 5]],
      [Float32Array.of(Number.NaN, Infinity, -Infinity, -0, 1e-45, 3.4e38), [3, 2]],
    ];
    for (const [i, [data, shape]] of cases.entries()) {
      const path = join(dir, `rt${i}.npy`);
      await writeNpy(path, data, shape);
      const back = await readNpy(path);
      expect(back.shape).toEqual(shape);
      expect(back.data).toBeInstanceOf(Float32Array);
      expect(Array.from(back.data)).toEqual(Array.from(data));
      if (i === 4) expect(Object.is(back.data[3], -0)).toBe(true);
    }
  });

  it('accepts a float32 Tensor (shape and values from the tensor), and a view of a larger buffer', async () => {
    const t = randn([3, 4, 5]);
    const path = join(dir, 't.npy');
    await writeNpy(path, t);
    const back = await readNpy(path);
    expect(back.shape).toEqual([3, 4, 5]);
    expect(back.data).toEqual(t.dataSync());
    const transposed = t.transpose(0, 2); // non-contiguous: written in its logical (C) order
    await writeNpy(path, transposed);
    expect((await readNpy(path)).data).toEqual(transposed.dataSync());

    const big = seq(100);
    await writeNpy(path, big.subarray(10, 22), [3, 4]);
    expect((await readNpy(path)).data).toEqual(big.subarray(10, 22));
  });

  it('rejects bad arguments with errors that name them', async () => {
    const path = join(dir, 'bad.npy');
    await expect(writeNpy(path, seq(6), [2, 4])).rejects.toThrow(/shape: \[2, 4\] holds 8 values, but data has 6/);
    await expect(writeNpy(path, seq(6), [2, -3])).rejects.toThrow(RangeError);
    await expect(writeNpy(path, seq(6), [2, 1.5, 2])).rejects.toThrow(/shape\[1\]: expected a non-negative integer, received 1.5/);
    await expect(writeNpy(path, seq(6))).rejects.toThrow(/shape: expected an array/);
    await expect(writeNpy(path, new Float64Array(6) as unknown as Float32Array, [6])).rejects.toThrow(/data: expected a Float32Array or a float32 Tensor, received Float64Array/);
    await expect(writeNpy(path, tensor([1, 2, 3], { dtype: 'int32' }))).rejects.toThrow(/expected a float32 Tensor, received a int32 Tensor/);
    await expect(writeNpy(path, randn([2, 3]), [3, 2])).rejects.toThrow(/shape: expected the tensor's shape \[2, 3\]/);
    await expect(writeNpy('', seq(1), [1])).rejects.toThrow(/path: expected a non-empty string/);
  });

  it('writes atomically: a failed write leaves no file and no temporary behind; an old file is replaced whole', async () => {
    const missing = join(dir, 'no-such-folder', 'x.npy');
    await expect(writeNpy(missing, seq(4), [4])).rejects.toThrow(new RegExp(`writeNpy: cannot write '${missing}': ENOENT`));
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'a.npy');
    await writeNpy(path, seq(4), [4]);
    await writeNpy(path, seq(8), [2, 4]);
    expect(await readdir(sub)).toEqual(['a.npy']);
    expect((await readNpy(path)).shape).toEqual([2, 4]);
  });
});

describe('readNpy errors', () => {
  const good = async () => {
    const path = join(dir, 'good.npy');
    await writeNpy(path, seq(6), [2, 3]);
    return readFile(path);
  };
  const write = async (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  it('names the file and what is wrong', async () => {
    const buf = await good();
    const headerLen = buf.readUInt16LE(8);
    const header = buf.toString('latin1', 10, 10 + headerLen);
    const withHeader = (text: string) => {
      const b = Buffer.from(buf);
      b.write(text.padEnd(headerLen - 1, ' ') + '\n', 10, 'latin1');
      return b;
    };
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['magic.npy', Buffer.concat([Buffer.from('PK\x03\x04'), buf.subarray(4)]), /bad magic/],
      ['empty.npy', Buffer.alloc(0), /bad magic/],
      ['version.npy', Buffer.concat([buf.subarray(0, 6), Buffer.from([9, 0]), buf.subarray(8)]), /unsupported format version 9.0/],
      ['headerlen.npy', (() => { const b = Buffer.from(buf); b.writeUInt16LE(60000, 8); return b; })(), /truncated: its header claims 60000 bytes/],
      ['nonewline.npy', (() => { const b = Buffer.from(buf); b[10 + headerLen - 1] = 0x20; return b; })(), /header that does not end with a newline/],
      ['notdict.npy', withHeader("['descr', '<f4']"), /header is not a dict/],
      ['nodescr.npy', withHeader("{'fortran_order': False, 'shape': (2, 3), }"), /no 'descr'/],
      ['noshape.npy', withHeader("{'descr': '<f4', 'fortran_order': False, }"), /no 'shape' tuple/],
      ['badshape.npy', withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"), /bad dimension "x"/],
      ['dtype.npy', withHeader(header.replace('<f4', '<i4').trimEnd()), /dtype '<i4'; only float32/],
      ['short.npy', buf.subarray(0, buf.length - 3), /has 21 bytes of data; shape \(2, 3\) of '<f4' needs 24 \(truncated file\?\)/],
      ['long.npy', Buffer.concat([buf, Buffer.alloc(4)]), /has 28 bytes of data; shape \(2, 3\) of '<f4' needs 24$/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = await write(name, bytes);
      const err = await readNpy(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(NpyFormatError);
      expect((err as Error).message, name).toMatch(message);
      expect((err as Error).message, name).toContain(path);
    }
    await expect(readNpy(join(dir, 'absent.npy'))).rejects.toThrow(/ENOENT/);
  });
});

describe.skipIf(!numpyAvailable)('interoperability with numpy', () => {
  it('numpy.load reads what writeNpy wrote: shape, dtype, values, sum', async () => {
    for (const [i, shape] of [[2, 3, 4], [10], [], [0, 3], [1, 1, 1, 7]].entries()) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = seq(n);
      const path = join(dir, `np${i}.npy`);
      await writeNpy(path, data, shape);
      const r = py('describe', path) as { shape: number[]; dtype: string; fortran: boolean; sum: number; values: number[] };
      expect(r.shape).toEqual(shape);
      expect(r.dtype).toBe('<f4');
      expect(r.values).toEqual(Array.from(data));
      const sum = Array.from(data).reduce((a, b) => a + b, 0);
      expect(r.sum).toBeCloseTo(sum, 9);
      const h = py('header', path) as { version: number[]; shape: number[]; fortran: boolean; dtype: string };
      expect(h).toEqual({ version: [1, 0], shape, fortran: false, dtype: '<f4' });
    }
  });

  it('readNpy reads what numpy.save wrote: float32, float64 (converted), Fortran order, big-endian, scalar, empty', async () => {
    for (const kind of ['f4', 'f8', 'f4_fortran', 'f4_be', 'f4_scalar', 'f4_empty']) {
      const path = join(dir, `from-numpy-${kind}.npy`);
      const expected = py('save', path, kind) as { shape: number[]; values: number[] };
      const got = await readNpy(path);
      expect(got.shape, kind).toEqual(expected.shape);
      expect(Array.from(got.data), kind).toEqual(expected.values.map((v) => Math.fround(v)));
    }
  });

  it('a numpy int32 file is refused with the dtype named', async () => {
    const path = join(dir, 'from-numpy-i4.npy');
    py('save', path, 'i4');
    await expect(readNpy(path)).rejects.toThrow(/dtype '<i4'/);
  });
});

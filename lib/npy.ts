// NumPy .npy files: float32 arrays in the format `numpy.save` writes and `numpy.load` reads, for handing
// embeddings, features and images to Python tools.
//
// Written: format version 1.0, descr '<f4', fortran_order False (C order), the header dict padded with spaces
// and ended by '\n' so that magic + version + length + header is a multiple of 64 bytes (the spec's alignment).
// Files are written atomically (temporary file in the same folder, then rename).
// Read: versions 1.0, 2.0 and 3.0; descr '<f4' or '>f4' as is, '<f8' / '>f8' converted to float32;
// fortran_order True is reordered to C order. Anything else is an NpyFormatError naming the file.
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { writeFileAtomic } from './atomic.js';
import { Tensor } from './tensor.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** A file that is not a .npy file this module can read (bad magic, header, dtype or data length). */
export class NpyFormatError extends Error {
  override name = 'NpyFormatError';
}

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${what}: expected an array of non-negative integers, received ${typeof shape}`);
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${what}[${i}]: expected a non-negative integer, received ${String(d)}`);
    }
  });
  return [...(shape as number[])];
}

/** The .npy header (magic through '\n') for a C-order '<f4' array of `shape`. */
export function npyHeader(shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1; // + '\n'
  const total = Math.ceil(unpadded / 64) * 64;
  const headerLen = total - MAGIC.length - 4;
  if (headerLen > 0xffff) throw new RangeError(`shape: ${shape.length} dimensions make a header too long for .npy version 1.0`);
  const out = Buffer.alloc(total, 0x20);
  MAGIC.copy(out, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  out.writeUInt16LE(headerLen, 8);
  out.write(dict, 10, 'latin1');
  out[total - 1] = 0x0a;
  return out;
}

/**
 * Writes a float32 array as a .npy file (version 1.0, '<f4', C order), atomically.
 *
 * `writeNpy(path, data, shape)` with a Float32Array whose length is the product of `shape`, or
 * `writeNpy(path, tensor)` with a float32 Tensor (any device; its values are copied to the host in C order).
 */
export async function writeNpy(path: string, data: Float32Array | Tensor, shape?: readonly number[]): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path: expected a non-empty string, received ${String(path)}`);
  let values: Float32Array;
  let dims: number[];
  if (data instanceof Tensor) {
    if (data.dtype !== 'float32') throw new TypeError(`data: expected a float32 Tensor, received a ${data.dtype} Tensor`);
    dims = shape === undefined ? data.shape : checkShape(shape, 'shape');
    if (shape !== undefined && dims.join(',') !== data.shape.join(',')) {
      throw new RangeError(`shape: expected the tensor's shape [${data.shape.join(', ')}], received [${dims.join(', ')}]`);
    }
    const host = await data.data();
    values = host instanceof Float32Array ? host : Float32Array.from(host as ArrayLike<number>);
  } else if (data instanceof Float32Array) {
    if (shape === undefined) throw new TypeError('shape: expected an array of non-negative integers, received undefined');
    dims = checkShape(shape, 'shape');
    values = data;
  } else {
    throw new TypeError(`data: expected a Float32Array or a float32 Tensor, received ${describe(data)}`);
  }
  const numel = dims.reduce((a, b) => a * b, 1);
  if (numel !== values.length) {
    throw new RangeError(`shape: [${dims.join(', ')}] holds ${numel} values, but data has ${values.length}`);
  }
  const header = npyHeader(dims);
  const body = Buffer.alloc(values.length * 4);
  if (LITTLE_ENDIAN_HOST) {
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(body);
  } else {
    for (let i = 0; i < values.length; i++) body.writeFloatLE(values[i], i * 4);
  }
  await writeFileAtomic(path, Buffer.concat([header, body]), 'writeNpy');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Parses the header dict, a Python literal like {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. */
function parseHeader(text: string, fail: (why: string) => never): Header {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) fail(`header is not a dict: ${JSON.stringify(body.slice(0, 80))}`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(body);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(body);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(body);
  if (!descr) fail("header has no 'descr'");
  if (!fortran) fail("header has no 'fortran_order' (True or False)");
  if (!shape) fail("header has no 'shape' tuple");
  const parts = shape[1].split(',').map((s) => s.trim());
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  const dims = parts.map((p) => {
    // Python 2 era files may write long integers as '3L'.
    if (!/^\d+L?$/.test(p)) fail(`header 'shape' has a bad dimension ${JSON.stringify(p)}`);
    const d = Number.parseInt(p, 10);
    // Past 2^53 a JS number is not the integer written; with a 0 elsewhere in the shape no data size refutes it.
    if (!Number.isSafeInteger(d)) fail(`header 'shape' has a dimension ${p} too large to be exact (above 2^53 - 1)`);
    return d;
  });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

/** Reads a .npy file of float32 ('<f4', '>f4') or float64 ('<f8', '>f8', converted to float32) values. */
export async function readNpy(path: string): Promise<NpyArray> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path: expected a non-empty string, received ${String(path)}`);
  const buf = await readFile(path);
  const fail = (why: string): never => {
    throw new NpyFormatError(`readNpy: '${path}' ${why}`);
  };
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail('is not a .npy file (bad magic; expected \\x93NUMPY)');
  const major = buf[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) fail('is truncated inside its header');
    headerLen = buf.readUInt32LE(8);
    start = 12;
  } else {
    fail(`has an unsupported format version ${major}.${buf[7]} (expected 1.0, 2.0 or 3.0)`);
  }
  const dataStart = start! + headerLen!;
  if (dataStart > buf.length) fail(`is truncated: its header claims ${headerLen!} bytes, the file has ${buf.length - start!} after the length`);
  const text = buf.toString(major === 3 ? 'utf8' : 'latin1', start!, dataStart);
  if (!text.endsWith('\n')) fail('has a header that does not end with a newline');
  const header = parseHeader(text, fail);
  const m = /^([<>|=])f([48])$/.exec(header.descr);
  if (!m) fail(`has dtype '${header.descr}'; only float32 ('<f4') and float64 ('<f8') are supported`);
  const order = m![1];
  const itemSize = Number(m![2]);
  const littleEndian = order === '<' || ((order === '=' || order === '|') && LITTLE_ENDIAN_HOST);
  const numel = header.shape.reduce((a, b) => a * b, 1);
  const expected = numel * itemSize;
  const found = buf.length - dataStart;
  if (found !== expected) {
    fail(
      `has ${found} bytes of data; shape (${header.shape.join(', ')}) of '${header.descr}' needs ${expected}` +
        (found < expected ? ' (truncated file?)' : ''),
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset + dataStart, expected);
  let data: Float32Array = new Float32Array(numel);
  if (itemSize === 4 && littleEndian === LITTLE_ENDIAN_HOST) {
    // Copy the bytes (the file buffer's offset need not be 4-byte aligned).
    new Uint8Array(data.buffer).set(buf.subarray(dataStart, dataStart + expected));
  } else if (itemSize === 4) {
    for (let i = 0; i < numel; i++) data[i] = view.getFloat32(i * 4, littleEndian);
  } else {
    for (let i = 0; i < numel; i++) data[i] = view.getFloat64(i * 8, littleEndian);
  }
  if (header.fortranOrder && header.shape.length > 1) data = fortranToC(data, header.shape);
  return { data, shape: header.shape };
}

/** Reorders column-major (Fortran) values of `shape` into row-major (C) order. */
function fortranToC(src: Float32Array, shape: readonly number[]): Float32Array {
  const n = shape.length;
  const fStrides = new Array<number>(n);
  let s = 1;
  for (let d = 0; d < n; d++) {
    fStrides[d] = s;
    s *= shape[d];
  }
  const out = new Float32Array(src.length);
  const idx = new Array<number>(n).fill(0);
  let off = 0; // Fortran offset of idx
  for (let i = 0; i < out.length; i++) {
    out[i] = src[off];
    // Advance idx in C order (last dimension fastest), keeping off in step.
    for (let d = n - 1; d >= 0; d--) {
      idx[d]++;
      off += fStrides[d];
      if (idx[d] < shape[d]) break;
      off -= fStrides[d] * idx[d];
      idx[d] = 0;
    }
  }
  return out;
}

// MNIST-style IDX files (LeCun's format; MNIST, Fashion-MNIST, EMNIST, KMNIST), gzip-compressed or not:
// magic 0x00 0x00 <type> <rank>, then <rank> big-endian uint32 sizes, then the values, row-major, big-endian.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Dataset } from './dataset.js';
import { uint8Images } from './tensors.js';

const gunzipAsync = promisify(gunzip);

export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxFile {
  shape: number[];
  data: IdxArray;
}

export class IdxFormatError extends Error {
  override name = 'IdxFormatError';
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Parses the bytes of an IDX file (already decompressed). `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxFile {
  const fail = (what: string): never => {
    throw new IdxFormatError(`${name}: not a valid IDX file: ${what}`);
  };
  if (bytes.length < 4) fail(`expected at least 4 header bytes, found ${bytes.length}`);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    fail(`expected the magic number to start with 0x00 0x00, found 0x${hex(bytes[0]!)} 0x${hex(bytes[1]!)}`);
  const type = TYPES[bytes[2]!] ?? fail(`unknown value type 0x${hex(bytes[2]!)} (expected 0x08, 0x09, 0x0b-0x0e)`);
  const rank = bytes[3]!;
  if (rank < 1) fail('expected at least one dimension, found 0');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) fail(`expected ${headerBytes} header bytes for ${rank} dimensions, found ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected)
    fail(`expected ${expected} bytes for ${type.name} values of shape [${shape.join(', ')}], found ${bytes.length}`);
  return { shape, data: decodeValues(view, headerBytes, count, bytes[2]!) };
}

function decodeValues(view: DataView, offset: number, count: number, type: number): IdxArray {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, count * TYPES[type]!.bytes);
  switch (type) {
    case 0x08:
      return Uint8Array.from(bytes);
    case 0x09:
      return Int8Array.from(bytes, (b) => (b << 24) >> 24);
    default: {
      const read = {
        0x0b: [Int16Array, (i: number) => view.getInt16(offset + 2 * i, false)],
        0x0c: [Int32Array, (i: number) => view.getInt32(offset + 4 * i, false)],
        0x0d: [Float32Array, (i: number) => view.getFloat32(offset + 4 * i, false)],
        0x0e: [Float64Array, (i: number) => view.getFloat64(offset + 8 * i, false)],
      } as const;
      const [Kind, get] = read[type as 0x0b | 0x0c | 0x0d | 0x0e];
      const out = new Kind(count);
      for (let i = 0; i < count; i++) out[i] = get(i);
      return out;
    }
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Reads an IDX file, gunzipping it when it starts with gzip's magic (decompression runs off the JS thread). */
export async function readIdx(path: string): Promise<IdxFile> {
  let bytes: Uint8Array = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read the IDX file (${error.code ?? error.message})`, { cause: error });
  });
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = await gunzipAsync(bytes).catch((error: Error) => {
      throw new IdxFormatError(`${path}: corrupt gzip data (${error.message})`, { cause: error });
    });
  }
  return parseIdx(bytes, path);
}

export type Split = 'train' | 'test';

export interface MnistOptions {
  /** Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Default: Debian's dataset package folder. */
  root?: string;
  split?: Split;
}

export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/** Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 grayscale images of 10 classes. */
export function fashionMnist(options: MnistOptions = {}): Promise<Dataset> {
  return mnistLike({ root: FASHION_MNIST_ROOT, ...options }, FASHION_MNIST_CLASSES, 'dataset-fashion-mnist');
}

/** MNIST digits in the same layout (no default folder: give `root`). */
export function mnist(options: MnistOptions & { root: string }): Promise<Dataset> {
  return mnistLike(options, DIGITS);
}

async function mnistLike(options: MnistOptions, classes: readonly string[], debianPackage?: string): Promise<Dataset> {
  const root = options.root!;
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test')
    throw new RangeError(`split: expected 'train' or 'test', received ${JSON.stringify(split)}`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = await readIdx(await findFile(root, `${prefix}-images-idx3-ubyte`, debianPackage));
  const labels = await readIdx(await findFile(root, `${prefix}-labels-idx1-ubyte`, debianPackage));
  if (!(images.data instanceof Uint8Array) || images.shape.length !== 3)
    throw new IdxFormatError(`${root}: expected uint8 images [N, H, W], found shape [${images.shape.join(', ')}]`);
  if (!(labels.data instanceof Uint8Array) || labels.shape.length !== 1 || labels.shape[0] !== images.shape[0])
    throw new IdxFormatError(
      `${root}: expected ${images.shape[0]} uint8 labels (one per image), found shape [${labels.shape.join(', ')}]`,
    );
  const bad = labels.data.findIndex((l) => l >= classes.length);
  if (bad >= 0) throw new IdxFormatError(`${root}: label ${labels.data[bad]} of image ${bad} is not in [0, ${classes.length})`);
  const [n, h, w] = images.shape as [number, number, number];
  return uint8Images(images.data, [n, 1, h, w], { labels: Int32Array.from(labels.data), classes });
}

async function findFile(root: string, stem: string, debianPackage?: string): Promise<string> {
  const candidates = [join(root, `${stem}.gz`), join(root, stem)];
  for (const path of candidates) {
    if (await access(path).then(() => true, () => false)) return path;
  }
  const hint = debianPackage ? ` (install Debian's ${debianPackage}, or give the folder that holds them)` : '';
  throw new Error(`root: expected ${candidates.join(' or ')}, found neither${hint}`);
}

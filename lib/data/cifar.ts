// CIFAR-10 and CIFAR-100, the official "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html):
//   CIFAR-10   data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin (test); records of
//              1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of 32, top row first).
//   CIFAR-100  train.bin, test.bin; records of 1 coarse label byte + 1 fine label byte + 3072 pixel bytes.
// The files are read into memory as uint8 (150 MiB for the CIFAR-10 train split); `get` converts a batch to
// float32 in [0, 1].
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, tensor } from '../tensor.js';
import type { Batch, Dataset } from './dataset.js';
import { checkIndices } from './indices.js';

export type CifarSplit = 'train' | 'test';

export interface Cifar10Options {
  /** Default 'train'. */
  split?: CifarSplit;
}

export interface Cifar100Options {
  /** Default 'train'. */
  split?: CifarSplit;
  /** The 100 fine classes or the 20 coarse superclasses. Default 'fine'. */
  labels?: 'fine' | 'coarse';
}

export interface CifarDataset extends Dataset {
  readonly classes: readonly string[];
  readonly labels: Int32Array;
  /** The files read, in order. */
  readonly files: readonly string[];
}

const PIXELS = 3 * 32 * 32;

const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const CIFAR100_COARSE = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables', 'household_electrical_devices',
  'household_furniture', 'insects', 'large_carnivores', 'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes', 'large_omnivores_and_herbivores', 'medium_mammals', 'non-insect_invertebrates',
  'people', 'reptiles', 'small_mammals', 'trees', 'vehicles_1', 'vehicles_2',
];
const CIFAR100_FINE = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle', 'bowl', 'boy',
  'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle', 'chair', 'chimpanzee', 'clock',
  'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur', 'dolphin', 'elephant', 'flatfish', 'forest',
  'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard', 'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard',
  'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain', 'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid',
  'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree', 'plain', 'plate', 'poppy', 'porcupine', 'possum',
  'rabbit', 'raccoon', 'ray', 'road', 'rocket', 'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper',
  'snail', 'snake', 'spider', 'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone',
  'television', 'tiger', 'tractor', 'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf',
  'woman', 'worm',
];

/** CIFAR-10 from `dir` (the folder holding the .bin files, or its parent holding cifar-10-batches-bin/). */
export async function cifar10(dir: string, options: Cifar10Options = {}): Promise<CifarDataset> {
  const split = checkSplit(options.split ?? 'train');
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`) : ['test_batch.bin'];
  const folder = await findFolder('cifar10', dir, 'cifar-10-batches-bin', names);
  const classes = (await readClassNames(join(folder, 'batches.meta.txt'), 10)) ?? CIFAR10_CLASSES;
  return load('cifar10', folder, names, { labelBytes: 1, labelByte: 0, classes });
}

/** CIFAR-100 from `dir` (the folder holding train.bin/test.bin, or its parent holding cifar-100-binary/). */
export async function cifar100(dir: string, options: Cifar100Options = {}): Promise<CifarDataset> {
  const split = checkSplit(options.split ?? 'train');
  const kind = options.labels ?? 'fine';
  if (kind !== 'fine' && kind !== 'coarse')
    throw new RangeError(`labels: expected 'fine' or 'coarse', received ${describe(kind)}`);
  const names = [`${split}.bin`];
  const folder = await findFolder('cifar100', dir, 'cifar-100-binary', names);
  const count = kind === 'fine' ? 100 : 20;
  const classes =
    (await readClassNames(join(folder, `${kind}_label_names.txt`), count)) ??
    (kind === 'fine' ? CIFAR100_FINE : CIFAR100_COARSE);
  return load('cifar100', folder, names, { labelBytes: 2, labelByte: kind === 'fine' ? 1 : 0, classes });
}

function checkSplit(split: unknown): CifarSplit {
  if (split !== 'train' && split !== 'test') throw new RangeError(`split: expected 'train' or 'test', received ${describe(split)}`);
  return split;
}

/** `dir` itself if it holds the files, else dir/<official>; an Error listing what was looked for otherwise. */
async function findFolder(what: string, dir: string, official: string, names: readonly string[]): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`dir: expected a folder path, received ${describe(dir)}`);
  const root = resolve(dir);
  const candidates = [root, join(root, official)];
  const found: string[][] = [];
  for (const folder of candidates) {
    const present = [];
    for (const name of names) if (await isFile(join(folder, name))) present.push(name);
    if (present.length === names.length) return folder;
    found.push(present);
  }
  // Name what is missing in the folder that has the most of the files (or the given one).
  const best = found[1].length > found[0].length ? 1 : 0;
  const missing = names.filter((n) => !found[best].includes(n));
  throw new Error(
    `${what}: missing ${missing.join(', ')} in ${candidates[best]}; looked for ${names.join(', ')} in ${candidates[0]} ` +
      `and in ${candidates[1]} (download and extract the binary version from https://www.cs.toronto.edu/~kriz/cifar.html)`,
  );
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Class names from a metadata file (one a line), when it is there and has the expected count. */
async function readClassNames(path: string, count: number): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  return names.length === count ? names : undefined;
}

interface Layout {
  labelBytes: number;
  /** Which label byte is the label used. */
  labelByte: number;
  classes: readonly string[];
}

async function load(what: string, folder: string, names: readonly string[], layout: Layout): Promise<CifarDataset> {
  const files = names.map((n) => join(folder, n));
  const buffers = await Promise.all(files.map((f) => readFile(f)));
  const parsed = buffers.map((bytes, k) => parseCifarRecords(what, files[k], bytes, layout));
  const size = parsed.reduce((a, p) => a + p.labels.length, 0);
  const pixels = new Uint8Array(size * PIXELS);
  const labels = new Int32Array(size);
  let offset = 0;
  for (const p of parsed) {
    pixels.set(p.pixels, offset * PIXELS);
    labels.set(p.labels, offset);
    offset += p.labels.length;
  }
  return cifarDataset(pixels, labels, layout.classes, files);
}

/**
 * Splits the bytes of one CIFAR binary file into pixels (uint8, records × 3072) and labels; throws an Error
 * naming the file when its length is not a whole number of records or a label is out of range.
 * @internal exported for the tests.
 */
export function parseCifarRecords(
  what: string,
  file: string,
  bytes: Uint8Array,
  layout: Layout,
): { pixels: Uint8Array; labels: Int32Array } {
  const record = layout.labelBytes + PIXELS;
  if (bytes.length === 0) throw new Error(`${what}: ${file} is empty; expected records of ${record} bytes`);
  if (bytes.length % record !== 0)
    throw new Error(
      `${what}: ${file} is ${bytes.length} bytes long, not a multiple of the record size ${record} ` +
        `(${layout.labelBytes} label byte${layout.labelBytes === 1 ? '' : 's'} + ${PIXELS} pixel bytes): truncated or not a CIFAR binary file`,
    );
  const n = bytes.length / record;
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const limits = layout.labelBytes === 1 ? [layout.classes.length] : [20, 100];
  for (let r = 0; r < n; r++) {
    const base = r * record;
    for (let b = 0; b < layout.labelBytes; b++) {
      const value = bytes[base + b];
      if (value >= limits[b])
        throw new Error(
          `${what}: ${file}, record ${r} (byte offset ${base + b}): ${layout.labelBytes === 1 ? 'label' : b === 0 ? 'coarse label' : 'fine label'} ` +
            `${value} is out of range [0, ${limits[b] - 1}]: not a ${what === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} file, or corrupt`,
        );
    }
    labels[r] = bytes[base + layout.labelByte];
    pixels.set(bytes.subarray(base + layout.labelBytes, base + record), r * PIXELS);
  }
  return { pixels, labels };
}

function cifarDataset(pixels: Uint8Array, labels: Int32Array, classes: readonly string[], files: readonly string[]): CifarDataset {
  const size = labels.length;
  return {
    size,
    imageShape: [3, 32, 32],
    classes,
    labels,
    files,
    async get(indices: ArrayLike<number>): Promise<Batch> {
      const list = checkIndices(indices, size);
      const out = new Float32Array(list.length * PIXELS);
      for (let k = 0; k < list.length; k++) {
        const from = list[k] * PIXELS;
        const to = k * PIXELS;
        for (let p = 0; p < PIXELS; p++) out[to + p] = pixels[from + p] / 255;
      }
      return {
        images: tensor(out, { shape: [list.length, 3, 32, 32] }),
        labels: Int32Array.from(list, (i) => labels[i]),
      };
    },
  };
}

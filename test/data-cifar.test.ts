import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cifar10, cifar100 } from '../lib/data/index.js';

const root = mkdtempSync(join(tmpdir(), 'byol-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PIXELS = 3072;
const pixelOf = (file: number, record: number, p: number) => (file * 31 + record * 7 + p * 3 + (p >> 10)) & 255;

/** A CIFAR binary file: records of labelBytes label bytes + 3072 pixel bytes. */
function records(file: number, labels: number[][]): Buffer {
  const size = labels[0].length + PIXELS;
  const out = Buffer.alloc(labels.length * size);
  labels.forEach((ls, r) => {
    ls.forEach((l, b) => (out[r * size + b] = l));
    for (let p = 0; p < PIXELS; p++) out[r * size + ls.length + p] = pixelOf(file, r, p);
  });
  return out;
}

// CIFAR-10: 5 train files of 3 records, a test file of 4; labels known.
const trainLabels = [
  [3, 0, 9],
  [1, 1, 2],
  [8, 7, 6],
  [5, 4, 3],
  [2, 0, 1],
];
const testLabels = [9, 8, 0, 1];
const flat = join(root, 'c10');
const official = join(root, 'c10-parent');
// CIFAR-100: (coarse, fine) pairs
const c100Train = [
  [19, 99],
  [0, 4],
  [11, 57],
];
const c100Test = [[3, 0]];
const c100 = join(root, 'c100-parent');

beforeAll(() => {
  for (const dir of [flat, join(official, 'cifar-10-batches-bin')]) {
    mkdirSync(dir, { recursive: true });
    trainLabels.forEach((ls, f) => writeFileSync(join(dir, `data_batch_${f + 1}.bin`), records(f, ls.map((l) => [l]))));
    writeFileSync(join(dir, 'test_batch.bin'), records(9, testLabels.map((l) => [l])));
  }
  writeFileSync(join(official, 'cifar-10-batches-bin', 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
  mkdirSync(join(c100, 'cifar-100-binary'), { recursive: true });
  writeFileSync(join(c100, 'cifar-100-binary', 'train.bin'), records(0, c100Train));
  writeFileSync(join(c100, 'cifar-100-binary', 'test.bin'), records(1, c100Test));
});

const values = (t: { dataSync(): ArrayLike<number | bigint> }) => Array.from(t.dataSync(), Number);

describe('cifar10', () => {
  it('reads the train split in file order with exact values and labels', async () => {
    const ds = await cifar10(flat);
    expect(ds.size).toBe(15);
    expect(ds.imageShape).toEqual([3, 32, 32]);
    expect(Array.from(ds.labels)).toEqual(trainLabels.flat());
    expect(ds.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    const { images, labels } = await ds.get([14, 0, 4]);
    expect(images.shape).toEqual([3, 3, 32, 32]);
    expect(Array.from(labels!)).toEqual([1, 3, 1]);
    const v = values(images);
    const want = [
      [4, 2],
      [0, 0],
      [1, 1],
    ].flatMap(([f, r]) => Array.from({ length: PIXELS }, (_, p) => pixelOf(f, r, p) / 255));
    expect(v.length).toBe(want.length);
    expect(Math.max(...v.map((x, i) => Math.abs(x - want[i])))).toBeLessThan(1e-7);
    // channel-major: the first 1024 values are the red plane, row by row
    expect(v[1024]).toBeCloseTo(pixelOf(4, 2, 1024) / 255, 7);
    images.dispose();
  });

  it('reads the test split from the official subfolder, with the class names of batches.meta.txt', async () => {
    const ds = await cifar10(official, { split: 'test' });
    expect(ds.size).toBe(4);
    expect(Array.from(ds.labels)).toEqual(testLabels);
    expect(ds.classes).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(ds.files).toEqual([join(official, 'cifar-10-batches-bin', 'test_batch.bin')]);
    const { images } = await ds.get([3]);
    expect(values(images)[100]).toBeCloseTo(pixelOf(9, 3, 100) / 255, 7);
    images.dispose();
  });

  it('lists the files it looked for when some are missing', async () => {
    const dir = join(root, 'missing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'data_batch_1.bin'), records(0, [[1]]));
    await expect(cifar10(dir)).rejects.toThrow(
      new RegExp(
        `cifar10: missing data_batch_2\\.bin, data_batch_3\\.bin, data_batch_4\\.bin, data_batch_5\\.bin in .*missing; ` +
          `looked for data_batch_1\\.bin, data_batch_2\\.bin, .*data_batch_5\\.bin in .*missing and in .*missing/cifar-10-batches-bin`,
      ),
    );
    await expect(cifar10(dir, { split: 'test' })).rejects.toThrow(/cifar10: missing test_batch\.bin/);
    await expect(cifar100(dir)).rejects.toThrow(/cifar100: missing train\.bin .*cifar-100-binary/);
  });

  it('names a file whose length is not a whole number of records', async () => {
    const dir = join(root, 'ragged');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test_batch.bin'), Buffer.concat([records(0, [[1], [2]]), Buffer.alloc(5)]));
    await expect(cifar10(dir, { split: 'test' })).rejects.toThrow(
      /cifar10: .*ragged\/test_batch\.bin is 6151 bytes long, not a multiple of the record size 3073 \(1 label byte \+ 3072 pixel bytes\)/,
    );
    writeFileSync(join(dir, 'test_batch.bin'), Buffer.alloc(0));
    await expect(cifar10(dir, { split: 'test' })).rejects.toThrow(/test_batch\.bin is empty/);
  });

  it('names the file and record of a label out of range', async () => {
    const dir = join(root, 'badlabel');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test_batch.bin'), records(0, [[1], [9], [10]]));
    await expect(cifar10(dir, { split: 'test' })).rejects.toThrow(
      /cifar10: .*badlabel\/test_batch\.bin, record 2 \(byte offset 6146\): label 10 is out of range \[0, 9\]/,
    );
  });

  it('checks its options', async () => {
    await expect(cifar10(flat, { split: 'val' as 'test' })).rejects.toThrow("split: expected 'train' or 'test', received string val");
    await expect(cifar100(c100, { labels: 'medium' as 'fine' })).rejects.toThrow("labels: expected 'fine' or 'coarse'");
    const ds = await cifar10(flat);
    await expect(ds.get([15])).rejects.toThrow('indices[0]: expected an integer in [0, 14], received number 15');
  });
});

describe('cifar100', () => {
  it('reads fine and coarse labels from the official subfolder', async () => {
    const fine = await cifar100(c100);
    expect(Array.from(fine.labels)).toEqual([99, 4, 57]);
    expect(fine.classes.length).toBe(100);
    expect(new Set(fine.classes).size).toBe(100);
    expect([fine.classes[0], fine.classes[4], fine.classes[99]]).toEqual(['apple', 'beaver', 'worm']);
    const coarse = await cifar100(c100, { labels: 'coarse' });
    expect(Array.from(coarse.labels)).toEqual([19, 0, 11]);
    expect(coarse.classes.length).toBe(20);
    expect(coarse.classes[19]).toBe('vehicles_2');
    const { images, labels } = await coarse.get([2]);
    expect(Array.from(labels!)).toEqual([11]);
    const v = values(images);
    expect(v.length).toBe(PIXELS);
    expect(Math.max(...v.map((x, p) => Math.abs(x - pixelOf(0, 2, p) / 255)))).toBeLessThan(1e-7);
    images.dispose();
    const test = await cifar100(join(c100, 'cifar-100-binary'), { split: 'test' });
    expect(Array.from(test.labels)).toEqual([0]);
  });

  it('checks both label bytes and the 3074-byte records', async () => {
    const dir = join(root, 'c100bad');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train.bin'), records(0, [[0, 0], [20, 5]]));
    await expect(cifar100(dir)).rejects.toThrow(/train\.bin, record 1 \(byte offset 3074\): coarse label 20 is out of range \[0, 19\]/);
    writeFileSync(join(dir, 'train.bin'), records(0, [[0, 100]]));
    await expect(cifar100(dir, { labels: 'coarse' })).rejects.toThrow(/record 0 \(byte offset 1\): fine label 100 is out of range \[0, 99\]/);
    writeFileSync(join(dir, 'train.bin'), records(0, [[1], [2]])); // CIFAR-10 records
    await expect(cifar100(dir)).rejects.toThrow(/6146 bytes long, not a multiple of the record size 3074/);
  });
});

describe('cifar readers under corrupted files', () => {
  // Truncated, extended, byte-flipped and spliced variants of a valid file: each either loads consistently
  // with its bytes or throws an Error naming the file; nothing else (no crash, no other error type).
  it('load consistently or throw a clear Error for 2000 mutated files', async () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const int = (n: number) => Math.floor(random() * n);
    const dir = join(root, 'mutations');
    mkdirSync(dir);
    const bases = {
      cifar10: { base: records(3, [[1], [7], [0]]), file: 'test_batch.bin', record: 3073, labelBytes: 1 },
      cifar100: { base: records(4, [[2, 50], [19, 99], [0, 0]]), file: 'test.bin', record: 3074, labelBytes: 2 },
    };
    let loaded = 0;
    let rejected = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const kind = trial % 2 === 0 ? 'cifar10' : 'cifar100';
      const { base, file, record, labelBytes } = bases[kind];
      let bytes: Buffer;
      switch (int(5)) {
        case 0: // truncate
          bytes = base.subarray(0, int(base.length + 1));
          break;
        case 1: // extend with random bytes, sometimes by whole records
          bytes = Buffer.concat([base, Buffer.from(Array.from({ length: random() < 0.5 ? record : int(4000) }, () => int(256)))]);
          break;
        case 2: // flip random bytes, often label bytes
          bytes = Buffer.from(base);
          for (let k = 1 + int(4); k > 0; k--) {
            const at = random() < 0.5 ? int(3) * record + int(labelBytes) : int(bytes.length);
            bytes[at] = int(256);
          }
          break;
        case 3: // splice: a piece of the file repeated or cut out
          {
            const a = int(base.length), b = a + int(base.length - a);
            bytes = random() < 0.5 ? Buffer.concat([base.subarray(0, b), base.subarray(a)]) : Buffer.concat([base.subarray(0, a), base.subarray(b)]);
          }
          break;
        default: // random bytes of a random length
          bytes = Buffer.from(Array.from({ length: int(3 * record + 10) }, () => int(256)));
      }
      const path = join(dir, file);
      writeFileSync(path, bytes);
      let ds;
      try {
        ds = kind === 'cifar10' ? await cifar10(dir, { split: 'test' }) : await cifar100(dir, { split: 'test', labels: int(2) ? 'fine' : 'coarse' });
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(TypeError);
        const message = (error as Error).message;
        expect(message.startsWith(`${kind}: ${path}`)).toBe(true);
        expect(message).toMatch(/is empty|not a multiple of the record size|is out of range/);
        rejected++;
        continue;
      }
      loaded++;
      expect(bytes.length % record).toBe(0);
      expect(ds.size).toBe(bytes.length / record);
      const fine = ds.classes.length !== 20;
      for (let r = 0; r < ds.size; r++) {
        const label = kind === 'cifar10' ? bytes[r * record] : bytes[r * record + (fine ? 1 : 0)];
        expect(ds.labels[r]).toBe(label);
        expect(label).toBeLessThan(ds.classes.length);
      }
      const r = int(ds.size);
      const { images } = await ds.get([r]);
      const v = images.dataSync();
      for (const p of [0, 1023, 1024, 3071]) expect(v[p]).toBeCloseTo(bytes[r * record + labelBytes + p] / 255, 6);
      images.dispose();
    }
    expect(loaded).toBeGreaterThan(60);
    expect(rejected).toBeGreaterThan(700);
    unlinkSync(join(dir, 'test.bin'));
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdxFormatError, fashionMnist, mnist, parseIdx, readIdx } from '../lib/data/index.js';

/** An IDX file's bytes: magic, big-endian sizes, big-endian values. */
function idxBytes(type: number, shape: number[], values: number[]): Uint8Array {
  const width = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[type]!;
  const out = new Uint8Array(4 + 4 * shape.length + values.length * width);
  const view = new DataView(out.buffer);
  out.set([0, 0, type, shape.length]);
  shape.forEach((s, i) => view.setUint32(4 + 4 * i, s, false));
  const at = 4 + 4 * shape.length;
  values.forEach((v, i) => {
    const o = at + i * width;
    if (type === 0x08) view.setUint8(o, v);
    else if (type === 0x09) view.setInt8(o, v);
    else if (type === 0x0b) view.setInt16(o, v, false);
    else if (type === 0x0c) view.setInt32(o, v, false);
    else if (type === 0x0d) view.setFloat32(o, v, false);
    else view.setFloat64(o, v, false);
  });
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-idx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseIdx', () => {
  it('reads every value type, big-endian, with its shape', () => {
    expect(parseIdx(idxBytes(0x08, [2, 3], [0, 1, 2, 253, 254, 255]))).toEqual({ shape: [2, 3], data: Uint8Array.from([0, 1, 2, 253, 254, 255]) });
    expect(Array.from(parseIdx(idxBytes(0x09, [3], [-128, -1, 127])).data)).toEqual([-128, -1, 127]);
    expect(Array.from(parseIdx(idxBytes(0x0b, [2], [-30000, 1234])).data)).toEqual([-30000, 1234]);
    expect(Array.from(parseIdx(idxBytes(0x0c, [2], [-2e9, 7])).data)).toEqual([-2e9, 7]);
    expect(Array.from(parseIdx(idxBytes(0x0d, [2], [1.5, -0.25])).data)).toEqual([1.5, -0.25]);
    expect(parseIdx(idxBytes(0x0e, [1, 1, 2], [Math.PI, -1e300]))).toEqual({ shape: [1, 1, 2], data: Float64Array.from([Math.PI, -1e300]) });
  });

  it('names the file and the problem for a wrong magic, type or length', () => {
    const good = idxBytes(0x08, [2, 2], [1, 2, 3, 4]);
    expect(() => parseIdx(Uint8Array.of(1, 0, 8, 1, 0, 0, 0, 0), 'x.idx')).toThrow(
      'x.idx: not a valid IDX file: expected the magic number to start with 0x00 0x00, found 0x01 0x00',
    );
    expect(() => parseIdx(Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 0), 'x.idx')).toThrow('unknown value type 0x0a');
    expect(() => parseIdx(good.subarray(0, good.length - 1), 'x.idx')).toThrow(
      'x.idx: not a valid IDX file: expected 16 bytes for uint8 values of shape [2, 2], found 15',
    );
    expect(() => parseIdx(Uint8Array.of(0, 0, 8, 3, 0, 0), 'x.idx')).toThrow('expected 16 header bytes for 3 dimensions, found 6');
    expect(() => parseIdx(Uint8Array.of(0, 0), 'x.idx')).toThrow(IdxFormatError);
  });

  it('survives thousands of corrupted files: each parses consistently or throws IdxFormatError', () => {
    // Bounded mutation test: flip, truncate and extend a valid file; never a crash, a hang or another error.
    let seed = 12345;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const base = idxBytes(0x08, [3, 4, 5], Array.from({ length: 60 }, (_, i) => i));
    let parsed = 0;
    let rejected = 0;
    for (let trial = 0; trial < 3000; trial++) {
      let bytes = Uint8Array.from(base);
      const kind = trial % 3;
      if (kind === 0) for (let k = 0; k < 1 + Math.floor(random() * 3); k++) bytes[Math.floor(random() * 12)] = Math.floor(random() * 256);
      else if (kind === 1) bytes = bytes.subarray(0, Math.floor(random() * bytes.length));
      else bytes = Uint8Array.from([...bytes, ...Array.from({ length: 1 + Math.floor(random() * 8) }, () => 7)]);
      try {
        const r = parseIdx(bytes, 'm');
        const count = r.shape.reduce((a, b) => a * b, 1);
        expect(r.data.length).toBe(count);
        parsed++;
      } catch (error) {
        expect(error).toBeInstanceOf(IdxFormatError);
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(3000);
    expect(rejected).toBeGreaterThan(1500);
  });
});

describe('readIdx and the MNIST-layout datasets', () => {
  it('reads gzip and plain files alike and names a corrupt gzip stream', async () => {
    const bytes = idxBytes(0x08, [2], [5, 6]);
    await writeFile(join(dir, 'plain.idx'), bytes);
    await writeFile(join(dir, 'packed.idx.gz'), gzipSync(bytes));
    await writeFile(join(dir, 'broken.gz'), gzipSync(bytes).subarray(0, 12));
    expect(await readIdx(join(dir, 'plain.idx'))).toEqual(await readIdx(join(dir, 'packed.idx.gz')));
    await expect(readIdx(join(dir, 'broken.gz'))).rejects.toThrow(`${join(dir, 'broken.gz')}: corrupt gzip data`);
    await expect(readIdx(join(dir, 'missing.idx'))).rejects.toThrow(`${join(dir, 'missing.idx')}: cannot read the IDX file (ENOENT)`);
  });

  it('builds a labelled dataset: pixels / 255 as float32 [n, 1, h, w], labels in order', async () => {
    const root = join(dir, 'digits');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(root);
    const pixels = Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
    await writeFile(join(root, 't10k-images-idx3-ubyte.gz'), gzipSync(idxBytes(0x08, [3, 2, 2], pixels)));
    await writeFile(join(root, 't10k-labels-idx1-ubyte'), idxBytes(0x08, [3], [7, 0, 9]));
    const data = await mnist({ root, split: 'test' });
    expect(data.size).toBe(3);
    expect(data.imageShape).toEqual([1, 2, 2]);
    const batch = await data.get([2, 0]);
    expect(batch.images.shape).toEqual([2, 1, 2, 2]);
    expect(Array.from(batch.images.dataSync() as Float32Array)).toEqual(
      [160, 180, 200, 220, 0, 20, 40, 60].map((v) => Math.fround(v / 255)),
    );
    expect(Array.from(batch.labels!)).toEqual([9, 7]);
    batch.images.dispose();
    await expect(data.get([3])).rejects.toThrow('indices[0]: expected an integer in [0, 2], received number 3');
    // Labels that do not match the images, and a missing split.
    await writeFile(join(root, 't10k-labels-idx1-ubyte'), idxBytes(0x08, [2], [7, 0]));
    await expect(mnist({ root, split: 'test' })).rejects.toThrow('expected 3 uint8 labels (one per image), found shape [2]');
    await expect(mnist({ root, split: 'train' })).rejects.toThrow(`root: expected ${join(root, 'train-images-idx3-ubyte.gz')} or`);
  });

  it("reads Debian's Fashion-MNIST when installed", async (context) => {
    const train = await fashionMnist({ split: 'test' }).catch(() => undefined);
    if (!train) return context.skip();
    expect(train.size).toBe(10000);
    expect(train.imageShape).toEqual([1, 28, 28]);
    expect(train.classes?.[9]).toBe('Ankle boot');
    const counts = new Array(10).fill(0);
    for (const l of train.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});

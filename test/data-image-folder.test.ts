import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LruCache } from '../lib/data/image-folder.js';
import { imageFolder } from '../lib/data/index.js';

const root = mkdtempSync(join(tmpdir(), 'byol-image-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Deterministic interleaved RGB(A) pixels. */
function pattern(width: number, height: number, channels: number, salt: number): Buffer {
  const raw = Buffer.alloc(width * height * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 29 + salt * 71 + ((i * i) % 13)) & 255;
  return raw;
}
function uniform(width: number, height: number, rgb: readonly number[]): Buffer {
  const raw = Buffer.alloc(width * height * rgb.length);
  for (let i = 0; i < raw.length; i++) raw[i] = rgb[i % rgb.length];
  return raw;
}
async function write(path: string, raw: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const image = sharp(raw, { raw: { width, height, channels } });
  const ext = path.split('.').pop()!.toLowerCase();
  if (ext === 'png') await image.png().toFile(path);
  else if (ext === 'webp') await image.webp({ lossless: true }).toFile(path);
  else await image.jpeg({ quality: 95 }).toFile(path);
}
/** The C×H×W floats torchvision's ToTensor gives for interleaved bytes. */
function chw(raw: Buffer, width: number, height: number, channels: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < channels; c++)
    for (let p = 0; p < width * height; p++) out.push(raw[p * channels + c] / 255);
  return out;
}
const values = (t: { dataSync(): ArrayLike<number | bigint> }) => Array.from(t.dataSync(), Number);

const labelled = join(root, 'labelled');
const raws = {
  catB: pattern(8, 8, 3, 1),
  catWebp: pattern(8, 8, 3, 2),
  dogRgba: pattern(8, 8, 4, 3),
  zebraGrey: pattern(8, 8, 1, 4),
};

beforeAll(async () => {
  // classes by code point: 'Zebra' < 'cat' < 'dog'; files by path within the class.
  await write(join(labelled, 'cat', 'b.png'), raws.catB, 8, 8, 3);
  await write(join(labelled, 'cat', 'a.jpg'), uniform(20, 12, [200, 100, 50]), 20, 12, 3);
  await write(join(labelled, 'cat', 'sub', 'c.webp'), raws.catWebp, 8, 8, 3);
  await write(join(labelled, 'dog', 'x.PNG'), raws.dogRgba, 8, 8, 4);
  writeFileSync(join(labelled, 'dog', 'readme.txt'), 'not an image');
  writeFileSync(join(labelled, 'dog', '.DS_Store'), 'hidden');
  await write(join(labelled, 'Zebra', 'z.png'), raws.zebraGrey, 8, 8, 1);
  mkdirSync(join(labelled, 'empty-class'));
});

describe('imageFolder: a labelled folder', () => {
  it('lists classes by sorted folder name and files by class, then path', async () => {
    const warnings: string[] = [];
    const ds = await imageFolder(labelled, { imageSize: 8, onWarning: (m) => warnings.push(m) });
    expect(ds.classes).toEqual(['Zebra', 'cat', 'dog', 'empty-class']);
    expect(ds.paths.map((p) => p.slice(labelled.length + 1))).toEqual([
      'Zebra/z.png',
      'cat/a.jpg',
      'cat/b.png',
      'cat/sub/c.webp',
      'dog/x.PNG',
    ]);
    expect(Array.from(ds.labels!)).toEqual([0, 1, 1, 1, 2]);
    expect(ds.size).toBe(5);
    expect(ds.imageShape).toEqual([3, 8, 8]);
    expect(warnings).toEqual([expect.stringContaining('without readable images: empty-class')]);
  });

  it('decodes exact pixel values in C×H×W order, in the order asked, with labels', async () => {
    const ds = await imageFolder(labelled, { imageSize: 8, onWarning: () => {} });
    const { images, labels } = await ds.get([2, 3, 4, 0]);
    expect(images.shape).toEqual([4, 3, 8, 8]);
    expect(images.dtype).toBe('float32');
    expect(Array.from(labels!)).toEqual([1, 1, 2, 0]);
    const v = values(images);
    const per = 3 * 8 * 8;
    const close = (got: number[], want: number[]) => {
      expect(got.length).toBe(want.length);
      const worst = Math.max(...got.map((g, i) => Math.abs(g - want[i])));
      expect(worst).toBeLessThan(1e-6);
    };
    close(v.slice(0, per), chw(raws.catB, 8, 8, 3)); // PNG
    close(v.slice(per, 2 * per), chw(raws.catWebp, 8, 8, 3)); // lossless WebP
    // RGBA: alpha dropped
    const rgb = Buffer.alloc(64 * 3);
    for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = raws.dogRgba[p * 4 + c];
    close(v.slice(2 * per, 3 * per), chw(rgb, 8, 8, 3));
    // greyscale repeated into R, G, B
    const grey = chw(raws.zebraGrey, 8, 8, 1);
    close(v.slice(3 * per, 4 * per), [...grey, ...grey, ...grey]);
    images.dispose();
  });

  it('resizes an image of another size (JPEG 20×12 → 8×8)', async () => {
    const ds = await imageFolder(labelled, { imageSize: 8, onWarning: () => {} });
    const { images } = await ds.get([1]);
    const v = values(images);
    const want = [200, 100, 50];
    for (let c = 0; c < 3; c++)
      for (const x of v.slice(c * 64, (c + 1) * 64)) expect(Math.abs(x * 255 - want[c])).toBeLessThan(4);
    images.dispose();
  });

  it('gives one channel for channels: 1', async () => {
    const ds = await imageFolder(labelled, { imageSize: 8, channels: 1, onWarning: () => {} });
    expect(ds.imageShape).toEqual([1, 8, 8]);
    const { images } = await ds.get([0, 1]);
    expect(images.shape).toEqual([2, 1, 8, 8]);
    const v = values(images);
    expect(Math.max(...v.slice(0, 64).map((x, i) => Math.abs(x - raws.zebraGrey[i] / 255)))).toBeLessThan(1e-6);
    // (200, 100, 50) in grey lies between its darkest and brightest channel
    for (const x of v.slice(64)) {
      expect(x * 255).toBeGreaterThan(60);
      expect(x * 255).toBeLessThan(190);
    }
    images.dispose();
  });

  it('checks the indices of get', async () => {
    const ds = await imageFolder(labelled, { imageSize: 8, onWarning: () => {} });
    await expect(ds.get([0, 5])).rejects.toThrow('indices[1]: expected an integer in [0, 4], received number 5');
    await expect(ds.get([1.5])).rejects.toThrow(RangeError);
  });
});

describe('imageFolder: fit', () => {
  const wide = join(root, 'wide');
  beforeAll(async () => {
    // 24×8: red, green, blue thirds
    const raw = Buffer.alloc(24 * 8 * 3);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 24; x++) raw[(y * 24 + x) * 3 + Math.floor(x / 8)] = 255;
    await write(join(wide, 'w.png'), raw, 24, 8, 3);
  });
  const column = (v: number[], c: number, x: number) => v[c * 64 + 3 * 8 + x]; // row 3
  it("'cover' crops the centre, 'fill' squeezes the whole image", async () => {
    const cover = await (await imageFolder(wide, { imageSize: 8 })).get([0]);
    const fill = await (await imageFolder(wide, { imageSize: 8, fit: 'fill' })).get([0]);
    const vc = values(cover.images), vf = values(fill.images);
    for (const x of [0, 4, 7]) expect(column(vc, 1, x)).toBeGreaterThan(0.95); // all green
    expect(column(vf, 0, 0)).toBeGreaterThan(0.9); // red on the left
    expect(column(vf, 2, 7)).toBeGreaterThan(0.9); // blue on the right
    expect(column(vf, 1, 0)).toBeLessThan(0.1);
    expect(cover.labels).toBeUndefined();
    cover.images.dispose();
    fill.images.dispose();
  });
});

describe('imageFolder: an unlabelled folder', () => {
  it('reads images directly in the root, sorted, without labels or classes', async () => {
    const dir = join(root, 'flat');
    await write(join(dir, 'b.webp'), pattern(10, 6, 3, 5), 10, 6, 3);
    await write(join(dir, 'a.jpeg'), pattern(6, 10, 3, 6), 6, 10, 3);
    await write(join(dir, 'C.png'), pattern(8, 8, 3, 7), 8, 8, 3);
    mkdirSync(join(dir, 'thumbnails')); // a folder without images does not make classes
    const ds = await imageFolder(dir, { imageSize: 4 });
    expect(ds.paths.map((p) => p.slice(dir.length + 1))).toEqual(['C.png', 'a.jpeg', 'b.webp']);
    expect(ds.classes).toBeUndefined();
    expect(ds.labels).toBeUndefined();
    const batch = await ds.get([0, 1, 2]);
    expect(batch.images.shape).toEqual([3, 3, 4, 4]);
    expect(batch.labels).toBeUndefined();
    for (const x of values(batch.images)) expect(x >= 0 && x <= 1).toBe(true);
    batch.images.dispose();
  });
});

describe('imageFolder: unreadable images', () => {
  const dir = join(root, 'corrupt');
  beforeAll(async () => {
    for (let i = 0; i < 5; i++) await write(join(dir, 'ok', `${i}.png`), pattern(8, 8, 3, i), 8, 8, 3);
    writeFileSync(join(dir, 'ok', 'bad.png'), 'this is not a PNG');
    writeFileSync(join(dir, 'ok', 'empty.jpg'), Buffer.alloc(0));
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other', 'x.webp'), Buffer.from([1, 2, 3, 4]));
  }, 30_000);

  it('skips and counts them with one warning', async () => {
    const warnings: string[] = [];
    const ds = await imageFolder(dir, { imageSize: 8, onWarning: (m) => warnings.push(m) });
    expect(ds.size).toBe(5);
    expect(ds.skipped.map((s) => s.path.slice(dir.length + 1))).toEqual(['ok/bad.png', 'ok/empty.jpg', 'other/x.webp']);
    expect(warnings.length).toBe(2);
    expect(warnings[0]).toMatch(/^imageFolder: skipped 3 unreadable images of 8 in .*: ok\/bad\.png \(.+\), ok\/empty\.jpg \(.+\), other\/x\.webp \(.+\)$/);
    expect(warnings[1]).toContain('without readable images: other');
    expect(ds.classes).toEqual(['ok', 'other']);
  });

  it('throws naming the first bad file under strict: true', async () => {
    await expect(imageFolder(dir, { imageSize: 8, strict: true })).rejects.toThrow(
      /unreadable image .*ok\/bad\.png: .* \(and 2 more of 8\) \(strict: true/,
    );
  });

  it('throws naming the file when an image fails at decode time (truncated after the header)', async () => {
    const trunc = join(root, 'truncated');
    await write(join(trunc, 'a.jpg'), pattern(64, 48, 3, 9), 64, 48, 3);
    await write(join(trunc, 'b.jpg'), pattern(64, 48, 3, 10), 64, 48, 3);
    const bytes = readFileSync(join(trunc, 'b.jpg'));
    writeFileSync(join(trunc, 'b.jpg'), bytes.subarray(0, bytes.length >> 1));
    const ds = await imageFolder(trunc, { imageSize: 8 }); // the header still parses
    expect(ds.size).toBe(2);
    const ok = await ds.get([0]);
    ok.images.dispose();
    await expect(ds.get([0, 1])).rejects.toThrow(/imageFolder: could not decode image .*truncated\/b\.jpg: /);
  });
});

describe('imageFolder: the decode cache', () => {
  it('keeps decoded images: with cacheSize a deleted file is still served, without it get throws', async () => {
    const dir = join(root, 'cached');
    for (let i = 0; i < 3; i++) await write(join(dir, `${i}.png`), pattern(8, 8, 3, 20 + i), 8, 8, 3);
    const cached = await imageFolder(dir, { imageSize: 8, cacheSize: 2 });
    const plain = await imageFolder(dir, { imageSize: 8 });
    const first = await cached.get([0, 1, 2]); // requested 0, 1, 2: the cache holds 1, 2 (0 was dropped)
    const want = values(first.images);
    unlinkSync(join(dir, '1.png'));
    unlinkSync(join(dir, '0.png'));
    const again = await cached.get([1, 2]);
    expect(values(again.images)).toEqual(want.slice(192));
    await expect(cached.get([0])).rejects.toThrow(/could not decode image .*cached\/0\.png/);
    await expect(plain.get([1])).rejects.toThrow(/could not decode image .*cached\/1\.png/);
    first.images.dispose();
    again.images.dispose();
  });

  it('keeps the most recently requested images even when an earlier request finishes last', async () => {
    // 0.png is 2000×2000 (tens of ms to decode), 1.png and 2.png are 8×8: with a cache keyed by finishing order,
    // 0 would finish last and push out 1.
    const dir = join(root, 'cached-out-of-order');
    mkdirSync(dir, { recursive: true });
    await sharp(pattern(2000, 2000, 3, 30), { raw: { width: 2000, height: 2000, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toFile(join(dir, '0.png'));
    for (const i of [1, 2]) await write(join(dir, `${i}.png`), pattern(8, 8, 3, 30 + i), 8, 8, 3);
    const ds = await imageFolder(dir, { imageSize: 8, cacheSize: 2, concurrency: 3 });
    const first = await ds.get([0, 1, 2]);
    const want = values(first.images);
    for (const i of [0, 1, 2]) unlinkSync(join(dir, `${i}.png`));
    const again = await ds.get([1, 2]);
    expect(values(again.images)).toEqual(want.slice(192));
    await expect(ds.get([0])).rejects.toThrow(/could not decode image .*cached-out-of-order\/0\.png/);
    first.images.dispose();
    again.images.dispose();
  }, 30_000);
});

describe('LruCache (the decode cache)', () => {
  /** A load that settles when the test says so. */
  function deferred(): { promise: Promise<string>; resolve: (v: string) => void; reject: (e: Error) => void } {
    let resolve!: (v: string) => void, reject!: (e: Error) => void;
    const promise = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  }

  it('orders entries by request, whatever order the loads finish in', async () => {
    const cache = new LruCache<number, string>(2);
    const loads = [deferred(), deferred(), deferred()];
    const got = loads.map((d, i) => cache.getOrLoad(i, () => d.promise));
    expect(cache.keys()).toEqual([1, 2]);
    loads[2].resolve('two');
    loads[1].resolve('one');
    await Promise.all(got.slice(1));
    loads[0].resolve('zero'); // finishes last, yet stays out
    expect(await got[0]).toBe('zero');
    expect(cache.keys()).toEqual([1, 2]);
    const load = vi.fn(async () => 'again');
    expect(await cache.getOrLoad(1, load)).toBe('one');
    expect(await cache.getOrLoad(2, load)).toBe('two');
    expect(load).not.toHaveBeenCalled();
    expect(await cache.getOrLoad(0, load)).toBe('again');
    expect(load).toHaveBeenCalledTimes(1);
    expect(cache.keys()).toEqual([2, 0]);
  });

  it('makes a request for a held key the most recent, and shares a load in flight', async () => {
    const cache = new LruCache<string, string>(2);
    const a = deferred();
    const load = vi.fn(() => a.promise);
    const first = cache.getOrLoad('a', load);
    void cache.getOrLoad('b', async () => 'b');
    const second = cache.getOrLoad('a', load); // before a's load has finished
    expect(second).toBe(first);
    expect(load).toHaveBeenCalledTimes(1);
    void cache.getOrLoad('c', async () => 'c');
    expect(cache.keys()).toEqual(['a', 'c']);
    a.resolve('A');
    expect(await second).toBe('A');
  });

  it('drops a load that fails, so the next request tries again', async () => {
    const cache = new LruCache<string, string>(2);
    const bad = deferred();
    const failed = cache.getOrLoad('x', () => bad.promise);
    expect(cache.keys()).toEqual(['x']);
    bad.reject(new Error('unreadable'));
    await expect(failed).rejects.toThrow('unreadable');
    expect(cache.keys()).toEqual([]);
    expect(await cache.getOrLoad('x', async () => 'fixed')).toBe('fixed');
    expect(cache.keys()).toEqual(['x']);
  });

  it('keeps nothing with capacity 0', async () => {
    const cache = new LruCache<string, string>(0);
    const load = vi.fn(async () => 'v');
    expect(await cache.getOrLoad('k', load)).toBe('v');
    expect(await cache.getOrLoad('k', load)).toBe('v');
    expect(load).toHaveBeenCalledTimes(2);
    expect(cache.keys()).toEqual([]);
  });
});

describe('imageFolder: errors', () => {
  it('names a missing root', async () => {
    await expect(imageFolder(join(root, 'nope'), { imageSize: 8 })).rejects.toThrow(
      /imageFolder: root: no such folder .*nope \(expected a folder of images, or of one subfolder per class\)/,
    );
  });
  it('names a root that is a file', async () => {
    const file = join(root, 'file.png');
    writeFileSync(file, 'x');
    await expect(imageFolder(file, { imageSize: 8 })).rejects.toThrow(/root: expected a folder, received a file: .*file\.png/);
  });
  it('names an empty folder and a folder without images', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(imageFolder(empty, { imageSize: 8 })).rejects.toThrow(
      /no images found in .*empty: expected \.jpg, \.jpeg, \.png, \.webp files/,
    );
    const texts = join(root, 'texts');
    mkdirSync(join(texts, 'a'), { recursive: true });
    writeFileSync(join(texts, 'a', 'x.txt'), 'x');
    await expect(imageFolder(texts, { imageSize: 8 })).rejects.toThrow(/no images found .*\(found 1 other files\)/);
  });
  it('throws when no image is readable', async () => {
    const dir = join(root, 'allbad');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.png'), 'x');
    await expect(imageFolder(dir, { imageSize: 8, onWarning: () => {} })).rejects.toThrow(
      /none of the 1 images in .*allbad is readable \(first: .*a\.png: /,
    );
  });
  it('checks its options', async () => {
    await expect(imageFolder(labelled, { imageSize: 0 })).rejects.toThrow(
      'imageSize: expected a positive integer, received number 0',
    );
    await expect(imageFolder(labelled, { imageSize: 8, channels: 2 as 3 })).rejects.toThrow(
      'channels: expected 1 or 3, received number 2',
    );
    await expect(imageFolder(labelled, { imageSize: 8, cacheSize: -1 })).rejects.toThrow('cacheSize: expected');
    await expect(imageFolder(labelled, { imageSize: 8, fit: 'crop' as 'cover' })).rejects.toThrow("fit: expected 'cover'");
  });
});

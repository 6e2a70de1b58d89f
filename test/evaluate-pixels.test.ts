// The raw-pixel baseline of `byol eval` (extractPixels, evaluatePixels, evaluateSeeds) and the train split the
// probe trains on (--train-limit): in the library, and through the command on a tiny image folder.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { augment } from '../lib/augment.js';
import { tensorDataset, type Dataset } from '../lib/data/index.js';
import { evaluatePixels, evaluateSeeds, extractPixels, preprocessOptions, type FeatureOptions, type Features } from '../lib/evaluate.js';
import { resnet } from '../lib/nn.js';
import { manualSeed, rand, tensor } from '../lib/tensor.js';
import { byol } from './fixtures/run-cli.js';

/** 8x8 gray images whose class (0..3) is which quadrant is lit (1.0) over dim noise: the pixels encode it. */
function quadrants(n: number, seed: number, labelOf: (i: number) => number = (i) => i % 4) {
  manualSeed(seed);
  const values = rand([n, 1, 8, 8]).mul(0.3).dataSync() as Float32Array;
  const labels = Int32Array.from({ length: n }, (_, i) => labelOf(i));
  for (let i = 0; i < n; i++) {
    const q = i % 4; // the image follows i % 4; labelOf may lie about it
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) values[i * 64 + (y + 4 * (q >> 1)) * 8 + x + 4 * (q & 1)] = 1;
  }
  return tensorDataset(tensor(values, { shape: [n, 1, 8, 8] }), { labels });
}

describe('extractPixels', () => {
  it('gives the preprocessed images themselves, flattened, one row per image with its label', async () => {
    manualSeed(4);
    const images = rand([6, 1, 10, 10]);
    const labels = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const f = await extractPixels(tensorDataset(images, { labels }), { imageSize: 12, batchSize: 4 });
    expect(f.features.shape).toEqual([6, 144]);
    expect(Array.from(f.labels!)).toEqual(Array.from(labels));
    const expected = (await augment(images, preprocessOptions({ imageSize: 12 }), { seed: 0 })).flatten(1);
    const diff = Math.max(...(f.features.sub(expected).abs().dataSync() as Float32Array));
    expect(diff).toBeLessThan(1e-6);
    // Normalised as the encoders' inputs (0.449 / 0.226 for one channel), not [0, 1] pixels.
    expect(Math.min(...(f.features.dataSync() as Float32Array))).toBeLessThan(-1);
  });
});

describe('evaluatePixels', () => {
  it('scores pixels that encode the class near 100%, and shuffled labels near chance', async () => {
    const options = { imageSize: 8, linear: { epochs: 50, lr: 0.05 }, knn: { k: 5 } };
    const s = await evaluatePixels(quadrants(80, 1), quadrants(40, 2), options);
    expect(s.linear.testAccuracy).toBeGreaterThanOrEqual(0.97);
    expect(s.knn).toBeGreaterThanOrEqual(0.97);
    // The same images with labels that say nothing about them: the probe must not find a class in them.
    const noise = (i: number) => (3 * (i % 4) + (i >> 2)) % 4; // each quadrant gets every label equally often
    const control = await evaluatePixels(quadrants(80, 1, noise), quadrants(40, 2, noise), options);
    expect(control.linear.testAccuracy).toBeLessThan(0.6);
    expect(control.knn).toBeLessThan(0.6);
  });

  it('trains on the whole train split by default and on a seeded subset of trainLimit images', async () => {
    const train = quadrants(60, 3);
    const test = quadrants(20, 4);
    const calls: { dataset: Dataset; options: FeatureOptions; rows: number; indices: number[] }[] = [];
    const spy = async (dataset: Dataset, options: FeatureOptions): Promise<Features> => {
      const f = await extractPixels(dataset, options);
      calls.push({ dataset, options, rows: f.features.shape[0]!, indices: Array.from(f.indices) });
      return f;
    };
    const options = { imageSize: 8, linear: { epochs: 5 }, knn: { k: 5 } };
    // No limit: the test and the whole train split once each, the probe once per seed.
    const all = await evaluateSeeds(spy, train, test, options, [0, 1]);
    expect(all).toHaveLength(2);
    expect(calls.map((c) => [c.dataset === train ? 'train' : 'test', c.rows])).toEqual([['test', 20], ['train', 60]]);
    // A limit: each probe seed its own seeded subset of that many train images.
    calls.length = 0;
    await evaluateSeeds(spy, train, test, { ...options, trainLimit: 25 }, [0, 1]);
    const trainCalls = calls.filter((c) => c.dataset === train);
    expect(trainCalls.map((c) => c.rows)).toEqual([25, 25]);
    expect(trainCalls[0]!.indices).not.toEqual(trainCalls[1]!.indices);
    expect(calls.filter((c) => c.dataset === test).map((c) => c.rows)).toEqual([20]);
  });
});

/** Dark squares vs bright squares of a few sizes: a class any pixel classifier separates. */
async function writeImages(root: string, perClass: number): Promise<void> {
  for (const [label, bright] of [['dark', false], ['light', true]] as const) {
    await mkdir(join(root, label), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const size = 14 + (i % 3) * 4;
      const raw = Buffer.alloc(size * size * 3, bright ? 200 + (i % 5) * 10 : 30 + (i % 5) * 10);
      await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(root, label, `img${i}.png`));
    }
  }
}

describe('byol eval: the raw-pixel row and --train-limit', () => {
  let dir: string;
  let weights: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'byol-eval-pixels-'));
    await writeImages(join(dir, 'images', 'train'), 16);
    await writeImages(join(dir, 'images', 'test'), 5);
    weights = join(dir, 'encoder.safetensors');
    await resnet(18, { smallStem: true, classifier: false }).save(weights);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const evalArgs = () => ['eval', '--weights', weights, '--image-size', '12', '--data', join(dir, 'images'), '--probe-epochs', '20', '--threads', '2'];

  it('prints and writes a "raw pixels" row beside random init, on the train subset of --train-limit', async () => {
    const json = join(dir, 'eval.json');
    const r = await byol(...evalArgs(), '--seeds', '2', '--train-limit', '24', '--json', json);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| random init \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| 2 \|/);
    expect(r.stdout).toMatch(/\| raw pixels \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| 2 \|/);
    expect(r.stdout).toMatch(/\| margin over raw pixels \| [-+][\d.]+ \| [-+][\d.]+ \| \|/);
    expect(r.stdout).toContain('24 train / 10 test images, 12 px; raw pixels: the 432 normalised values');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.rows.map((row: { name: string }) => row.name)).toEqual(['BYOL', 'random init', 'raw pixels']);
    expect(report.trainImages).toBe(24);
    expect(report.pixelFeatures).toBe(3 * 12 * 12);
    const pixels = report.rows[2];
    // Dark vs bright: the pixels separate them perfectly, in every run.
    expect(pixels.linear.values).toHaveLength(2);
    for (const v of [...pixels.linear.values, ...pixels.knn.values]) expect(v).toBe(1);
  }, 120_000);

  it('leaves the row out with --no-pixels; a --train-limit below k reaches the kNN', async () => {
    const r = await byol(...evalArgs(), '--seeds', '1', '--no-baseline', '--no-pixels');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| BYOL |');
    expect(r.stdout).not.toContain('raw pixels');
    expect(r.stdout).not.toContain('random init');
    // 12 train images cannot give k = 20 neighbours: the limit is what the evaluation got.
    const few = await byol(...evalArgs(), '--seeds', '1', '--no-baseline', '--train-limit', '12');
    expect(few.code).toBe(1);
    expect(few.stderr).toContain('k: expected an integer in [1, 12]');
  }, 120_000);
});

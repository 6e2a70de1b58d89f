import { describe, expect, it } from 'vitest';
import { tensorDataset } from '../lib/data/index.js';
import { extractFeatures, knnAccuracy, linearProbe, meanAndSpread, preprocessOptions } from '../lib/evaluate.js';
import { augment } from '../lib/augment.js';
import { cat, manualSeed, rand, tensor } from '../lib/tensor.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';


describe('extractFeatures', () => {
  it('gives one row per image in dataset order, in eval mode, the same as a forward of the preprocessed images', async () => {
    manualSeed(3);
    const images = rand([10, 1, 12, 12]);
    const labels = Int32Array.from([0, 1, 0, 1, 2, 2, 1, 0, 1, 2]);
    const net = tinyEncoder(1, 6);
    const f = await extractFeatures(net, tensorDataset(images, { labels }), { imageSize: 16, batchSize: 4 });
    expect(f.features.shape).toEqual([10, 6]);
    expect(Array.from(f.labels!)).toEqual(Array.from(labels));
    expect(net.training).toBe(true); // restored
    net.eval();
    const input = await augment(images, preprocessOptions({ imageSize: 16 }), { seed: 0 });
    const expected = await net.forward(input);
    const diff = Math.max(...(f.features.sub(expected).abs().dataSync() as Float32Array));
    expect(diff).toBeLessThan(1e-5);
  });

  it('takes a seeded subset in index order with limit', async () => {
    const images = rand([20, 1, 8, 8]);
    const labels = Int32Array.from({ length: 20 }, (_, i) => i);
    const net = tinyEncoder(1, 6);
    const a = await extractFeatures(net, tensorDataset(images, { labels }), { imageSize: 8, limit: 5, seed: 1 });
    const b = await extractFeatures(net, tensorDataset(images, { labels }), { imageSize: 8, limit: 5, seed: 1 });
    const c = await extractFeatures(net, tensorDataset(images, { labels }), { imageSize: 8, limit: 5, seed: 2 });
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(Array.from(a.indices)).not.toEqual(Array.from(c.indices));
    expect(Array.from(a.indices)).toEqual([...a.indices].sort((x, y) => x - y));
    expect(Array.from(a.labels!)).toEqual(Array.from(a.indices)); // labels follow their images
    await expect(extractFeatures(net, tensorDataset(images), { imageSize: 8, limit: 0 })).rejects.toThrow('limit: expected a positive integer');
  });
});

describe('linearProbe and knnAccuracy', () => {
  // Two classes along one axis, noise elsewhere: both evaluations must separate them; shuffled labels must not.
  function split(n: number, offset: number) {
    manualSeed(offset);
    const noise = rand([n, 4]);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    const signal = tensor(Float32Array.from(labels, (l) => (l ? 3 : -3)), { shape: [n, 1] });
    return { features: cat([signal, noise], 1), labels, indices: Int32Array.from({ length: n }, (_, i) => i) };
  }

  it('separate separable classes', async () => {
    const train = split(60, 1);
    const test = split(30, 2);
    const probe = await linearProbe(train, test, { epochs: 30, lr: 0.05 });
    expect(probe.testAccuracy).toBe(1);
    expect(await knnAccuracy(train, test, { k: 5 })).toBe(1);
  });

  it('reject unlabelled features with a message naming the split', async () => {
    const train = split(10, 1);
    const { labels: _, ...unlabelled } = split(10, 2);
    await expect(linearProbe(train, unlabelled)).rejects.toThrow('test: expected labelled features');
    await expect(knnAccuracy(train, train, { k: 11 })).rejects.toThrow('k: expected an integer in [1, 10]');
  });

  it('meanAndSpread gives the sample standard deviation', () => {
    expect(meanAndSpread([0.8, 0.82])).toEqual({ mean: 0.81, std: expect.closeTo(0.01414, 4) });
    expect(meanAndSpread([0.5])).toEqual({ mean: 0.5, std: 0 });
  });
});

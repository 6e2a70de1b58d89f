import { describe, expect, it } from 'vitest';
import {
  augment,
  byolPytorchDefault,
  byolView1,
  byolView2,
  callSeed,
  cuda,
  makeAugmenter,
  tensor,
  toTransform,
  validateAugmentOptions,
  type AugmentOptions,
  type Tensor,
} from '../lib/index.js';

const off: AugmentOptions = {
  crop: false,
  flipProb: 0,
  jitterProb: 0,
  grayscaleProb: 0,
  blurProb: 0,
  solarizeProb: 0,
  normalize: false,
};

// n identical pseudo-random uint8 NHWC images, as a decoder gives them.
function identicalImages(n: number, h: number, w: number): Tensor {
  const one = new Uint8Array(h * w * 3);
  let s = 12345;
  for (let i = 0; i < one.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    one[i] = s >>> 24;
  }
  const data = new Uint8Array(n * one.length);
  for (let k = 0; k < n; k++) data.set(one, k * one.length);
  return tensor(data, { shape: [n, h, w, 3], dtype: 'uint8' });
}

function images(t: Tensor): Float32Array[] {
  const [n] = t.shape;
  const data = t.contiguous().dataSync() as Float32Array;
  const size = data.length / n;
  return Array.from({ length: n }, (_, i) => data.subarray(i * size, (i + 1) * size));
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// |measured - p| within 3 standard deviations of a binomial proportion.
function expectProportion(hits: number, n: number, p: number) {
  expect(Math.abs(hits / n - p)).toBeLessThanOrEqual(3 * Math.sqrt((p * (1 - p)) / n) + 1e-12);
}

describe('augment', () => {
  it('gives every image of a batch of identical images its own crop, flip and colours', async () => {
    const x = identicalImages(16, 24, 24);
    const views = images(await augment(x, byolView1(24, { blurProb: 0 }), { seed: 1 }));
    for (let i = 0; i < views.length; i++) {
      for (let j = i + 1; j < views.length; j++) expect(maxAbsDiff(views[i], views[j])).toBeGreaterThan(1e-3);
    }
    // Flip alone: both orientations in one batch.
    const flips = images(await augment(x, { ...off, flipProb: 0.5 }, { seed: 2 }));
    const same = flips.filter((v) => maxAbsDiff(v, flips[0]) === 0).length;
    expect(same).toBeGreaterThan(0);
    expect(same).toBeLessThan(16);
    // byol-pytorch's behaviour on request: one draw for the whole batch.
    const shared = images(await augment(x, byolView1(24, { perImage: false }), { seed: 3 }));
    for (const v of shared) expect(maxAbsDiff(v, shared[0])).toBeLessThan(1e-6);
  });

  it('returns float32 NCHW from uint8 NHWC, channels-last on request', async () => {
    const x = identicalImages(3, 20, 16);
    const y = await augment(x, byolView2([12, 10]), { seed: 4 });
    expect(y.shape).toEqual([3, 3, 12, 10]);
    expect(y.dtype).toBe('float32');
    expect(y.isContiguous()).toBe(true);
    const cl = await augment(x, byolView2([12, 10], { channelsLast: true }), { seed: 4 });
    expect(cl.isChannelsLast()).toBe(true);
    expect(maxAbsDiff(cl.contiguous().dataSync() as Float32Array, y.dataSync() as Float32Array)).toBe(0);
    // 1-channel images stay 1-channel; identity settings return the input.
    const gray = tensor(new Float32Array(2 * 7 * 9).map((_, i) => (i % 13) / 13), { shape: [2, 1, 7, 9] });
    const same = await augment(gray, off, { seed: 5 });
    expect(same.shape).toEqual([2, 1, 7, 9]);
    expect(maxAbsDiff(same.dataSync() as Float32Array, gray.dataSync() as Float32Array)).toBe(0);
  });

  it('is deterministic for a seed, and makeAugmenter advances its seed per call', async () => {
    const x = identicalImages(4, 16, 16);
    const a = await augment(x, byolView2(16), { seed: 42 });
    const b = await augment(x, byolView2(16), { seed: 42 });
    const c = await augment(x, byolView2(16), { seed: 43 });
    expect(maxAbsDiff(a.dataSync() as Float32Array, b.dataSync() as Float32Array)).toBe(0);
    expect(maxAbsDiff(a.dataSync() as Float32Array, c.dataSync() as Float32Array)).toBeGreaterThan(0);
    const f = makeAugmenter(byolView1(16), 7);
    const g = makeAugmenter(byolView1(16), 7);
    const f1 = await f(x), f2 = await f(x), g1 = await g(x);
    expect(maxAbsDiff(f1.dataSync() as Float32Array, g1.dataSync() as Float32Array)).toBe(0);
    expect(maxAbsDiff(f1.dataSync() as Float32Array, f2.dataSync() as Float32Array)).toBeGreaterThan(0);
    const direct = await augment(x, byolView1(16), { seed: callSeed(7, 0) });
    expect(maxAbsDiff(direct.dataSync() as Float32Array, f1.dataSync() as Float32Array)).toBe(0);
    expect(new Set([0, 1, 2, 3].map((k) => callSeed(7, k))).size).toBe(4);
    // A function of the batch passes through toTransform untouched.
    const custom = async (t: Tensor) => t.clone();
    expect(toTransform(custom)).toBe(custom);
  });

  it('measures each probability from the pixels within 3 sigma', async () => {
    const n = 3000;
    // Flip: an increasing ramp along W comes out decreasing when flipped.
    const ramp = new Float32Array(n * 3 * 2 * 6);
    for (let i = 0; i < ramp.length; i++) ramp[i] = 0.1 + 0.1 * (i % 6);
    const flipped = images(await augment(tensor(ramp, { shape: [n, 3, 2, 6] }), { ...off, flipProb: 0.3 }, { seed: 8 }));
    expectProportion(flipped.filter((v) => v[0] > v[5]).length, n, 0.3);
    // Solarize: pixels all above the threshold come out below it.
    const bright = new Float32Array(n * 3 * 2 * 2).map((_, i) => 0.6 + 0.3 * ((i * 7) % 11) / 11);
    const sol = images(await augment(tensor(bright, { shape: [n, 3, 2, 2] }), { ...off, solarizeProb: 0.2 }, { seed: 9 }));
    expectProportion(sol.filter((v) => v.every((p) => p < 0.5)).length, n, 0.2);
    // Grayscale: colourful pixels come out with equal channels.
    const colour = new Float32Array(n * 3 * 2 * 2).map((_, i) => [0.2, 0.5, 0.8][Math.floor(i / 4) % 3]);
    const gray = images(await augment(tensor(colour, { shape: [n, 3, 2, 2] }), { ...off, grayscaleProb: 0.4 }, { seed: 10 }));
    expectProportion(gray.filter((v) => v[0] === v[4] && v[4] === v[8]).length, n, 0.4);
  });

  it('has presets with the paper and byol-pytorch settings', () => {
    expect(byolView1(224)).toMatchObject({ size: 224, blurProb: 1, solarizeProb: 0, jitterProb: 0.8, hue: 0.1 });
    expect(byolView2(224)).toMatchObject({ blurProb: 0.1, solarizeProb: 0.2, grayscaleProb: 0.2 });
    expect(byolPytorchDefault(64)).toMatchObject({
      jitterProb: 0.3,
      brightness: 0.8,
      contrast: 0.8,
      saturation: 0.8,
      hue: 0.2,
      blurKernel: 3,
      sigma: [1, 2],
      blurProb: 0.2,
    });
    expect(byolView1(96, { blurProb: 0.5 }).blurProb).toBe(0.5);
    for (const preset of [byolView1(96), byolView2(96), byolPytorchDefault(96)]) validateAugmentOptions(preset);
  });

  it('rejects bad input with a clear error before any work', async () => {
    const x = identicalImages(2, 16, 16);
    await expect(augment(x, { flipProb: 1.5 }, { seed: 1 })).rejects.toThrow(
      new RangeError('flipProb: expected a probability in [0, 1], received 1.5'),
    );
    await expect(augment(x, { scale: [1, 0.08] }, { seed: 1 })).rejects.toThrow(
      'scale: expected [min, max] with 0 < min <= max <= 1, received [1, 0.08]',
    );
    await expect(augment(x, { ratio: [2, 1] }, { seed: 1 })).rejects.toThrow('ratio: expected [min, max] with 0 < min <= max');
    await expect(augment(x, { size: 1024 }, { seed: 1 })).rejects.toThrow(
      "size: expected at most 8x the input's 16 x 16, received 1024 x 1024",
    );
    await expect(augment(x.reshape(2, 16, 48), {}, { seed: 1 })).rejects.toThrow(
      'images: expected a 4-d batch (N, C, H, W) or (N, H, W, C), received shape [2, 16, 48]',
    );
    await expect(augment(tensor(new Float32Array(2 * 4 * 5 * 5), { shape: [2, 4, 5, 5] }), {}, { seed: 1 })).rejects.toThrow(
      'images: expected 1 or 3 channels',
    );
    const typo = augment(x, { flipP: 0.5 } as AugmentOptions, { seed: 1 });
    await expect(typo).rejects.toThrow(TypeError);
    await expect(typo).rejects.toThrow("options: unknown option 'flipP' (known: antialias, blurKernel,");
    await expect(augment(x, { interpolation: 'nearest' as 'bilinear' }, { seed: 1 })).rejects.toThrow(
      "interpolation: expected 'bilinear' or 'bicubic', received 'nearest'",
    );
    await expect(augment(x, {}, { seed: -1 })).rejects.toThrow('seed: expected an integer in [0, 2^53 - 1], received -1');
    expect(() => makeAugmenter({ hue: 0.7 })).toThrow('hue: expected a number in [0, 0.5], received 0.7');
  });

  it.skipIf(!cuda.isAvailable())('agrees between CPU and CUDA', async () => {
    const x = identicalImages(8, 32, 32);
    const cpu = await augment(x, byolView2(24), { seed: 11 });
    const gpu = await augment(x.to('cuda'), byolView2(24), { seed: 11 });
    expect(gpu.device).toMatch(/^cuda/);
    expect(maxAbsDiff(gpu.cpu().dataSync() as Float32Array, cpu.dataSync() as Float32Array)).toBeLessThan(1e-4);
  });
});

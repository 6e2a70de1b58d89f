// The augmentations on the GPU give the CPU's views for the same seed (the vitest suite's 'agrees between CPU and
// CUDA' in test/augment.test.ts, which skips without CUDA, ported here and widened to both views, uint8 and float
// input, NHWC and NCHW, one and three channels).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, device, maxAbsDiff, onDevice, withoutCuda } from './cuda-env.mjs';

const { augment, byolView1, byolView2, tensor } = api;

// n identical pseudo-random uint8 images, as a decoder gives them (NHWC) or as a tensor pipeline holds them (NCHW).
function identicalImages(n, h, w, c, layout) {
  const one = new Uint8Array(h * w * c);
  let s = 12345;
  for (let i = 0; i < one.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    one[i] = s >>> 24;
  }
  const data = new Uint8Array(n * one.length);
  for (let k = 0; k < n; k++) data.set(one, k * one.length);
  return tensor(data, { shape: layout === 'nhwc' ? [n, h, w, c] : [n, c, h, w], dtype: 'uint8' });
}

test('agrees between CPU and CUDA (byolView2, uint8 NHWC, as the vitest test)', { skip: withoutCuda }, async () => {
  const x = identicalImages(8, 32, 32, 3, 'nhwc');
  const cpu = await augment(x, byolView2(24), { seed: 11 });
  const gpu = await augment(x.to(device), byolView2(24), { seed: 11 });
  assert.match(gpu.device, onDevice);
  assert.deepEqual(gpu.shape, cpu.shape);
  const diff = maxAbsDiff(gpu.cpu().dataSync(), cpu.dataSync());
  assert.ok(diff < 1e-4, `largest difference ${diff}`);
});

test('agrees between CPU and CUDA for both views, float and uint8, NCHW, 1 and 3 channels', { skip: withoutCuda }, async () => {
  const cases = [
    { view: byolView1(28), channels: 3, input: 'uint8', seed: 21 },
    { view: byolView1(28), channels: 1, input: 'uint8', seed: 22 },
    { view: byolView2(28), channels: 3, input: 'float', seed: 23 },
    { view: byolView2(16), channels: 1, input: 'float', seed: 24 },
  ];
  for (const c of cases) {
    let x = identicalImages(16, 36, 36, c.channels, 'nchw');
    if (c.input === 'float') x = x.to('float32').div(255);
    const cpu = await augment(x, c.view, { seed: c.seed });
    const gpu = await augment(x.to(device), c.view, { seed: c.seed });
    const diff = maxAbsDiff(gpu.cpu().dataSync(), cpu.dataSync());
    assert.ok(diff < 1e-4, `${c.channels} channel(s), ${c.input}, seed ${c.seed}: largest difference ${diff}`);
  }
});

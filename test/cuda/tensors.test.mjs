// Tensors on 'cuda': every dtype goes there and back unchanged, tensors made there are there, and arithmetic there
// agrees with the CPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, device, maxAbsDiff, onDevice, values, withoutCuda } from './cuda-env.mjs';

const { manualSeed, rand, randn, tensor, zeros } = api;

// Values each dtype holds exactly, so that a round trip must give them back bit for bit.
const EXACT = {
  float32: [1.5, -2.25, 3.0517578125e-5, 16777216],
  float64: [Math.PI, -1e-300, 2 ** 60, 0.1],
  float16: [1.5, -2.25, 65504, 0.000060975551605224609375],
  bfloat16: [1.5, -2.25, 3.3895313892515355e38, 2 ** -100],
  int32: [0, -1, 2147483647, -2147483648],
  int64: [2 ** 40 + 3, -(2 ** 52), 7, 0],
  uint8: [0, 1, 128, 255],
  bool: [1, 0, 0, 1],
};

test('every dtype goes to the GPU and back unchanged', { skip: withoutCuda }, () => {
  for (const [dtype, data] of Object.entries(EXACT)) {
    const host = tensor(dtype === 'bool' ? data.map(Boolean) : data, { dtype });
    const gpu = host.to(device);
    assert.match(gpu.device, onDevice, `${dtype}: device`);
    assert.equal(gpu.dtype, dtype);
    const back = gpu.cpu();
    assert.equal(back.device, 'cpu');
    assert.deepEqual(values(back), values(host), `${dtype}: values after the round trip`);
  }
});

test('tensors made on the GPU are there, with the values asked for', { skip: withoutCuda }, () => {
  const z = zeros([3, 5], { device });
  assert.match(z.device, onDevice);
  assert.deepEqual(values(z.cpu()), new Array(15).fill(0));
  manualSeed(3);
  const r = rand([1000], { device });
  const v = values(r.cpu());
  assert.ok(v.every((x) => x >= 0 && x < 1), 'rand: values in [0, 1)');
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `rand: mean ${mean} should be near 0.5`);
  const n = values(randn([4000], { device }).cpu());
  const m = n.reduce((a, b) => a + b, 0) / n.length;
  const sd = Math.sqrt(n.reduce((a, b) => a + (b - m) ** 2, 0) / n.length);
  assert.ok(Math.abs(m) < 0.1 && Math.abs(sd - 1) < 0.1, `randn: mean ${m}, std ${sd} should be near 0 and 1`);
});

test('arithmetic, reductions and matmul on the GPU agree with the CPU', { skip: withoutCuda }, async () => {
  manualSeed(5);
  const a = randn([64, 96]);
  const b = randn([96, 48]);
  const ga = a.to(device);
  const gb = b.to(device);
  assert.ok(maxAbsDiff(values(ga.mul(2).add(1).relu().cpu()), values(a.mul(2).add(1).relu())) < 1e-6);
  assert.ok(Math.abs(ga.sum().item() - a.sum().item()) < 1e-3);
  const product = await ga.matmul(gb);
  assert.match(product.device, onDevice);
  // TF32 may be on for CUDA matmuls: allow its 10-bit mantissa over 96 products.
  assert.ok(maxAbsDiff(values(product.cpu()), values(await a.matmul(b))) < 5e-2);
});

test('channels-last layout on the GPU keeps the values', { skip: withoutCuda }, () => {
  manualSeed(7);
  const x = randn([2, 3, 5, 7]);
  const g = x.to(device).channelsLast();
  assert.ok(g.isChannelsLast());
  assert.deepEqual(values(g.contiguous().cpu()), values(x));
});

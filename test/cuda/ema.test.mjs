// The EMA (lib/ema.ts: one native call, a multi-tensor kernel on CUDA, native/core/ema_cuda.cu) against a float64
// reference computed on the CPU from the same starting values, for every dtype, sizes that do and do not fill the
// kernel's chunks, many tensors in one call, misaligned and strided views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, device, onDevice, values, withoutCuda } from './cuda-env.mjs';

const { ema, manualSeed, randn, tensor } = api;

// tau·t + (1 − tau)·s in float64, within two roundings of the dtype (as test/ema.test.ts).
function expectEma(result, t0, s0, tau, dtype, label) {
  const u = dtype === 'float16' ? 2 ** -11 : dtype === 'bfloat16' ? 2 ** -8 : dtype === 'float64' ? 2 ** -53 : 2 ** -24;
  const r = values(result);
  assert.equal(r.length, t0.length, `${label}: length`);
  for (let i = 0; i < r.length; i++) {
    const ref = tau * t0[i] + (1 - tau) * s0[i];
    const bound = 2 * u * (Math.abs(ref) + tau * Math.abs(t0[i]) + (1 - tau) * Math.abs(s0[i])) + 2 ** -24;
    if (Math.abs(r[i] - ref) > bound) assert.fail(`${label} element ${i}: ${r[i]} is not within ${bound} of the reference ${ref}`);
  }
}

test('matches a float64 reference for every dtype, odd sizes and many tensors in one call', { skip: withoutCuda }, async () => {
  manualSeed(11);
  const dtypes = ['float32', 'float16', 'bfloat16', 'float64'];
  // 1..70001 and one of 2^22 + 5 elements; then 300 small tensors, more than one kernel launch takes.
  const sizes = [1, 3, 1023, 70001, 2 ** 22 + 5, ...Array.from({ length: 300 }, (_, i) => 1 + ((i * 37) % 513))];
  const cases = [];
  sizes.forEach((n, i) => {
    const dtype = dtypes[i % dtypes.length];
    const t = randn([n]).to(dtype);
    const s = randn([n]).to(dtype);
    cases.push({ dtype, n, t0: values(t), s0: values(s), target: t.to(device), source: s.to(device) });
  });
  await ema.update(cases.map((c) => c.target), cases.map((c) => c.source), 0.97);
  for (const c of cases) {
    assert.match(c.target.device, onDevice);
    expectEma(c.target.cpu(), c.t0, c.s0, 0.97, c.dtype, `${c.dtype} [${c.n}]`);
    assert.deepEqual(values(c.source.cpu()), c.s0, 'the sources are not written');
  }
});

test('handles misaligned and strided views on the GPU', { skip: withoutCuda }, async () => {
  manualSeed(12);
  const base = randn([40, 30]).to(device);
  const strided = base.transpose(0, 1); // [30, 40], not contiguous
  const source = randn([30, 40]).to(device);
  const offset = randn([1001]).to(device).slice(0, 1, 1001); // starts one element in: not 16-byte aligned
  const offsetSource = randn([1002]).to(device).slice(0, 2, 1002);
  const t0 = [values(strided.contiguous().cpu()), values(offset.contiguous().cpu())];
  const s0 = [values(source.cpu()), values(offsetSource.contiguous().cpu())];
  await ema.update([strided, offset], [source, offsetSource], 0.5);
  expectEma(strided.contiguous().cpu(), t0[0], s0[0], 0.5, 'float32', 'transposed view');
  expectEma(offset.contiguous().cpu(), t0[1], s0[1], 0.5, 'float32', 'offset view');
});

test('copies exactly at tau 0 and keeps exactly at tau 1', { skip: withoutCuda }, async () => {
  const t = tensor([1e20, -3.5, 7e-30, 0.1]).to(device);
  const s = tensor([1, 2e15, -4, 0.3]).to(device);
  const before = values(t.cpu());
  await ema.update([t], [s], 1);
  assert.deepEqual(values(t.cpu()), before);
  await ema.update([t], [s], 0);
  assert.deepEqual(values(t.cpu()), values(s.cpu()));
});

test('refuses a pair on different devices before writing anything', { skip: withoutCuda }, async () => {
  const first = randn([8]).to(device);
  const firstBefore = values(first.cpu());
  await assert.rejects(
    ema.update([first, randn([4])], [randn([8]).to(device), randn([4]).to(device)], 0.5),
    /sources\[1\]: expected a tensor on cpu like targets\[1\], received one on cuda/,
  );
  assert.deepEqual(values(first.cpu()), firstBefore, 'the first (valid) pair was not updated');
});

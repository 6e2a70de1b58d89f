import { describe, expect, it } from 'vitest';
import {
  arange,
  cat,
  full,
  getNumThreads,
  manualSeed,
  noGrad,
  ones,
  rand,
  randn,
  stack,
  tensor,
  zeros,
  Tensor,
} from '../lib/index.js';
import { native } from '../lib/native.js';

const values = (t: Tensor) => Array.from(t.dataSync(), Number);

describe('creation', () => {
  it('infers shape and dtype from nested arrays', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expect(t.numel).toBe(6);
    expect(values(t)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(values(tensor([true, false]))).toEqual([1, 0]);
  });

  it('keeps typed-array types and converts on request', () => {
    expect(tensor(new Float64Array([1.25, 2])).dtype).toBe('float64');
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new BigInt64Array([1n, 2n])).dtype).toBe('int64');
    expect(tensor(new Uint8Array([1, 255])).dtype).toBe('uint8');
    const t = tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2], dtype: 'float64' });
    expect(t.dtype).toBe('float64');
    expect(t.dataSync()).toBeInstanceOf(Float64Array);
    expect(tensor(new Float32Array([1, -2]), { dtype: 'int64' }).dataSync()).toEqual(new BigInt64Array([1n, -2n]));
  });

  it('stores float16 and bfloat16 and reads them back as float32', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const t = tensor([0.5, -2, 3.25], { dtype });
      expect(t.dtype).toBe(dtype);
      expect(t.dataSync()).toEqual(new Float32Array([0.5, -2, 3.25]));
    }
  });

  it('makes filled, random and ranged tensors', () => {
    expect(values(zeros([2, 2]))).toEqual([0, 0, 0, 0]);
    expect(values(ones([3], { dtype: 'int32' }))).toEqual([1, 1, 1]);
    expect(values(full([2], 7.5))).toEqual([7.5, 7.5]);
    expect(values(arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(values(arange(1, 2, 0.25, { dtype: 'float32' }))).toEqual([1, 1.25, 1.5, 1.75]);
    const u = values(rand([1000]));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = randn([20000]);
    expect(Math.abs(n.mean().item())).toBeLessThan(0.05);
    expect(Math.abs(n.pow(2).mean().item() - 1)).toBeLessThan(0.05);
  });

  it('is reproducible under manualSeed', () => {
    manualSeed(123);
    const a = values(randn([8]));
    manualSeed(123);
    expect(values(randn([8]))).toEqual(a);
  });
});

describe('math against a float64 reference', () => {
  const a = [1.5, -2, 3, 0.25, 5, -6];
  const b = [2, 4, -1, 8, 0.5, 3];
  const ta = () => tensor(a, { shape: [2, 3], dtype: 'float64' });
  const tb = () => tensor(b, { shape: [2, 3], dtype: 'float64' });

  it('does element-wise ops with tensors and scalars', () => {
    expect(values(ta().add(tb()))).toEqual(a.map((x, i) => x + b[i]));
    expect(values(ta().sub(tb()))).toEqual(a.map((x, i) => x - b[i]));
    expect(values(ta().mul(tb()))).toEqual(a.map((x, i) => x * b[i]));
    expect(values(ta().div(tb()))).toEqual(a.map((x, i) => x / b[i]));
    expect(values(ta().mul(2).add(1))).toEqual(a.map((x) => x * 2 + 1));
    expect(values(ta().neg())).toEqual(a.map((x) => -x));
    expect(values(ta().abs().sqrt())).toEqual(a.map((x) => Math.sqrt(Math.abs(x))));
    expect(values(ta().pow(2))).toEqual(a.map((x) => x * x));
    expect(values(ta().clamp(-1, 2))).toEqual(a.map((x) => Math.min(2, Math.max(-1, x))));
    expect(values(ta().relu())).toEqual(a.map((x) => Math.max(0, x)));
  });

  it('broadcasts a row over a matrix', () => {
    const row = tensor([10, 20, 30], { dtype: 'float64' });
    expect(values(ta().add(row))).toEqual(a.map((x, i) => x + [10, 20, 30][i % 3]));
  });

  it('reduces over dimensions', () => {
    expect(ta().sum().item()).toBeCloseTo(a.reduce((s, x) => s + x, 0), 12);
    expect(values(ta().sum(0))).toEqual([a[0] + a[3], a[1] + a[4], a[2] + a[5]]);
    expect(values(ta().mean(1))).toEqual([(a[0] + a[1] + a[2]) / 3, (a[3] + a[4] + a[5]) / 3]);
    expect(ta().sum(1, true).shape).toEqual([2, 1]);
    expect(values(ta().argmax(1))).toEqual([2, 4].map((i) => i % 3));
  });

  it('normalises rows to unit length', () => {
    const n = values(ta().normalize(1));
    for (const row of [0, 1]) {
      const r = a.slice(row * 3, row * 3 + 3);
      const norm = Math.hypot(...r);
      r.forEach((x, i) => expect(n[row * 3 + i]).toBeCloseTo(x / norm, 12));
    }
  });

  it('multiplies matrices on the executor', async () => {
    const left = tensor(a, { shape: [2, 3], dtype: 'float64' });
    const right = tensor(b, { shape: [3, 2], dtype: 'float64' });
    const product = await left.matmul(right);
    expect(product.shape).toEqual([2, 2]);
    const expected = [0, 1].flatMap((i) =>
      [0, 1].map((j) => [0, 1, 2].reduce((s, k) => s + a[i * 3 + k] * b[k * 2 + j], 0)),
    );
    expect(Array.from(await product.data())).toEqual(expected);
  });

  it('modifies in place', () => {
    const t = ta();
    const same = t.add_(1).mul_(2);
    expect(same).toBe(t);
    expect(values(t)).toEqual(a.map((x) => (x + 1) * 2));
    t.zero_();
    expect(values(t)).toEqual([0, 0, 0, 0, 0, 0]);
    t.copy_(tb());
    expect(values(t)).toEqual(b);
  });
});

describe('shapes and views', () => {
  it('views, reshapes, permutes and slices', () => {
    const t = arange(24, undefined, 1, { dtype: 'float32' }).view(2, 3, 4);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.reshape(4, -1).shape).toEqual([4, 6]);
    const p = t.permute(2, 0, 1);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.isContiguous()).toBe(false);
    expect(values(p.contiguous()).slice(0, 3)).toEqual([0, 4, 8]);
    expect(values(t.index(1).index(2))).toEqual([20, 21, 22, 23]);
    expect(values(t.select(2, -1).flatten())).toEqual([3, 7, 11, 15, 19, 23]);
    expect(values(t.slice(2, 1, 3).index(0).index(0))).toEqual([1, 2]);
    expect(values(t.indexSelect(1, tensor([2, 0], { dtype: 'int64' })).index(0).select(1, 0))).toEqual([8, 0]);
    expect(t.unsqueeze(0).shape).toEqual([1, 2, 3, 4]);
    expect(t.unsqueeze(0).squeeze(0).shape).toEqual([2, 3, 4]);
    expect(t.transpose(0, 2).shape).toEqual([4, 3, 2]);
  });

  it('concatenates, stacks and chunks', () => {
    const x = tensor([
      [1, 2],
      [3, 4],
    ]);
    expect(cat([x, x], 0).shape).toEqual([4, 2]);
    expect(cat([x, x], 1).shape).toEqual([2, 4]);
    expect(stack([x, x], 0).shape).toEqual([2, 2, 2]);
    const [first, second] = cat([x, x.mul(10)], 0).chunk(2, 0);
    expect(values(first)).toEqual([1, 2, 3, 4]);
    expect(values(second)).toEqual([10, 20, 30, 40]);
  });

  it('converts to channels-last and keeps the values', () => {
    const t = randn([2, 3, 4, 5]);
    const cl = t.channelsLast();
    expect(cl.isChannelsLast()).toBe(true);
    expect(cl.shape).toEqual([2, 3, 4, 5]);
    expect(values(cl)).toEqual(values(t));
  });

  it('clones into new memory and detaches sharing memory', () => {
    const t = tensor([1, 2, 3]);
    const c = t.clone();
    const d = t.detach();
    t.fill_(9);
    expect(values(c)).toEqual([1, 2, 3]);
    expect(values(d)).toEqual([9, 9, 9]);
  });

  it('gives host copies that do not alias the tensor', async () => {
    const t = tensor([1, 2, 3]);
    const host = t.dataSync();
    host[0] = 100;
    expect(values(t)).toEqual([1, 2, 3]);
    const asyncHost = await t.data();
    asyncHost[1] = 100;
    expect(values(t)).toEqual([1, 2, 3]);
  });
});

describe('autograd', () => {
  it('computes the gradient of sum(x^2) as 2x', async () => {
    const x = tensor([1, -2, 3], { requiresGrad: true });
    expect(x.grad).toBeNull();
    const loss = x.pow(2).sum();
    await loss.backward();
    expect(values(x.grad!)).toEqual([2, -4, 6]);
    await x.pow(2).sum().backward();
    expect(values(x.grad!)).toEqual([4, -8, 12]); // accumulates, as PyTorch
    x.zeroGrad();
    expect(values(x.grad!)).toEqual([0, 0, 0]);
  });

  it('backpropagates through matmul with an explicit gradient', async () => {
    const w = tensor([[1, 2], [3, 4]], { requiresGrad: true }); // prettier-ignore
    const x = tensor([[1], [1]]); // prettier-ignore
    const y = await w.matmul(x);
    await y.backward(ones([2, 1]));
    expect(values(w.grad!)).toEqual([1, 1, 1, 1]);
  });

  it('records no graph under noGrad, sync or async', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(noGrad(() => x.mul(2)).requiresGrad).toBe(false);
    const y = await noGrad(async () => {
      const r = await x.unsqueeze(0).matmul(x.unsqueeze(1));
      return r;
    });
    expect(y.requiresGrad).toBe(false);
    expect(x.mul(2).requiresGrad).toBe(true);
  });

  it('detach cuts the graph', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(x.mul(2).detach().requiresGrad).toBe(false);
  });
});

describe('jobs carry the thread-local settings', () => {
  it('uses all available cores by default', () => {
    expect(getNumThreads()).toBe(native.info().cores);
  });

  it('applies grad mode and thread count inside the job', async () => {
    expect(await native.jobSettings()).toEqual({ gradEnabled: true, numThreads: getNumThreads() });
    const seen = await noGrad(() => native.jobSettings());
    expect(seen.gradEnabled).toBe(false);
    native.setNumThreads(1);
    try {
      expect((await native.jobSettings()).numThreads).toBe(1);
    } finally {
      native.setNumThreads(native.info().cores);
    }
  });

  it('keeps program order between a job and later synchronous ops', async () => {
    const x = randn([300, 300]);
    const pending = x.matmul(x); // queued
    x.mul_(0); // waits for the matmul to have read x
    const product = await pending;
    expect(product.abs().sum().item()).toBeGreaterThan(0);
  });
});

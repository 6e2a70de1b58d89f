import { describe, expect, it } from 'vitest';
import { ema, manualSeed, randn, tensor, zeros, ones, Tensor, type DType } from '../lib/index.js';
import type { EmaModule } from '../lib/ema.js';

const values = (t: Tensor) => Array.from(t.dataSync(), Number);

// A stand-in for an nn module: parameters and buffers in a fixed order (lib/nn's modules have the same shape).
class FakeNet implements EmaModule {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly batches: Tensor;
  constructor(seed: number, requiresGrad = true) {
    manualSeed(seed);
    this.weight = randn([16, 8]).requiresGrad_(requiresGrad);
    this.bias = randn([16]).requiresGrad_(requiresGrad);
    this.runningMean = randn([16]);
    this.batches = tensor(new BigInt64Array([BigInt(seed)]));
  }
  parameters(): Tensor[] {
    return [this.weight, this.bias];
  }
  buffers(): Tensor[] {
    return [this.runningMean, this.batches];
  }
}

// tau·t + (1 − tau)·s in float64, and the largest deviation allowed for a dtype (two roundings).
function expectEma(result: Tensor, t0: number[], s0: number[], tau: number, dtype: DType): void {
  const u = dtype === 'float16' ? 2 ** -11 : dtype === 'bfloat16' ? 2 ** -8 : dtype === 'float64' ? 2 ** -53 : 2 ** -24;
  const r = values(result);
  expect(r.length).toBe(t0.length);
  for (let i = 0; i < r.length; i++) {
    const ref = tau * t0[i] + (1 - tau) * s0[i];
    const bound = 2 * u * (Math.abs(ref) + tau * Math.abs(t0[i]) + (1 - tau) * Math.abs(s0[i])) + 2 ** -24;
    if (Math.abs(r[i] - ref) > bound) {
      throw new Error(`${dtype} element ${i}: ${r[i]} is not within ${bound} of the reference ${ref}`);
    }
  }
}

describe('ema.update on tensor lists', () => {
  it('matches a float64 reference for every dtype and odd sizes, in one call', async () => {
    manualSeed(11);
    const dtypes: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
    const sizes = [1, 3, 1023, 70001];
    const targets: Tensor[] = [];
    const sources: Tensor[] = [];
    for (const dtype of dtypes) {
      for (const n of sizes) {
        targets.push(randn([n]).to(dtype));
        sources.push(randn([n]).to(dtype));
      }
    }
    const t0 = targets.map(values);
    const s0 = sources.map(values);
    const pending = ema.update(targets, sources, 0.97);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    targets.forEach((t, i) => expectEma(t, t0[i], s0[i], 0.97, t.dtype));
    sources.forEach((s, i) => expect(values(s)).toEqual(s0[i]));
  });

  it('handles non-contiguous and offset views', async () => {
    manualSeed(12);
    const base = randn([40, 30]);
    const target = base.transpose(0, 1); // [30, 40], not contiguous
    const source = randn([30, 40]);
    const offsetTarget = randn([1001]).slice(0, 1, 1001); // starts one element in
    const offsetSource = randn([1002]).slice(0, 2, 1002);
    const t0 = [values(target.contiguous()), values(offsetTarget.contiguous())];
    const s0 = [values(source), values(offsetSource.contiguous())];
    await ema.update([target, offsetTarget], [source, offsetSource], 0.5);
    expectEma(target.contiguous(), t0[0], s0[0], 0.5, 'float32');
    expectEma(offsetTarget.contiguous(), t0[1], s0[1], 0.5, 'float32');
  });

  it('copies exactly at tau 0 and keeps exactly at tau 1', async () => {
    const t = tensor([1e20, -3.5, 7e-30, 0.1]);
    const s = tensor([1, 2e15, -4, 0.3]);
    await ema.update([t], [s], 1);
    expect(values(t)).toEqual(values(tensor([1e20, -3.5, 7e-30, 0.1])));
    await ema.update([t], [s], 0);
    expect(values(t)).toEqual(values(s));
  });

  it('rejects bad input with a clear error and changes no target', async () => {
    const good = ones([4]);
    const other = zeros([4]);
    const cases: Array<[() => Promise<void>, RegExp]> = [
      [() => ema.update([good, ones([2, 3])], [other], 0.5), /sources: expected as many tensors as targets \(2\), received 1/],
      [() => ema.update([good, ones([2, 3])], [other, zeros([3, 2])], 0.5), /sources\[1\]: expected shape \[2, 3\] like targets\[1\], received \[3, 2\]/],
      [() => ema.update([good, ones([2])], [other, zeros([2], { dtype: 'float16' })], 0.5), /sources\[1\]: expected dtype float32 like targets\[1\], received float16/],
      [() => ema.update([good], [other], Number.NaN), /tau: expected a number in \[0, 1\], received nan/],
      [() => ema.update([good], [other], 1.5), /tau: expected a number in \[0, 1\], received 1.5/],
      [() => ema.update([good], [other], -0.01), /tau: expected a number in \[0, 1\], received -0.01/],
      [() => ema.update([good, ones([2], { dtype: 'int64' })], [other, zeros([2], { dtype: 'int64' })], 0.5), /targets\[1\]: expected a floating-point dtype/],
    ];
    for (const [call, message] of cases) {
      await expect(call()).rejects.toThrow(message);
      expect(values(good)).toEqual([1, 1, 1, 1]);
    }
    await expect(ema.update([good], [other], 0.5)).resolves.toBeUndefined();
    expect(values(good)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });
});

describe('ema.update on modules', () => {
  it('averages parameters only by default and leaves targets without grad', async () => {
    const target = new FakeNet(1);
    const online = new FakeNet(2);
    const w0 = values(target.weight);
    const mean0 = values(target.runningMean);
    await ema.update(target, online, 0.9);
    expectEma(target.weight, w0, values(online.weight), 0.9, 'float32');
    expect(values(target.runningMean)).toEqual(mean0);
    expect(target.weight.requiresGrad).toBe(false);
    expect(target.bias.requiresGrad).toBe(false);
    expect(online.weight.requiresGrad).toBe(true);
  });

  it('copies buffers (BatchNorm statistics) when asked', async () => {
    const target = new FakeNet(3);
    const online = new FakeNet(4);
    await ema.update(target, online, 0.99, { copyBuffers: true });
    expect(values(target.runningMean)).toEqual(values(online.runningMean));
    expect(values(target.batches)).toEqual([4]);
  });

  it('rejects networks of different structure and mixed arguments', async () => {
    const target = new FakeNet(5);
    const w0 = values(target.weight);
    const smaller: EmaModule = { parameters: () => [randn([16, 8])] };
    await expect(ema.update(target, smaller, 0.5)).rejects.toThrow(/target network has 2 parameters and the online network 1/);
    await expect(ema.update(target, [target.weight], 0.5)).rejects.toThrow(/expected two modules or two tensor lists/);
    await expect(ema.update([target.weight], [randn([16, 8])], 0.5, { copyBuffers: true })).rejects.toThrow(
      /copyBuffers needs modules/,
    );
    const online = new FakeNet(6);
    const badBuffers: EmaModule = { parameters: () => online.parameters(), buffers: () => [randn([3]), online.batches] };
    await expect(ema.update(target, badBuffers, 0.5, { copyBuffers: true })).rejects.toThrow(
      /bufferSources\[0\]: expected shape \[16\] like bufferTargets\[0\], received \[3\]/,
    );
    expect(values(target.weight)).toEqual(w0);
  });
});

describe('tau schedules', () => {
  it('follows the paper: base at step 0, 1 at the last step, cosine between', () => {
    expect(ema.cosineTau(0, 1000, 0.996)).toBeCloseTo(0.996, 15);
    expect(ema.cosineTau(1000, 1000, 0.996)).toBe(1);
    expect(ema.cosineTau(500, 1000, 0.996)).toBeCloseTo(0.998, 15);
    expect(ema.cosineTau(250, 1000, 0.99)).toBeCloseTo(1 - (0.01 * (Math.cos(Math.PI / 4) + 1)) / 2, 15);
    let previous = 0;
    for (let k = 0; k <= 100; k++) {
      const tau = ema.cosineTau(k, 100, 0.97);
      expect(tau).toBeGreaterThanOrEqual(previous);
      previous = tau;
    }
    const schedule = ema.cosineSchedule(10, 0.99);
    expect(schedule(0)).toBeCloseTo(0.99, 15);
    expect(schedule(10)).toBe(1);
    expect(ema.constantSchedule()(12345)).toBe(0.99);
    expect(ema.constantSchedule(0.5)(0)).toBe(0.5);
  });

  it('rejects steps and bases outside their ranges', () => {
    expect(() => ema.cosineTau(-1, 10)).toThrow(/step: expected a number in \[0, 10\]/);
    expect(() => ema.cosineTau(11, 10)).toThrow(/step: expected a number in \[0, 10\]/);
    expect(() => ema.cosineTau(Number.NaN, 10)).toThrow(RangeError);
    expect(() => ema.cosineTau(1, 0)).toThrow(/totalSteps: expected a positive number/);
    expect(() => ema.cosineTau(1, 10, 1.2)).toThrow(/base: expected a number in \[0, 1\]/);
    expect(() => ema.constantSchedule(Number.NaN)).toThrow(/tau: expected a number in \[0, 1\]/);
  });
});

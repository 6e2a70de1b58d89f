// Every bad input gets a JS error that names the argument, the expected and the received value.
import { describe, expect, it } from 'vitest';
import { cat, cuda, full, ones, randn, setNumThreads, tensor, zeros, type DType, type Device } from '../lib/index.js';

describe('bad input', () => {
  it('data length not matching the shape', () => {
    expect(() => tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(
      new RangeError('data: expected 6 values for shape [2, 3], received 5'),
    );
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow(
      new RangeError('shape: expected 3 elements like the data, received [2, 2]'),
    );
    expect(() => tensor([[1, 2], [3]])).toThrow(
      new RangeError('data: expected a rectangular nested array with 2 entries at [1], received 1 entries'),
    );
  });

  it('an unknown dtype', () => {
    expect(() => zeros([2], { dtype: 'float8' as DType })).toThrow(
      new TypeError("dtype: expected one of float32, float64, int32, int64, uint8, bool, float16, bfloat16, received 'float8'"),
    );
  });

  it('an unknown device', () => {
    expect(() => zeros([2], { device: 'tpu' as Device })).toThrow(
      new TypeError("device: expected 'cpu', 'cuda' or 'cuda:N', received 'tpu'"),
    );
  });

  it('CUDA asked for where there is none', () => {
    if (cuda.isAvailable()) return; // covered by the GPU run
    expect(() => zeros([2], { device: 'cuda' })).toThrow(RangeError);
    expect(() => zeros([2], { device: 'cuda' })).toThrow(/device: 'cuda' was asked for, but no CUDA device is available/);
    expect(() => tensor([1]).to('cuda:0')).toThrow(/no CUDA device is available/);
  });

  it('a disposed tensor', async () => {
    const t = tensor([1, 2]);
    t.dispose();
    t.dispose(); // idempotent
    expect(t.isDisposed).toBe(true);
    expect(() => t.add(1)).toThrow(new TypeError('add: the tensor was disposed; it cannot be used any more'));
    expect(() => t.shape).toThrow(new TypeError('shape: the tensor was disposed; it cannot be used any more'));
    expect(() => tensor([1]).add(t)).toThrow(new TypeError('other: the tensor was disposed; it cannot be used any more'));
    await expect(t.data()).rejects.toThrow('data: the tensor was disposed');
    expect(String(t)).toBe('Tensor(disposed)');
  });

  it('mismatched shapes', async () => {
    expect(() => ones([2, 3]).add(ones([2]))).toThrow(
      new RangeError('add: other: expected a shape that broadcasts with [2, 3], received [2]'),
    );
    await expect(ones([2, 3]).matmul(ones([4, 2]))).rejects.toThrow(
      new RangeError('matmul: other: expected 3 rows to match the last dimension of [2, 3], received shape [4, 2]'),
    );
    expect(() => ones([2, 3]).view(4, 2)).toThrow(
      new RangeError('view: shape: expected 6 elements like [2, 3], received [4, 2] (8 elements)'),
    );
    expect(() => cat([ones([2, 3]), ones([2, 4])], 0)).toThrow(
      /cat: tensors: expected shapes matching \[2, 3\] except in dim0, received \[2, 4\] at index 1/,
    );
    expect(() => ones([2, 3]).sum(2)).toThrow(new RangeError('sum: dim: expected a value in [-2, 1], received 2'));
    expect(() => ones([2, 3]).permute(0, 0)).toThrow(
      new RangeError('permute: dims: expected each dimension once, received [0, 0]'),
    );
  });

  it('backward on a non-scalar', async () => {
    const x = randn([3], { dtype: 'float32' }).requiresGrad_();
    await expect(x.mul(2).backward()).rejects.toThrow(
      new RangeError('backward: expected a tensor with one element, received shape [3]; reduce it first (e.g. mean()) or pass a gradient'),
    );
    await expect(ones([1]).backward()).rejects.toThrow(/backward: the tensor does not require grad/);
  });

  it('a non-finite or negative shape', () => {
    expect(() => zeros([Number.NaN])).toThrow(new RangeError('shape: expected non-negative integers, received nan at index 0'));
    expect(() => zeros([2, Infinity])).toThrow(new RangeError('shape: expected non-negative integers, received inf at index 1'));
    expect(() => zeros([-1])).toThrow(new RangeError('shape: expected non-negative integers, received -1 at index 0'));
    expect(() => full([2.5], 1)).toThrow(new RangeError('shape: expected non-negative integers, received 2.5 at index 0'));
    expect(() => zeros('3' as unknown as number[])).toThrow(
      new TypeError("shape: expected an array of non-negative integers, received the string '3'"),
    );
  });

  it('wrong argument types', () => {
    expect(() => ones([2]).add('x' as unknown as number)).toThrow(new TypeError('other: expected a Tensor or a number, received string x'));
    expect(() => setNumThreads(0)).toThrow(new RangeError('threads: expected an integer in [1, 1024], received 0'));
    expect(() => tensor(['a'] as unknown as number[])).toThrow(
      new TypeError('data: expected numbers or booleans, received string a at [0]'),
    );
    expect(() => tensor(new Int16Array(2) as unknown as Float32Array)).toThrow(
      new TypeError('data: expected a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array'),
    );
  });

  it('errors from LibTorch itself arrive without a C++ backtrace', () => {
    const leaf = ones([2]).requiresGrad_();
    let message = '';
    try {
      leaf.add_(1);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/leaf Variable that requires grad/);
    expect(message).not.toMatch(/frame #/);
  });
});

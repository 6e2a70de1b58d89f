// The Tensor API: a typed wrapper over one native tensor handle (native/binding/tensor.cc).
//
// Async contract (the same for every module of byol-torch): heavy work runs on the native executor, off the
// JS thread, and returns a Promise: copy-out of data (`data()`), `matmul`, `backward`, and later forward
// passes, optimizer steps, EMA and augmentation. Jobs run one after another in the order they were started.
// Synchronous operations (element-wise math, views, `dataSync`, `item`) first wait until every pending job has
// run, so JS never reads or writes a tensor a job is still using. Grad mode (`noGrad`) and the thread count
// are captured when a job starts and applied on the worker that runs it.
import { native, type DType, type Device, type HostArray, type NativeTensor, type UnaryOp } from './native.js';
import { track } from './scope.js';

export type { DType, Device, HostArray } from './native.js';

/** Nested arrays of numbers (or booleans), as `torch.tensor` takes them. */
export type NestedArray = number | boolean | readonly NestedArray[];

export interface CreateOptions {
  /** Default: float32 for numbers, bool for booleans, the typed array's own type for typed arrays. */
  dtype?: DType;
  /** Default: 'cpu'. */
  device?: Device;
}

export interface TensorOptions extends CreateOptions {
  /** The shape; required for typed arrays of more than one dimension, inferred for nested arrays. */
  shape?: readonly number[];
  /** Track gradients for this (leaf) tensor. Default false. */
  requiresGrad?: boolean;
}

export class Tensor implements Disposable {
  /** @internal The native handle; other byol-torch modules pass it to the addon. */
  readonly handle: NativeTensor;

  /** @internal Use `tensor()`, `zeros()`, ... to create tensors. */
  constructor(handle: NativeTensor) {
    this.handle = handle;
    track(this);
  }

  // --- metadata ----------------------------------------------------------------------------------------
  get shape(): number[] {
    return this.handle.shape();
  }
  get ndim(): number {
    return this.handle.shape().length;
  }
  get dtype(): DType {
    return this.handle.dtype();
  }
  get device(): string {
    return this.handle.device();
  }
  get numel(): number {
    return this.handle.numel();
  }
  get isDisposed(): boolean {
    return this.handle.isDisposed();
  }
  isContiguous(): boolean {
    return this.handle.isContiguous();
  }
  isChannelsLast(): boolean {
    return this.handle.isChannelsLast();
  }

  // --- autograd ----------------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return this.handle.requiresGrad();
  }
  set requiresGrad(flag: boolean) {
    this.handle.setRequiresGrad(flag);
  }
  /** Sets requiresGrad and returns this tensor, for chaining. */
  requiresGrad_(flag = true): this {
    this.handle.setRequiresGrad(flag);
    return this;
  }
  /** The accumulated gradient (a new handle on the same memory), or null before any backward. */
  get grad(): Tensor | null {
    const g = this.handle.grad();
    return g ? new Tensor(g) : null;
  }
  /** Zeroes the accumulated gradient in place. */
  zeroGrad(): this {
    this.handle.zeroGrad();
    return this;
  }
  /** Backpropagates from this scalar (or with `gradient` of the same shape). Runs as a job. */
  async backward(gradient?: Tensor): Promise<void> {
    await this.handle.backward(gradient?.handle);
  }

  // --- conversion --------------------------------------------------------------------------------------
  /** A copy on `device`, or converted to `dtype` ('cpu'/'cuda...' are devices, the rest dtypes). */
  to(target: Device | DType): Tensor {
    return target === 'cpu' || target.startsWith('cuda')
      ? new Tensor(this.handle.toDevice(target))
      : new Tensor(this.handle.toDtype(target));
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  /**
   * A tensor in pinned (page-locked) host memory, which a copy to a CUDA device reads without waiting: a copy,
   * or the same storage when already pinned or when there is no GPU (a CPU build, or none present). `to('cuda')`
   * and the learner's step pin what they copy anyway: pin ahead of time to take that copy off the step.
   */
  pin(): Tensor {
    return new Tensor(this.handle.pin());
  }
  /** Whether it lives in pinned host memory. */
  get isPinned(): boolean {
    return this.handle.isPinned();
  }
  contiguous(): Tensor {
    return new Tensor(this.handle.contiguous());
  }
  /** NCHW values in NHWC memory order (faster convolutions on CPU with oneDNN). */
  channelsLast(): Tensor {
    return new Tensor(this.handle.channelsLast());
  }
  /** A host copy of the values, made on the executor. float16/bfloat16 read as float32, bool as uint8. */
  async data(): Promise<HostArray> {
    return this.handle.data();
  }
  /** Like data(), on the JS thread: for small tensors. */
  dataSync(): HostArray {
    return this.handle.dataSync();
  }
  /** The value of a one-element tensor. */
  item(): number {
    return this.handle.item();
  }
  /** The values as plain numbers (int64 values beyond 2^53 lose precision). */
  async toArray(): Promise<number[]> {
    return Array.from(await this.data(), Number);
  }

  // --- element-wise math -------------------------------------------------------------------------------
  add(other: Tensor | number): Tensor {
    return this.binary('add', other);
  }
  sub(other: Tensor | number): Tensor {
    return this.binary('sub', other);
  }
  mul(other: Tensor | number): Tensor {
    return this.binary('mul', other);
  }
  div(other: Tensor | number): Tensor {
    return this.binary('div', other);
  }
  pow(exponent: Tensor | number): Tensor {
    return this.binary('pow', exponent);
  }
  add_(other: Tensor | number): this {
    return this.binaryInPlace('add', other);
  }
  sub_(other: Tensor | number): this {
    return this.binaryInPlace('sub', other);
  }
  mul_(other: Tensor | number): this {
    return this.binaryInPlace('mul', other);
  }
  div_(other: Tensor | number): this {
    return this.binaryInPlace('div', other);
  }
  pow_(exponent: Tensor | number): this {
    return this.binaryInPlace('pow', exponent);
  }
  neg(): Tensor {
    return this.unary('neg');
  }
  sqrt(): Tensor {
    return this.unary('sqrt');
  }
  exp(): Tensor {
    return this.unary('exp');
  }
  log(): Tensor {
    return this.unary('log');
  }
  abs(): Tensor {
    return this.unary('abs');
  }
  relu(): Tensor {
    return this.unary('relu');
  }
  sigmoid(): Tensor {
    return this.unary('sigmoid');
  }
  tanh(): Tensor {
    return this.unary('tanh');
  }
  neg_(): this {
    this.handle.unary('neg', true);
    return this;
  }
  sqrt_(): this {
    this.handle.unary('sqrt', true);
    return this;
  }
  clamp(min?: number, max?: number): Tensor {
    return new Tensor(this.handle.clamp(min, max, false));
  }
  clamp_(min?: number, max?: number): this {
    this.handle.clamp(min, max, true);
    return this;
  }

  // --- reductions --------------------------------------------------------------------------------------
  /** Sum over `dims` (all when omitted). */
  sum(dims?: number | readonly number[], keepDim = false): Tensor {
    return new Tensor(this.handle.reduce('sum', asDims(dims), keepDim));
  }
  /** Mean over `dims` (all when omitted). */
  mean(dims?: number | readonly number[], keepDim = false): Tensor {
    return new Tensor(this.handle.reduce('mean', asDims(dims), keepDim));
  }
  /** Lp-normalises along `dim`: x / max(|x|_p, eps), as torch.nn.functional.normalize. */
  normalize(dim = 1, p = 2, eps = 1e-12): Tensor {
    return new Tensor(this.handle.normalize(p, dim, eps));
  }
  argmax(dim: number, keepDim = false): Tensor {
    return new Tensor(this.handle.argmax(dim, keepDim));
  }
  /** Matrix product (torch.matmul semantics). Runs as a job. */
  async matmul(other: Tensor): Promise<Tensor> {
    return new Tensor(await this.handle.matmul(operandTensor(other, 'other')));
  }

  // --- shape -------------------------------------------------------------------------------------------
  view(...shape: number[]): Tensor {
    return new Tensor(this.handle.view(shape));
  }
  reshape(...shape: number[]): Tensor {
    return new Tensor(this.handle.reshape(shape));
  }
  permute(...dims: number[]): Tensor {
    return new Tensor(this.handle.permute(dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(this.handle.transpose(dim0, dim1));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(this.handle.flatten(startDim, endDim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(this.handle.unsqueeze(dim));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(this.handle.squeeze(dim));
  }
  /** Splits into `chunks` parts along `dim` (views). */
  chunk(chunks: number, dim = 0): Tensor[] {
    return this.handle.chunk(chunks, dim).map((h) => new Tensor(h));
  }
  /** The sub-tensor at `index` along dim 0 (negative counts from the end). */
  index(index: number): Tensor {
    return this.select(0, index);
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(this.handle.select(dim, index));
  }
  /** Elements start ≤ i < end (step apart) along `dim`, as a view; negative bounds count from the end. */
  slice(dim: number, start = 0, end = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return new Tensor(this.handle.slice(dim, start, end, step));
  }
  /** Gathers the entries of `index` (an int64/int32 1-d tensor) along `dim`. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(this.handle.indexSelect(dim, index.handle));
  }
  clone(): Tensor {
    return new Tensor(this.handle.clone());
  }
  /** Same memory, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(this.handle.detach());
  }
  /** Copies `source` (broadcast) into this tensor. */
  copy_(source: Tensor): this {
    this.handle.copyFrom(source.handle);
    return this;
  }
  fill_(value: number): this {
    this.handle.fill(value);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }

  // --- lifetime ----------------------------------------------------------------------------------------
  /** Frees the native memory now (a job still using it keeps it until the job ends). Idempotent. */
  dispose(): void {
    this.handle.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  toString(): string {
    return this.isDisposed
      ? 'Tensor(disposed)'
      : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  private binary(op: 'add' | 'sub' | 'mul' | 'div' | 'pow', other: Tensor | number): Tensor {
    return new Tensor(this.handle.binary(op, operand(other), false));
  }
  private binaryInPlace(op: 'add' | 'sub' | 'mul' | 'div' | 'pow', other: Tensor | number): this {
    this.handle.binary(op, operand(other), true);
    return this;
  }
  private unary(op: UnaryOp): Tensor {
    return new Tensor(this.handle.unary(op, false));
  }
}

function operand(other: Tensor | number): NativeTensor | number {
  if (other instanceof Tensor) return other.handle;
  if (typeof other === 'number') return other;
  throw new TypeError(`other: expected a Tensor or a number, received ${describe(other)}`);
}

function operandTensor(value: Tensor, name: string): NativeTensor {
  if (value instanceof Tensor) return value.handle;
  throw new TypeError(`${name}: expected a Tensor, received ${describe(value)}`);
}

/** Shapes pass through as given when they are not arrays, so the native check names what was received. */
function asShape(shape: readonly number[]): number[] {
  return Array.isArray(shape) ? [...shape] : (shape as unknown as number[]);
}

function asDims(dims: number | readonly number[] | undefined): number[] | undefined {
  return dims === undefined ? undefined : typeof dims === 'number' ? [dims] : [...dims];
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return `${typeof value} ${String(value)}`;
}

// --- creation ----------------------------------------------------------------------------------------------

const hostDtype = (data: HostArray): DType =>
  data instanceof Float32Array
    ? 'float32'
    : data instanceof Float64Array
      ? 'float64'
      : data instanceof Int32Array
        ? 'int32'
        : data instanceof BigInt64Array
          ? 'int64'
          : 'uint8';

/** Infers the shape of rectangular nested arrays and flattens them. */
function flattenNested(data: NestedArray): { shape: number[]; values: number[]; boolean: boolean } {
  const shape: number[] = [];
  for (let level: NestedArray = data; Array.isArray(level); level = (level as readonly NestedArray[])[0]) {
    shape.push((level as readonly NestedArray[]).length);
    if ((level as readonly NestedArray[]).length === 0) break;
  }
  const values: number[] = [];
  let sawBoolean = false;
  const walk = (node: NestedArray, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof node === 'boolean') sawBoolean = true;
      else if (typeof node !== 'number')
        throw new TypeError(`data: expected numbers or booleans, received ${describe(node)} at ${path || 'the top'}`);
      values.push(Number(node));
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new RangeError(
        `data: expected a rectangular nested array with ${shape[depth]} entries at ${path || 'the top'}, ` +
          `received ${Array.isArray(node) ? `${node.length} entries` : describe(node)}`,
      );
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return { shape, values, boolean: sawBoolean };
}

/**
 * A tensor from a typed array (with `shape`, default 1-d) or nested arrays of numbers (shape inferred).
 * `dtype` converts; typed arrays keep their own type by default, numbers become float32.
 */
export function tensor(data: HostArray | NestedArray, options: TensorOptions = {}): Tensor {
  let handle: NativeTensor;
  if (ArrayBuffer.isView(data)) {
    const shape = options.shape ? [...options.shape] : [data.length];
    handle = native.fromData(data as HostArray, shape, options.dtype ?? hostDtype(data as HostArray));
  } else {
    const { shape, values, boolean } = flattenNested(data);
    if (options.shape) {
      const expected = options.shape.reduce((a, b) => a * b, 1);
      if (expected !== values.length)
        throw new RangeError(
          `shape: expected ${values.length} elements like the data, received [${options.shape.join(', ')}]`,
        );
    }
    const dtype = options.dtype ?? (boolean ? 'bool' : 'float32');
    handle = native.fromData(new Float64Array(values), options.shape ? [...options.shape] : shape, dtype);
  }
  let out = new Tensor(handle);
  if (options.device && options.device !== 'cpu') {
    const moved = out.to(options.device);
    out.dispose();
    out = moved;
  }
  if (options.requiresGrad) out.requiresGrad = true;
  return out;
}

const dtypeOf = (options: CreateOptions) => options.dtype ?? 'float32';
const deviceOf = (options: CreateOptions) => options.device ?? 'cpu';

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  return new Tensor(native.full(asShape(shape), value, dtypeOf(options), deviceOf(options)));
}
export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}
export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}
/** Uniform in [0, 1). */
export function rand(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.random('rand', asShape(shape), dtypeOf(options), deviceOf(options)));
}
/** Standard normal. */
export function randn(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.random('randn', asShape(shape), dtypeOf(options), deviceOf(options)));
}
/** start, start + step, ... below end; `arange(n)` counts 0..n-1. Default dtype int64. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  return new Tensor(native.arange(from, to, step, options.dtype ?? 'int64', deviceOf(options)));
}
/** Concatenates along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(handles(tensors), dim, false));
}
/** Stacks along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(handles(tensors), dim, true));
}
/** Seeds LibTorch's default generators (CPU and CUDA). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

function handles(tensors: readonly Tensor[]): NativeTensor[] {
  if (!Array.isArray(tensors)) throw new TypeError(`tensors: expected an array of tensors, received ${describe(tensors)}`);
  return tensors.map((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`tensors: expected a Tensor at index ${i}, received ${describe(t)}`);
    return t.handle;
  });
}

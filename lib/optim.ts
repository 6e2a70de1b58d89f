// Optimizers over native code (native/core/optim.*): SGD, Adam, AdamW and the BYOL paper's LARS.
//
// Each step updates every parameter in ONE native job on the executor (no per-parameter JS loop); the state
// (momentum buffers, Adam moments, step counts) lives natively and comes out as named tensors for checkpoints.
// The exact update rules are documented in native/core/optim.h; SGD, Adam and AdamW follow torch.optim.
//
// The loop PyTorch users know:
//   const opt = new Adam(learner.parameters(), { lr: 3e-4 });
//   opt.zeroGrad(); await loss.backward(); await opt.step();
// Gradient accumulation has one path: `learner.step(images, opt, { accumulate: k })` (native/core/learner.h).
import { native, type NativeOptimizer, type NativeOptimizerOptions, type OptimizerKind } from './native.js';
import { Tensor, describe } from './tensor.js';

export type { OptimizerKind } from './native.js';

/** Named parameters, as a module's `namedParameters()` gives them. */
export type NamedParameters = ReadonlyArray<readonly [string, Tensor]>;
/** Plain or named parameter tensors (leaf tensors with requiresGrad). */
export type Parameters = readonly Tensor[] | NamedParameters;

/**
 * Chooses parameters that are excluded from weight decay (every optimizer) and from the LARS trust-ratio
 * adaptation. `name` is the parameter's name, or its index as a string for plain tensor lists.
 */
export type ExcludeFn = (name: string, tensor: Tensor) => boolean;

/** What `stateDict()` returns and `loadStateDict()` takes: plain metadata plus named tensors. */
export interface OptimizerStateDict {
  kind: OptimizerKind;
  /** The learning rate of the next step when saved. */
  lr: number;
  /** step() calls so far. */
  steps: number;
  /**
   * Copies of the native state: "steps", "<i>.step" (updates of parameter i), "<i>.momentum_buffer"
   * (SGD, LARS), "<i>.exp_avg" and "<i>.exp_avg_sq" (Adam, AdamW). Buffers not yet created are absent.
   */
  tensors: Record<string, Tensor>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** The parameters, in the order of the state's indices. */
  readonly params: readonly Tensor[];
  /** The learning rate used by the next step(); set it from a schedule before each step. */
  lr: number;
  /** step() calls so far (waits for pending jobs). */
  readonly steps: number;
  /** Updates every parameter that has a gradient (others are skipped, as in PyTorch). Runs as one job. */
  step(): Promise<void>;
  /** Zeroes the gradients in place (default), or drops them with `setToNone`. Waits for pending jobs. */
  zeroGrad(options?: { setToNone?: boolean }): void;
  /**
   * torch.nn.utils.clip_grad_norm_: scales all gradients by maxNorm / (norm + 1e-6) when their global L2 norm
   * exceeds `maxNorm`. Resolves with the norm before clipping (a NaN/Inf norm leaves the gradients untouched).
   */
  clipGradNorm(maxNorm: number): Promise<number>;
  /** Multiplies every gradient by `factor` (gradient accumulation: 1/k after k micro-batches). */
  scaleGrads(factor: number): Promise<void>;
  stateDict(): OptimizerStateDict;
  /** Restores what stateDict() returned (same kind, same parameter shapes), including the lr. */
  loadStateDict(state: OptimizerStateDict): void;
}

/** Options every optimizer takes. */
export interface BaseOptions {
  /** Learning rate (>= 0). */
  lr: number;
  /** L2 penalty (>= 0). Default 0 (AdamW: 0.01, as torch.optim.AdamW). */
  weightDecay?: number;
  /** Parameters exempt from weight decay (and LARS adaptation). Default: none (LARS: 1-d tensors). */
  exclude?: ExcludeFn;
}

export interface SGDOptions extends BaseOptions {
  /** Default 0. */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
}

export interface AdamOptions extends Omit<BaseOptions, 'lr'> {
  /** Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator outside the square root. Default 1e-8. */
  eps?: number;
}

export interface LARSOptions extends BaseOptions {
  /** Default 0.9 (the BYOL paper). */
  momentum?: number;
  /** eta of the trust ratio eta * |w| / |g + wd*w|. Default 1e-3 (the BYOL paper). */
  trustCoefficient?: number;
}

/** LARS's default exclusion, as the BYOL paper: biases and BatchNorm weights/biases, i.e. tensors of rank <= 1. */
export const excludeBiasAndNorm: ExcludeFn = (_name, tensor) => tensor.ndim <= 1;

const noExclusion: ExcludeFn = () => false;

// Each optimizer's native object, for the learner's one-job step (not part of the public API).
const nativeOptimizers = new WeakMap<object, NativeOptimizer>();

/** The native optimizer behind one of this module's optimizers; undefined for anything else. */
export function nativeOptimizerOf(optimizer: unknown): NativeOptimizer | undefined {
  return typeof optimizer === 'object' && optimizer !== null ? nativeOptimizers.get(optimizer) : undefined;
}

abstract class NativeBackedOptimizer implements Optimizer {
  readonly params: readonly Tensor[];
  /** The names of the parameters (their indices as strings for plain lists). */
  readonly names: readonly string[];
  /** Which parameters are excluded from weight decay (and LARS adaptation). */
  readonly excluded: readonly boolean[];
  readonly #native: NativeOptimizer;
  readonly #className: string;

  protected constructor(
    readonly kind: OptimizerKind,
    className: string,
    params: Parameters,
    options: NativeOptimizerOptions,
    exclude: ExcludeFn,
  ) {
    const { tensors, names } = splitParameters(params, className);
    this.#className = className;
    this.params = tensors;
    this.names = names;
    this.excluded = tensors.map((t, i) => {
      const flag = exclude(names[i]!, t);
      if (typeof flag !== 'boolean')
        throw new TypeError(`${className}: exclude: expected a boolean for '${names[i]}', received ${describe(flag)}`);
      return flag;
    });
    this.#native = withPrefix(className, () =>
      new native.NativeOptimizer(
        kind,
        options,
        tensors.map((t) => t.handle),
        [...this.excluded],
      ),
    );
    nativeOptimizers.set(this, this.#native);
  }

  get lr(): number {
    return this.#native.lr();
  }
  set lr(value: number) {
    withPrefix(this.#className, () => this.#native.setLr(value));
  }
  get steps(): number {
    return this.#native.steps();
  }

  async step(): Promise<void> {
    await this.#native.step();
  }
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    this.#native.zeroGrad(options.setToNone ?? false);
  }
  async clipGradNorm(maxNorm: number): Promise<number> {
    return this.#native.clipGradNorm(maxNorm);
  }
  async scaleGrads(factor: number): Promise<void> {
    await this.#native.scaleGrads(factor);
  }

  stateDict(): OptimizerStateDict {
    const raw = this.#native.state();
    const tensors: Record<string, Tensor> = {};
    for (const [name, handle] of Object.entries(raw)) tensors[name] = new Tensor(handle);
    return { kind: this.kind, lr: this.lr, steps: tensors.steps!.item(), tensors };
  }

  loadStateDict(state: OptimizerStateDict): void {
    const className = this.#className;
    if (typeof state !== 'object' || state === null || typeof state.tensors !== 'object' || state.tensors === null)
      throw new TypeError(`${className}: state: expected what stateDict() returned, received ${describe(state)}`);
    if (state.kind !== this.kind)
      throw new RangeError(
        `${className}: state: expected the state of a '${this.kind}' optimizer, received one of '${String(state.kind)}'`,
      );
    const handles: Record<string, Tensor['handle']> = {};
    for (const [name, t] of Object.entries(state.tensors)) {
      if (!(t instanceof Tensor))
        throw new TypeError(`${className}: state.tensors['${name}']: expected a Tensor, received ${describe(t)}`);
      handles[name] = t.handle;
    }
    withPrefix(className, () => {
      if (state.lr !== undefined) this.#native.setLr(state.lr);
      this.#native.loadState(handles);
    });
  }
}

export class SGD extends NativeBackedOptimizer {
  constructor(params: Parameters, options: SGDOptions) {
    const o = checkOptions('SGD', options, ['lr', 'weightDecay', 'exclude', 'momentum', 'dampening', 'nesterov']);
    super('sgd', 'SGD', params, {
      lr: o.lr,
      weightDecay: o.weightDecay ?? 0,
      momentum: o.momentum ?? 0,
      dampening: o.dampening ?? 0,
      nesterov: o.nesterov ?? false,
    }, checkExclude('SGD', o.exclude) ?? noExclusion);
  }
}

export class Adam extends NativeBackedOptimizer {
  constructor(params: Parameters, options: AdamOptions = {}) {
    super('adam', 'Adam', params, adamOptions('Adam', options, 0), checkExclude('Adam', options.exclude) ?? noExclusion);
  }
}

/** Adam with decoupled weight decay: p *= 1 - lr * weightDecay before the Adam update (torch.optim.AdamW). */
export class AdamW extends NativeBackedOptimizer {
  constructor(params: Parameters, options: AdamOptions = {}) {
    super('adamw', 'AdamW', params, adamOptions('AdamW', options, 1e-2), checkExclude('AdamW', options.exclude) ?? noExclusion);
  }
}

/**
 * LARS as in BYOL (DeepMind's byol/utils/optimizers.py): u = g + wd*w; u *= eta*|w|/|u| (when both norms
 * are positive); m = momentum*m + u; w -= lr*m. Excluded parameters (default: rank <= 1, i.e. biases and
 * BatchNorm parameters) skip both the weight decay and the trust ratio, but keep the momentum.
 */
export class LARS extends NativeBackedOptimizer {
  constructor(params: Parameters, options: LARSOptions) {
    const o = checkOptions('LARS', options, ['lr', 'weightDecay', 'exclude', 'momentum', 'trustCoefficient']);
    super('lars', 'LARS', params, {
      lr: o.lr,
      weightDecay: o.weightDecay ?? 0,
      momentum: o.momentum ?? 0.9,
      trustCoefficient: o.trustCoefficient ?? 1e-3,
    }, checkExclude('LARS', o.exclude) ?? excludeBiasAndNorm);
  }
}

// --- helpers ---------------------------------------------------------------------------------------------------

function splitParameters(params: Parameters, className: string): { tensors: Tensor[]; names: string[] } {
  if (!Array.isArray(params))
    throw new TypeError(`${className}: params: expected an array of Tensors or [name, Tensor] pairs, received ${describe(params)}`);
  const tensors: Tensor[] = [];
  const names: string[] = [];
  (params as readonly unknown[]).forEach((entry, i) => {
    if (entry instanceof Tensor) {
      tensors.push(entry);
      names.push(String(i));
    } else if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && entry[1] instanceof Tensor) {
      tensors.push(entry[1]);
      names.push(entry[0]);
    } else {
      throw new TypeError(`${className}: params[${i}]: expected a Tensor or a [name, Tensor] pair, received ${describe(entry)}`);
    }
  });
  return { tensors, names };
}

function checkOptions<T extends object>(className: string, options: T, known: readonly string[]): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${className}: options: expected an object, received ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw new TypeError(`${className}: unknown option '${key}'; expected one of ${known.join(', ')}`);
  }
  return options;
}

function checkExclude(className: string, exclude: unknown): ExcludeFn | undefined {
  if (exclude === undefined) return undefined;
  if (typeof exclude !== 'function')
    throw new TypeError(`${className}: exclude: expected a function (name, tensor) => boolean, received ${describe(exclude)}`);
  return exclude as ExcludeFn;
}

function adamOptions(className: string, options: AdamOptions, defaultWeightDecay: number): NativeOptimizerOptions {
  const o = checkOptions(className, options, ['lr', 'weightDecay', 'exclude', 'betas', 'eps']);
  const betas = o.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2)
    throw new TypeError(`${className}: betas: expected [beta1, beta2], received ${describe(betas)}`);
  return { lr: o.lr ?? 1e-3, weightDecay: o.weightDecay ?? defaultWeightDecay, beta1: betas[0], beta2: betas[1], eps: o.eps ?? 1e-8 };
}

/** Runs `fn`, prefixing the messages of its TypeErrors/RangeErrors with the optimizer's class name. */
function withPrefix<T>(className: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`${className}: ${error.message}`, { cause: error });
    if (error instanceof TypeError) throw new TypeError(`${className}: ${error.message}`, { cause: error });
    throw error;
  }
}

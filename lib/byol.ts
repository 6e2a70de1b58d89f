// The BYOL learner (Grill et al. 2020), shaped like lucidrains/byol-pytorch:
//
//   const net = resnet50();
//   const learner = new BYOL(net, { imageSize: 64, totalSteps: 1000 });
//   const opt = new Adam(learner.parameters(), { lr: 3e-4 });
//   for (const images of batches) {
//     const loss = await learner.forward(images);   // two augmented views, symmetric loss
//     opt.zeroGrad(); await loss.backward(); await opt.step();
//     await learner.updateMovingAverage();          // EMA of the target network
//   }
//   await net.save('improved-net.safetensors');     // the encoder alone, torchvision's key names
//
// or, in one call per batch: `await learner.step(images, opt)`.
//
// As the paper: each image gets its own augmentation draw; BatchNorm statistics are per view (the two views
// share one concatenated batch through the convolutions, with per-view BatchNorm groups); the loss is
// 2 - 2 cos(prediction, target projection), symmetrised and averaged over the batch; the target is an EMA copy
// of encoder + projector with no gradients, its BatchNorm in training mode.
import { augment, byolView1, byolView2, callSeed, type AugmentOptions, type BatchTransform, type ViewSpec } from './augment.js';
import * as ema from './ema.js';
import { native, type NativeLearner } from './native.js';
import { Module, ResNet, type ResNetLayer } from './nn.js';
import { Tensor, describe } from './tensor.js';

export interface BYOLOptions {
  /** Side of the (square) images fed to the encoder, after augmentation. Required. */
  imageSize: number;
  /** Channels of the encoder's input: 3 (RGB, default) or 1 (grayscale). */
  channels?: 1 | 3;
  /** For ResNets: the layer whose output is the representation. Default: the net's own ('avgpool'). */
  hiddenLayer?: ResNetLayer;
  /** Output size of projector and predictor. Default 256. */
  projectionSize?: number;
  /** Hidden size of projector and predictor. Default 4096. */
  projectionHiddenSize?: number;
  /** tau_base of the target's EMA. Default 0.996 (the paper, 1000 epochs; 0.99 for short runs). */
  movingAverageDecay?: number;
  /** 'cosine' (the paper; needs totalSteps) or 'constant' (byol-pytorch). Default 'cosine'. */
  decaySchedule?: 'cosine' | 'constant';
  /** Number of EMA updates of the whole run, for the cosine schedule. */
  totalSteps?: number;
  /** false: SimSiam (target = online under stop-gradient, no EMA). Default true. */
  useMomentum?: boolean;
  /** Also copy BatchNorm running statistics from online to target at each EMA update. Default false. */
  copyBuffers?: boolean;
  /** View t: augmentation options or any function of a batch. Default byolView1(imageSize). */
  augment1?: ViewSpec;
  /** View t': default byolView2(imageSize). */
  augment2?: ViewSpec;
  /** Seed of the views' random draws (same seed, same views). Default: random. */
  seed?: number;
}

/** Wall-clock milliseconds of each phase of a step, for finding the bottleneck. */
export interface StepTimings {
  augment: number;
  forward: number;
  backward: number;
  optimizer: number;
  ema: number;
}

export interface StepResult {
  loss: number;
  /** Collapse monitor: mean per-dimension std of normalised online projections (~1/sqrt(d) healthy, 0 collapsed). */
  collapse: number;
  /** The tau used by this step's EMA update. */
  tau: number;
  timings: StepTimings;
}

/** What `step` needs of an optimizer (lib/optim's optimizers satisfy it). */
export interface StepOptimizer {
  step(): Promise<void>;
  zeroGrad(): void;
  /** Needed only with the `maxGradNorm` option. */
  clipGradNorm?(maxNorm: number): Promise<number>;
}

export interface StepOptions {
  /** Micro-batches per optimizer step (gradient accumulation). Default 1. */
  accumulate?: number;
  /** Clip the gradients' global L2 norm to this before the optimizer step. Default: no clipping. */
  maxGradNorm?: number;
}

/** The learner's own position, saved in checkpoints so a resumed run continues exactly. */
export interface BYOLState {
  /** EMA updates done (drives the cosine tau). */
  step: number;
  /** Augmented batches drawn (drives the views' seeds). */
  viewBatches: number;
  seed: number;
}

export class BYOLError extends Error {
  override name = 'BYOLError';
}

export class BYOL {
  readonly net: Module;
  readonly options: Readonly<Required<Omit<BYOLOptions, 'hiddenLayer' | 'totalSteps' | 'augment1' | 'augment2'>>> & {
    totalSteps?: number;
  };
  /** @internal */
  readonly native: NativeLearner;
  #state: BYOLState;
  readonly #views: [ViewSpec, ViewSpec];

  constructor(net: Module, options: BYOLOptions) {
    if (!(net instanceof Module)) throw new TypeError(`net: expected a Module of byol-torch's nn, received ${describe(net)}`);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`options: expected an object with at least imageSize, received ${describe(options)}`);
    const o = {
      imageSize: options.imageSize,
      channels: options.channels ?? 3,
      projectionSize: options.projectionSize ?? 256,
      projectionHiddenSize: options.projectionHiddenSize ?? 4096,
      movingAverageDecay: options.movingAverageDecay ?? 0.996,
      decaySchedule: options.decaySchedule ?? 'cosine',
      totalSteps: options.totalSteps,
      useMomentum: options.useMomentum ?? true,
      copyBuffers: options.copyBuffers ?? false,
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 48),
    };
    if (!(o.movingAverageDecay >= 0 && o.movingAverageDecay <= 1))
      throw new RangeError(`movingAverageDecay: expected a number in [0, 1], received ${o.movingAverageDecay}`);
    if (o.decaySchedule !== 'cosine' && o.decaySchedule !== 'constant')
      throw new TypeError(`decaySchedule: expected 'cosine' or 'constant', received ${describe(o.decaySchedule)}`);
    if (o.decaySchedule === 'cosine' && o.useMomentum && !(Number.isInteger(o.totalSteps) && o.totalSteps! > 0))
      throw new RangeError(
        `totalSteps: the cosine decay schedule needs the run's number of steps (a positive integer), received ` +
          `${describe(o.totalSteps)}; or use decaySchedule: 'constant'`,
      );
    if (!Number.isSafeInteger(o.seed) || o.seed < 0)
      throw new RangeError(`seed: expected a non-negative safe integer, received ${o.seed}`);
    if (options.hiddenLayer !== undefined) {
      if (!(net instanceof ResNet))
        throw new TypeError('hiddenLayer: only ResNets have named layers; build your encoder to end at the representation');
      net.hiddenLayer = options.hiddenLayer;
    }
    this.net = net;
    this.options = o;
    this.#views = [options.augment1 ?? byolView1(o.imageSize), options.augment2 ?? byolView2(o.imageSize)];
    this.#state = { step: 0, viewBatches: 0, seed: o.seed };
    // Runs a dry forward pass of two blank images (eval mode, no gradients): finds the representation size and
    // refuses an image size or channel count the encoder cannot take, before any training work.
    this.native = new native.NativeLearner(net.handle, {
      imageSize: o.imageSize,
      channels: o.channels,
      projectionSize: o.projectionSize,
      projectionHiddenSize: o.projectionHiddenSize,
      useMomentum: o.useMomentum,
    });
  }

  /** Size of the flattened representation the encoder produces. */
  get representationSize(): number {
    return this.native.representationSize();
  }

  /** The trainable online parameters: encoder, projector and predictor (what the optimizer takes). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** The same, named encoder.*, projector.*, predictor.* (LARS excludes biases and BatchNorm parameters by name). */
  namedParameters(): [string, Tensor][] {
    return this.native.parameters('online').map(([name, h]) => [name, new Tensor(h)]);
  }

  /** The tau the next EMA update will use. */
  get tau(): number {
    const { decaySchedule, movingAverageDecay, totalSteps } = this.options;
    if (decaySchedule === 'constant' || !this.options.useMomentum) return movingAverageDecay;
    return ema.cosineTau(Math.min(this.#state.step, totalSteps!), totalSteps!, movingAverageDecay);
  }

  get state(): BYOLState {
    return { ...this.#state };
  }
  /** Restores the position saved by `state` (checkpoint resume). */
  setState(state: BYOLState): void {
    for (const key of ['step', 'viewBatches', 'seed'] as const) {
      if (!Number.isSafeInteger(state?.[key]) || state[key] < 0)
        throw new RangeError(`state.${key}: expected a non-negative integer, received ${describe(state?.[key])}`);
    }
    this.#state = { ...state };
  }

  /** The two augmented views of a batch, each image with its own draw (seeded by the learner's seed). */
  async views(images: Tensor): Promise<[Tensor, Tensor]> {
    if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
    const batch = this.#state.viewBatches++;
    const [t1, t2] = this.#views;
    const view = (spec: ViewSpec, index: number): Promise<Tensor> =>
      typeof spec === 'function'
        ? (spec as BatchTransform)(images)
        : augment(images, spec as AugmentOptions, { seed: callSeed(this.#state.seed, 2 * batch + index) });
    return [await view(t1, 0), await view(t2, 1)];
  }

  /** The loss of a batch (two views, symmetric), with its graph: call `backward()` on it, as in byol-pytorch. */
  async forward(images: Tensor): Promise<Tensor> {
    const [v1, v2] = await this.views(images);
    try {
      const { loss } = await this.native.forward(v1.handle, v2.handle);
      return new Tensor(loss);
    } finally {
      v1.dispose();
      v2.dispose();
    }
  }

  /**
   * One training step: views, forward, backward, optimizer step and EMA update. With `accumulate: k > 1`, call
   * it k times per optimizer step: gradients of loss/k accumulate and the optimizer and EMA run on the k-th call.
   */
  async step(images: Tensor, optimizer: StepOptimizer, options: StepOptions = {}): Promise<StepResult> {
    const accumulate = options.accumulate ?? 1;
    if (!Number.isInteger(accumulate) || accumulate < 1)
      throw new RangeError(`accumulate: expected a positive integer, received ${describe(accumulate)}`);
    const { maxGradNorm } = options;
    if (maxGradNorm !== undefined && !(maxGradNorm > 0))
      throw new RangeError(`maxGradNorm: expected a positive number, received ${describe(maxGradNorm)}`);
    if (maxGradNorm !== undefined && typeof optimizer.clipGradNorm !== 'function')
      throw new TypeError('maxGradNorm: the optimizer has no clipGradNorm()');
    let t = performance.now();
    const [v1, v2] = await this.views(images);
    const augmentMs = performance.now() - t;
    let result;
    try {
      result = await this.native.forwardBackward(v1.handle, v2.handle, 1 / accumulate);
    } finally {
      v1.dispose();
      v2.dispose();
    }
    if (!Number.isFinite(result.loss)) {
      throw new BYOLError(`the loss became ${result.loss} at step ${this.#state.step}; lower the learning rate`);
    }
    this.#micro = (this.#micro + 1) % accumulate;
    const tau = this.tau;
    let optimizerMs = 0;
    let emaMs = 0;
    if (this.#micro === 0) {
      t = performance.now();
      if (maxGradNorm !== undefined) await optimizer.clipGradNorm!(maxGradNorm);
      await optimizer.step();
      optimizer.zeroGrad();
      optimizerMs = performance.now() - t;
      t = performance.now();
      await this.updateMovingAverage();
      emaMs = performance.now() - t;
    }
    return {
      loss: result.loss,
      collapse: result.collapse,
      tau,
      timings: { augment: augmentMs, forward: result.forwardMs, backward: result.backwardMs, optimizer: optimizerMs, ema: emaMs },
    };
  }
  #micro = 0;

  /** target ← tau·target + (1 − tau)·online for encoder and projector, then advances the tau schedule. */
  async updateMovingAverage(): Promise<void> {
    if (!this.options.useMomentum) return;
    const tau = this.tau;
    const targets = this.native.parameters('target').map(([, h]) => new Tensor(h));
    const sources = this.native.parameters('emaSources').map(([, h]) => new Tensor(h));
    try {
      await ema.update(targets, sources, tau);
      if (this.options.copyBuffers) {
        const targetBuffers = this.native.parameters('targetBuffers').map(([, h]) => new Tensor(h));
        const sourceBuffers = this.native.parameters('emaSourceBuffers').map(([, h]) => new Tensor(h));
        try {
          for (let i = 0; i < targetBuffers.length; i++) targetBuffers[i].copy_(sourceBuffers[i]);
        } finally {
          for (const b of [...targetBuffers, ...sourceBuffers]) b.dispose();
        }
      }
      this.#state.step++;
    } finally {
      for (const t of [...targets, ...sources]) t.dispose();
    }
  }

  /** The representation (and the online projection when asked) of un-augmented images, in eval mode. */
  async embed(images: Tensor, options: { projection?: boolean } = {}): Promise<{ representation: Tensor; projection?: Tensor }> {
    if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
    const out = await this.native.embed(images.handle, options.projection ?? false);
    return {
      representation: new Tensor(out.representation),
      ...(out.projection ? { projection: new Tensor(out.projection) } : {}),
    };
  }

  train(mode = true): this {
    this.native.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** The learner's networks besides the encoder, sharing its weights: for saving and loading checkpoints. */
  modules(): { projector: Module; predictor: Module; targetEncoder?: Module; targetProjector?: Module } {
    const m = this.native.modules();
    return {
      projector: new Module(m.projector),
      predictor: new Module(m.predictor),
      ...(m.targetEncoder ? { targetEncoder: new Module(m.targetEncoder) } : {}),
      ...(m.targetProjector ? { targetProjector: new Module(m.targetProjector) } : {}),
    };
  }
}

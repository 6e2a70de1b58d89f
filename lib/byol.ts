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
// or, in one call per batch: `await learner.step(images, opt)`, which runs views, forward, backward, optimizer
// and EMA as ONE native job (native/core/learner.h Learner::step) and reads nothing back until asked.
//
// As the paper: each image gets its own augmentation draw; BatchNorm statistics are per view (the two views
// share one concatenated batch through the convolutions, with per-view BatchNorm groups); the loss is
// 2 - 2 cos(prediction, target projection), symmetrised and averaged over the batch; the target is an EMA copy
// of encoder + projector with no gradients, its BatchNorm in training mode.
import { augment, byolView1, byolView2, callSeed, type AugmentOptions, type BatchTransform, type ViewSpec } from './augment.js';
import { ProcessGroup, rethrowDistributed } from './distributed/process-group.js';
import { native, type Device, type NativeLearner, type Precision, type NativeOptimizer, type NativeResolvedLearnerOptions, type NativeStepOutcome } from './native.js';
import { nativeOptimizerOf, type Optimizer } from './optim.js';
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
  /** tau_base of the target's EMA, in [0, 1]. Default 0.996 (the paper, 1000 epochs; 0.99 for short runs). */
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
  /**
   * Where to train: the net is moved there first (`net.to(device)`: channels-last on CUDA). Default: where the
   * net is. Images may live anywhere: `step` copies a CPU batch to the device from pinned memory without
   * waiting, and makes the views there.
   */
  device?: Device;
  /**
   * The networks' compute type: 'fp32' (default), 'bf16' (autocast to bfloat16, CUDA or CPU) or 'fp16'
   * (CUDA only, with a dynamic loss scaler in `step`). Weights, optimizer state, the EMA and the loss stay
   * float32.
   */
  precision?: Precision;
}
// The defaults above are documented, not restated: native/core/learner.h (LearnerOptions) owns them and their
// ranges; `learner.options` shows the resolved values.

/** Wall-clock milliseconds of each phase of a step, for finding the bottleneck. */
export interface StepTimings {
  augment: number;
  forward: number;
  backward: number;
  /** The gradients' mean over the ranks (data-parallel training; 0 in one process). */
  allReduce: number;
  optimizer: number;
  ema: number;
}

export interface DistributeOptions {
  /**
   * The optimizer that will train this learner: its state (moments, step count) becomes rank 0's too, so that
   * every rank's update is the same.
   */
  optimizer?: StepOptimizer;
  /**
   * Each view's BatchNorm statistics over every rank's batch (true, default: the same training as one process
   * with the whole batch) or over each rank's own (false: PyTorch DDP without SyncBatchNorm).
   */
  syncBatchNorm?: boolean;
}

/**
 * What a step returns. `loss` and `collapse` are read from the device only when first accessed (on a GPU that
 * read waits for the step to finish; on the CPU it costs nothing), so a loop that reads them every k steps lets
 * the device run ahead. Reading a non-finite loss throws BYOLError.
 */
export interface StepResult {
  /** The loss of this (micro-)batch. */
  readonly loss: number;
  /** Collapse monitor: mean per-dimension std of normalised online projections (~1/sqrt(d) healthy, 0 collapsed). */
  readonly collapse: number;
  /** The tau of this step's EMA update (of the next one, for a micro-batch that did not step). */
  tau: number;
  /** Whether this call ran the optimizer and the EMA (the last micro-batch of an accumulation). */
  optimizerStepped: boolean;
  /** fp16: the gradients overflowed, so this optimizer step was skipped (the loss scale halves; rare after warm-up). */
  gradientsSkipped: boolean;
  /** fp16: the loss scale this micro-batch used. */
  lossScale?: number;
  timings: StepTimings;
}

/** What `step` takes as its optimizer: one of lib/optim's (SGD, Adam, AdamW, LARS). */
export type StepOptimizer = Optimizer;

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
  /** fp16: the dynamic loss scale and its finite steps since the last change (absent otherwise). */
  lossScale?: { scale: number; finiteSteps: number };
}

export class BYOLError extends Error {
  override name = 'BYOLError';
}

/** A step's loss and collapse, read from the device once, when first asked for. */
class LazyStepResult implements StepResult {
  readonly tau: number;
  readonly optimizerStepped: boolean;
  readonly gradientsSkipped: boolean;
  readonly lossScale?: number;
  readonly timings: StepTimings;
  #metrics: Tensor | undefined;
  #values: [number, number] | undefined;
  readonly #step: number;

  constructor(outcome: NativeStepOutcome) {
    if (outcome.metrics) this.#metrics = new Tensor(outcome.metrics);
    else this.#values = [outcome.loss!, outcome.collapse!];
    this.tau = outcome.tau;
    this.optimizerStepped = outcome.optimizerStepped;
    this.gradientsSkipped = outcome.gradientsSkipped;
    if (outcome.lossScale !== undefined) this.lossScale = outcome.lossScale;
    this.timings = outcome.timings;
    this.#step = outcome.step;
  }
  get loss(): number {
    return this.#read()[0];
  }
  get collapse(): number {
    return this.#read()[1];
  }
  #read(): [number, number] {
    if (!this.#values) {
      const metrics = this.#metrics!;
      const [loss, collapse] = Array.from(metrics.dataSync(), Number) as [number, number];
      metrics.dispose();
      this.#metrics = undefined;
      this.#values = [loss, collapse];
    }
    const loss = this.#values[0];
    if (!Number.isFinite(loss))
      throw new BYOLError(`the loss became ${loss} at step ${this.#step}; lower the learning rate`);
    return this.#values;
  }
}

export class BYOL {
  readonly net: Module;
  /** The options in force, every default filled in (by native/core's LearnerOptions). */
  readonly options: Readonly<NativeResolvedLearnerOptions>;
  /** @internal */
  readonly native: NativeLearner;
  #viewBatches = 0;
  #seed: number;
  readonly #views: [ViewSpec, ViewSpec];
  /** Both views are options: the native step makes them itself. */
  readonly #nativeViews: boolean;
  #group: ProcessGroup | undefined;
  #syncBatchNorm = true;

  constructor(net: Module, options: BYOLOptions) {
    if (!(net instanceof Module)) throw new TypeError(`net: expected a Module of byol-torch's nn, received ${describe(net)}`);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`options: expected an object with at least imageSize, received ${describe(options)}`);
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 48);
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed: expected a non-negative safe integer, received ${seed}`);
    if (options.hiddenLayer !== undefined) {
      if (!(net instanceof ResNet))
        throw new TypeError('hiddenLayer: only ResNets have named layers; build your encoder to end at the representation');
      net.hiddenLayer = options.hiddenLayer;
    }
    if (options.device !== undefined) net.to(options.device);
    this.net = net;
    this.#seed = seed;
    this.#views = [options.augment1 ?? byolView1(options.imageSize), options.augment2 ?? byolView2(options.imageSize)];
    this.#nativeViews = this.#views.every((v) => typeof v !== 'function');
    const { augment1: _a1, augment2: _a2, hiddenLayer: _h, seed: _s, device: _d, ...learnerOptions } = options;
    // Core checks every option (and runs a dry forward pass of two blank images in eval mode without gradients:
    // it finds the representation size and refuses an image size or channel count the encoder cannot take).
    this.native = new native.NativeLearner(
      net.handle,
      learnerOptions,
      this.#nativeViews ? (this.#views as [AugmentOptions, AugmentOptions]) : undefined,
    );
    this.options = Object.freeze(this.native.options());
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

  /** The tau the next EMA update will use (waits for queued jobs). */
  get tau(): number {
    return this.native.tau();
  }

  get state(): BYOLState {
    const lossScale = this.native.lossScaler();
    return { step: this.native.emaUpdates(), viewBatches: this.#viewBatches, seed: this.#seed, ...(lossScale ? { lossScale } : {}) };
  }
  /** Restores the position saved by `state` (checkpoint resume). */
  setState(state: BYOLState): void {
    for (const key of ['step', 'viewBatches', 'seed'] as const) {
      if (!Number.isSafeInteger(state?.[key]) || state[key] < 0)
        throw new RangeError(`state.${key}: expected a non-negative integer, received ${describe(state?.[key])}`);
    }
    this.native.setEmaUpdates(state.step);
    if (state.lossScale !== undefined) this.native.setLossScaler(state.lossScale.scale, state.lossScale.finiteSteps);
    this.#viewBatches = state.viewBatches;
    this.#seed = state.seed;
  }

  /** The seeds of batch `batch`'s two views (each rank of a process group draws its own). */
  #viewSeeds(batch: number): [number, number] {
    const call = this.#group ? batch * this.#group.worldSize + this.#group.rank : batch;
    return [callSeed(this.#seed, 2 * call), callSeed(this.#seed, 2 * call + 1)];
  }

  /** The process group this learner trains over (see `distribute`), if any. */
  get processGroup(): ProcessGroup | undefined {
    return this.#group;
  }

  /**
   * Data-parallel training over `group`: every rank's learner (and optimizer state) becomes rank 0's, and from
   * then on every `step` averages the gradients over the ranks (in buckets), synchronises BatchNorm (unless
   * `syncBatchNorm: false`) and reports loss and collapse as means over the ranks. Each rank steps on its own
   * share of the batch (a Loader with `shard`). Every rank must call it; call it again after loading a
   * checkpoint. Only `step` (and `train`) average gradients: a hand-written forward/backward loop does not.
   */
  async distribute(group: ProcessGroup, options: DistributeOptions = {}): Promise<this> {
    if (!(group instanceof ProcessGroup)) throw new TypeError(`group: expected a ProcessGroup from initProcessGroup(), received ${describe(group)}`);
    if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object, received ${describe(options)}`);
    let optimizer: NativeOptimizer | undefined;
    if (options.optimizer !== undefined) {
      optimizer = nativeOptimizerOf(options.optimizer);
      if (!optimizer)
        throw new TypeError(`optimizer: expected one of byol-torch's optimizers (SGD, Adam, AdamW, LARS), received ${describe(options.optimizer)}`);
    }
    // A second call (after a resume) keeps the BatchNorm choice of the first unless told otherwise.
    const syncBatchNorm = options.syncBatchNorm ?? this.#syncBatchNorm;
    await this.native.distribute(group.native, optimizer, { syncBatchNorm }).catch(rethrowDistributed);
    this.#group = group;
    this.#syncBatchNorm = syncBatchNorm;
    return this;
  }

  /** The two augmented views of a batch, each image with its own draw (seeded by the learner's seed). */
  async views(images: Tensor): Promise<[Tensor, Tensor]> {
    if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
    const seeds = this.#viewSeeds(this.#viewBatches++);
    const view = (spec: ViewSpec, index: 0 | 1): Promise<Tensor> =>
      typeof spec === 'function'
        ? (spec as BatchTransform)(images)
        : augment(images, spec as AugmentOptions, { seed: seeds[index] });
    return [await view(this.#views[0], 0), await view(this.#views[1], 1)];
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
   * One training step as one native job: both views, forward, backward, gradient clipping, the optimizer step,
   * zeroing and the EMA update. With `accumulate: k > 1`, call it k times per optimizer step: gradients of
   * loss/k add up and the optimizer and EMA run on the k-th call (the gradients are then the mean of the k
   * micro-batches' gradients, each micro-batch normalised by its own BatchNorm statistics).
   */
  async step(images: Tensor, optimizer: StepOptimizer, options: StepOptions = {}): Promise<StepResult> {
    if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
    const nativeOptimizer = nativeOptimizerOf(optimizer);
    if (!nativeOptimizer)
      throw new TypeError(`optimizer: expected one of byol-torch's optimizers (SGD, Adam, AdamW, LARS), received ${describe(optimizer)}`);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`options: expected an object, received ${describe(options)}`);
    const stepOptions = { accumulate: options.accumulate, maxGradNorm: options.maxGradNorm };
    let outcome: NativeStepOutcome;
    if (this.#nativeViews) {
      const [seed1, seed2] = this.#viewSeeds(this.#viewBatches++);
      outcome = await this.native.step(images.handle, seed1, seed2, nativeOptimizer, stepOptions).catch(rethrowDistributed);
    } else {
      const started = performance.now();
      const [v1, v2] = await this.views(images);
      const augmentMs = performance.now() - started;
      try {
        outcome = await this.native.stepViews(v1.handle, v2.handle, nativeOptimizer, stepOptions).catch(rethrowDistributed);
      } finally {
        v1.dispose();
        v2.dispose();
      }
      outcome.timings.augment += augmentMs;
    }
    const result = new LazyStepResult(outcome);
    if (outcome.nonFiniteLoss) void result.loss; // a CPU step knows at once: throws BYOLError
    return result;
  }
  /** target ← tau·target + (1 − tau)·online for encoder and projector, then advances the tau schedule (one job). */
  async updateMovingAverage(): Promise<void> {
    await this.native.updateMovingAverage();
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

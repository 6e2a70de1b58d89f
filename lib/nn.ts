// Neural network modules: torchvision-compatible ResNets, the BYOL MLP head and basic layers for building
// an encoder of one's own. Every module runs its forward pass on the native executor (a Promise), exposes its
// parameters and buffers as Tensors sharing the module's memory, deep-copies with clone() (the target
// network) and saves/loads safetensors files with torchvision's key names.
import { native, type Device, type DType, type NativeModule, type NativeModuleInfo } from './native.js';
import { Tensor } from './tensor.js';

/** Children of a torchvision ResNet, in order; `hiddenLayer` names one of them. */
export type ResNetLayer =
  | 'conv1'
  | 'bn1'
  | 'relu'
  | 'maxpool'
  | 'layer1'
  | 'layer2'
  | 'layer3'
  | 'layer4'
  | 'avgpool'
  | 'fc';

export type ResNetDepth = 18 | 34 | 50 | 101 | 152;

export interface ResNetOptions {
  /** Input channels: 3 for RGB, 1 for grayscale. Default 3. */
  inChannels?: number;
  /** A 3x3 stride-1 first conv and no max-pool, for 28-32 px images (CIFAR-style). Default false. */
  smallStem?: boolean;
  /** Keep the final fc layer, as torchvision (its weights are then part of the state dict). Default true. */
  classifier?: boolean;
  /** Classes of the fc layer. Default 1000. */
  numClasses?: number;
  /**
   * The layer whose output forward() returns, by torchvision name. Default 'avgpool': the pooled,
   * flattened representation ([N, 2048] for ResNet-50, [N, 512] for ResNet-18/34), as byol-pytorch's
   * `hidden_layer="avgpool"`. 'fc' gives the classifier's logits.
   */
  hiddenLayer?: ResNetLayer;
  /** Zero-initialise the last BatchNorm of each residual block (torchvision's zero_init_residual). Default false. */
  zeroInitResidual?: boolean;
}

export interface MLPOptions {
  /** Input width (the encoder's representation size). Default 2048. */
  inFeatures?: number;
  /** Hidden width. Default 4096 (the paper). */
  hiddenSize?: number;
  /** Output width. Default 256 (the paper). */
  projectionSize?: number;
}

export interface ForwardOptions {
  /**
   * The batch is made of `groups` equal parts (e.g. two concatenated views) and every BatchNorm normalises each
   * part with its own statistics, exactly as separate passes would (running statistics too). Default 1.
   */
  groups?: number;
}

export interface SaveOptions {
  /** Storage type of floating tensors. Default 'float32'. */
  dtype?: Extract<DType, 'float32' | 'float16' | 'bfloat16'>;
}

export interface LoadOptions {
  /** Every key of the file and of the model must match. Default true. */
  strict?: boolean;
}

export interface LoadResult {
  /** Keys the model has and the file does not (only with strict: false). */
  missing: string[];
  /** Keys the file has and the model does not (only with strict: false). */
  unexpected: string[];
}

/** A network or layer. Create one with resnet50(), mlp(), conv2d(), sequential(), ... */
export class Module {
  /** @internal The native handle; other byol-torch modules pass it to the addon. */
  readonly handle: NativeModule;

  /** @internal Use the factory functions. */
  constructor(handle: NativeModule) {
    this.handle = handle;
  }

  /** Runs the module on `input` on the native executor. */
  async forward(input: Tensor, options: ForwardOptions = {}): Promise<Tensor> {
    if (!(input instanceof Tensor)) throw new TypeError(`input: expected a Tensor, received ${typeof input}`);
    return new Tensor(await this.handle.forward(input.handle, options.groups));
  }

  /** The parameters, sharing the module's memory (in-place changes and gradients are the module's). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedParameters(): [string, Tensor][] {
    return this.handle.namedParameters().map(([name, t]) => [name, new Tensor(t)]);
  }
  /** The buffers (BatchNorm running statistics and counters), sharing the module's memory. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }
  namedBuffers(): [string, Tensor][] {
    return this.handle.namedBuffers().map(([name, t]) => [name, new Tensor(t)]);
  }
  /** Parameters and buffers under torchvision's keys and in its order (`conv1.weight`, `bn1.running_mean`, ...). */
  stateDict(): [string, Tensor][] {
    return this.handle.stateDict().map(([name, t]) => [name, new Tensor(t)]);
  }

  /** Training mode (batch statistics in BatchNorm) or, with false, eval mode. */
  train(mode = true): this {
    this.handle.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  get training(): boolean {
    return this.handle.isTraining();
  }

  /**
   * Moves parameters and buffers to `device`, in place. On CUDA the module also becomes channels-last (cuDNN's
   * fastest layout), unless `channelsLast: false`.
   */
  to(device: Device, options: { channelsLast?: boolean } = {}): this {
    this.handle.to(device, options);
    return this;
  }
  /** Where its parameters are: 'cpu', 'cuda:0', ... */
  get device(): string {
    return this.handle.device();
  }
  /** Stores conv weights channels-last and converts 4-d inputs to it before forward (faster on CPU). */
  channelsLast(): this {
    this.handle.channelsLast();
    return this;
  }
  /** Number of parameter elements (only those that require gradients with trainableOnly). */
  numParameters(trainableOnly = false): number {
    return this.handle.numParameters(trainableOnly);
  }
  /** A deep copy with its own parameters and buffers (e.g. BYOL's target network). */
  clone(): this {
    const Ctor = this.constructor as new (handle: NativeModule) => this;
    return new Ctor(this.handle.clone());
  }
  /** Stops (or, with false, restarts) gradients for every parameter. */
  freeze(frozen = true): this {
    this.handle.freeze(frozen);
    return this;
  }

  /** Writes the state dict as safetensors with torchvision's key names, atomically (temp file, then rename). */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    await this.handle.save(path, options.dtype ?? 'float32');
  }
  /**
   * Reads a safetensors state dict. Every key, shape and dtype is checked first; on any mismatch the error
   * lists all of them and the module is left unchanged. With strict: false, missing and unexpected keys are
   * returned instead of thrown.
   */
  async load(path: string, options: LoadOptions = {}): Promise<LoadResult> {
    return this.handle.load(path, options.strict ?? true);
  }

  /** Kind, mode and (for ResNets and MLPs) their sizes. */
  describe(): NativeModuleInfo {
    return this.handle.describe();
  }
  toString(): string {
    return this.describe().repr;
  }
}

/** A torchvision ResNet. forward() returns the output of `hiddenLayer`. */
export class ResNet extends Module {
  get hiddenLayer(): ResNetLayer {
    return this.describe().hiddenLayer as ResNetLayer;
  }
  set hiddenLayer(name: ResNetLayer) {
    this.handle.setHiddenLayer(name);
  }
  /** Width of the 'avgpool' representation: 512 (ResNet-18/34) or 2048. */
  get featureSize(): number {
    return this.describe().featureSize ?? 0;
  }
  /** The names `hiddenLayer` accepts, in order. */
  get layerNames(): ResNetLayer[] {
    return (this.describe().layerNames ?? []) as ResNetLayer[];
  }
}

export function resnet(depth: ResNetDepth, options: ResNetOptions = {}): ResNet {
  return new ResNet(native.createModule('resnet', { ...options, depth }));
}
export const resnet18 = (options: ResNetOptions = {}): ResNet => resnet(18, options);
export const resnet34 = (options: ResNetOptions = {}): ResNet => resnet(34, options);
export const resnet50 = (options: ResNetOptions = {}): ResNet => resnet(50, options);
export const resnet101 = (options: ResNetOptions = {}): ResNet => resnet(101, options);
export const resnet152 = (options: ResNetOptions = {}): ResNet => resnet(152, options);

/** BYOL's projector/predictor: Linear(in, hidden) → BatchNorm1d → ReLU → Linear(hidden, out), both with bias. */
export function mlp(options: MLPOptions = {}): Module {
  return new Module(native.createModule('mlp', options));
}

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  /** Default 3. */
  kernelSize?: number;
  /** Default 1. */
  stride?: number;
  /** Default 0. */
  padding?: number;
  /** Default 1. */
  dilation?: number;
  /** Default 1. */
  groups?: number;
  /** Default true. */
  bias?: boolean;
}
export function conv2d(options: Conv2dOptions): Module {
  return new Module(native.createModule('conv2d', options));
}

export interface BatchNormOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Default 0.1. */
  momentum?: number;
}
/** BatchNorm over [N, C] or [N, C, L]; per-group statistics with forward(x, { groups }). */
export function batchNorm1d(numFeatures: number, options: BatchNormOptions = {}): Module {
  return new Module(native.createModule('batchNorm1d', { ...options, numFeatures }));
}
/** BatchNorm over [N, C, H, W]; per-group statistics with forward(x, { groups }). */
export function batchNorm2d(numFeatures: number, options: BatchNormOptions = {}): Module {
  return new Module(native.createModule('batchNorm2d', { ...options, numFeatures }));
}
export function relu(): Module {
  return new Module(native.createModule('relu', {}));
}
/** Max-pooling; stride defaults to kernelSize, padding to 0. */
export function maxPool2d(kernelSize: number, options: { stride?: number; padding?: number } = {}): Module {
  return new Module(native.createModule('maxPool2d', { ...options, kernelSize }));
}
/** Average-pools to outputSize x outputSize (default 1). */
export function adaptiveAvgPool2d(outputSize = 1): Module {
  return new Module(native.createModule('adaptiveAvgPool2d', { outputSize }));
}
export function flatten(startDim = 1, endDim = -1): Module {
  return new Module(native.createModule('flatten', { startDim, endDim }));
}
export function linear(inFeatures: number, outFeatures: number, options: { bias?: boolean } = {}): Module {
  return new Module(native.createModule('linear', { ...options, inFeatures, outFeatures }));
}
/** Runs `layers` in order; their parameters are keyed "0.weight", "1.bias", ... as nn.Sequential. */
export function sequential(...layers: Module[]): Module {
  for (const [i, layer] of layers.entries()) {
    if (!(layer instanceof Module)) throw new TypeError(`sequential: layers[${i}]: expected a Module`);
  }
  return new Module(native.createModule('sequential', { layers: layers.map((l) => l.handle) }));
}

// BYOL's image augmentations, per image and batched (native/core/augment.h).
//
// Every image of a batch draws its own crop, flip, jitter, grayscale, blur and solarize parameters from a
// seeded generator (the same seed gives the same views on the same device); the whole batch then runs as one
// job on the native executor, on the batch's device.
import { native } from './native.js';
import { Tensor } from './tensor.js';

export type Interpolation = 'bilinear' | 'bicubic';
/** How a 4-d batch holds its channels. 'auto': NCHW when dim 1 is 1 or 3, else NHWC when dim 3 is. */
export type ImageLayout = 'auto' | 'nchw' | 'nhwc';

/**
 * Options of one view. Every field is optional; the defaults are the paper's view 1 (Grill et al. 2020,
 * table 6) with bilinear resampling. Input: uint8 (0..255) or float (0..1) images, NCHW or NHWC, 1 or 3
 * channels. Output: float32 NCHW (channels-last memory when asked), normalised.
 */
export interface AugmentOptions {
  /** Output size, a square side or [height, width]; at most 8x the input and 4096. Default: the input's. */
  size?: number | readonly [number, number];
  /** Random resized crop; false resizes the whole image. Default true. */
  crop?: boolean;
  /** Crop area as a fraction of the image, U(min, max), 0 < min <= max <= 1. Default [0.08, 1]. */
  scale?: readonly [number, number];
  /** Crop aspect ratio (width / height), log-uniform in [min, max]. Default [3/4, 4/3]. */
  ratio?: readonly [number, number];
  /** Tries to fit a crop before falling back to a centre crop. Default 10. */
  cropTries?: number;
  /** Resampling of the crop. Default 'bilinear' (the paper uses bicubic: see byolView1). */
  interpolation?: Interpolation;
  /** Low-pass filter when a crop shrinks (torch's antialias); false is torchvision's tensor default. Default false. */
  antialias?: boolean;
  /** Horizontal flip probability. Default 0.5. */
  flipProb?: number;
  /** Colour jitter probability; the four ops run in a random order per image. Default 0.8. */
  jitterProb?: number;
  /** Brightness factor U(max(0, 1 - v), 1 + v); 0 leaves it out. Default 0.4. */
  brightness?: number;
  /** Contrast factor U(max(0, 1 - v), 1 + v); 0 leaves it out. Default 0.4. */
  contrast?: number;
  /** Saturation factor U(max(0, 1 - v), 1 + v); 0 leaves it out; no-op on 1-channel images. Default 0.2. */
  saturation?: number;
  /** Hue shift U(-v, v), v in [0, 0.5]; no-op on 1-channel images. Default 0.1. */
  hue?: number;
  /** Grayscale probability (0.2989 R + 0.587 G + 0.114 B); no-op on 1-channel images. Default 0.2. */
  grayscaleProb?: number;
  /** Gaussian blur probability. Default 1.0 (view 1). */
  blurProb?: number;
  /** Blur sigma U(min, max). Default [0.1, 2.0]. */
  sigma?: readonly [number, number];
  /** Odd blur kernel size; 0 picks the odd size at about blurKernelFraction of the side. Default 0. */
  blurKernel?: number;
  /** Automatic kernel size as a fraction of the output side (23 at 224). Default 0.1. */
  blurKernelFraction?: number;
  /** Solarize probability (x >= threshold becomes 1 - x). Default 0.0 (view 1). */
  solarizeProb?: number;
  /** Solarize threshold on the 0..1 scale. Default 0.5. */
  solarizeThreshold?: number;
  /** (x - mean) / std per channel at the end. Default true. */
  normalize?: boolean;
  /** One value or one per channel. Default ImageNet's (0.485, 0.456, 0.406); 0.449 for 1-channel images. */
  mean?: number | readonly number[];
  /** One value or one per channel. Default ImageNet's (0.229, 0.224, 0.225); 0.226 for 1-channel images. */
  std?: number | readonly number[];
  /** Input layout. Default 'auto'. */
  layout?: ImageLayout;
  /** Return channels-last memory (faster convolutions on CPU). Default false. */
  channelsLast?: boolean;
  /** false: one draw for the whole batch (byol-pytorch's behaviour), for comparisons. Default true. */
  perImage?: boolean;
}

/** Any function from a batch of images to a batch of views; byol-torch accepts one wherever it augments. */
export type BatchTransform = (images: Tensor) => Promise<Tensor>;

/** A view given as options (run by augment()) or as a function of the batch. */
export type ViewSpec = AugmentOptions | BatchTransform;

export interface AugmentCallOptions {
  /** Seed of this call's draws, an integer in [0, 2^53 - 1]. Default: a random seed. */
  seed?: number;
}

type Size = number | readonly [number, number];

/** Throws the RangeError/TypeError that augment() would throw for these options (unknown fields included). */
export function validateAugmentOptions(options: AugmentOptions): void {
  native.validateAugmentOptions(options);
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 53);
}

/**
 * Augments a batch: each image its own parameters drawn from `seed`. Resolves with a new float32 NCHW tensor
 * on the batch's device; rejects with a RangeError/TypeError naming the option or the input's problem.
 */
export async function augment(images: Tensor, options: AugmentOptions = {}, call: AugmentCallOptions = {}): Promise<Tensor> {
  if (!(images instanceof Tensor)) {
    throw new TypeError(`images: expected a Tensor, received ${images === null ? 'null' : typeof images}`);
  }
  const seed = call.seed ?? randomSeed();
  return new Tensor(await native.augment(images.handle, options, seed));
}

const GOLDEN = 0x9e3779b97f4a7c15n;
const MASK53 = (1n << 53n) - 1n;

/** The seed of call `index` of an augmenter started from `seed`: deterministic, distinct per call. */
export function callSeed(seed: number, index: number): number {
  let z = (BigInt(seed) + BigInt(index + 1) * GOLDEN) & ((1n << 64n) - 1n);
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & ((1n << 64n) - 1n);
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & ((1n << 64n) - 1n);
  return Number((z ^ (z >> 31n)) & MASK53);
}

/**
 * A BatchTransform that augments with `options`, its k-th call seeded with callSeed(seed, k): the same seed
 * gives the same sequence of views. Options are checked now, not at the first call.
 */
export function makeAugmenter(options: AugmentOptions = {}, seed: number = randomSeed()): BatchTransform {
  validateAugmentOptions(options);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed: expected an integer in [0, 2^53 - 1], received ${seed}`);
  }
  const frozen = { ...options };
  let calls = 0;
  return (images: Tensor) => augment(images, frozen, { seed: callSeed(seed, calls++) });
}

/** A BatchTransform from a ViewSpec: functions pass through, options become makeAugmenter(options, seed). */
export function toTransform(view: ViewSpec, seed?: number): BatchTransform {
  return typeof view === 'function' ? view : makeAugmenter(view, seed);
}

/** The paper's view 1 (t): crop (bicubic), flip, jitter p 0.8, grayscale p 0.2, blur p 1.0, no solarize. */
export function byolView1(size: Size, overrides: AugmentOptions = {}): AugmentOptions {
  return {
    size,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    interpolation: 'bicubic',
    flipProb: 0.5,
    jitterProb: 0.8,
    brightness: 0.4,
    contrast: 0.4,
    saturation: 0.2,
    hue: 0.1,
    grayscaleProb: 0.2,
    blurProb: 1.0,
    sigma: [0.1, 2.0],
    solarizeProb: 0.0,
    normalize: true,
    ...overrides,
  };
}

/** The paper's view 2 (t'): as view 1 with blur p 0.1 and solarize p 0.2. */
export function byolView2(size: Size, overrides: AugmentOptions = {}): AugmentOptions {
  return byolView1(size, { blurProb: 0.1, solarizeProb: 0.2, ...overrides });
}

/**
 * byol-pytorch's default pipeline, but per image: jitter (0.8, 0.8, 0.8, 0.2) at p 0.3, grayscale p 0.2,
 * flip, blur 3x3 sigma U(1, 2) at p 0.2, random resized crop (bilinear), normalize. byol-pytorch crops last;
 * here the crop comes first, so the 3x3 blur acts at the output scale.
 */
export function byolPytorchDefault(size: Size, overrides: AugmentOptions = {}): AugmentOptions {
  return {
    size,
    scale: [0.08, 1],
    ratio: [3 / 4, 4 / 3],
    interpolation: 'bilinear',
    flipProb: 0.5,
    jitterProb: 0.3,
    brightness: 0.8,
    contrast: 0.8,
    saturation: 0.8,
    hue: 0.2,
    grayscaleProb: 0.2,
    blurProb: 0.2,
    blurKernel: 3,
    sigma: [1.0, 2.0],
    solarizeProb: 0.0,
    normalize: true,
    ...overrides,
  };
}

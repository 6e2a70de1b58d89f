// Evaluating an encoder on frozen features, the two standard ways (the linear evaluation protocol of Grill et al. 2020, and a weighted kNN as in Wu et al. 2018):
//   - linear probe: features computed once, standardised with the train split's mean/std, a softmax regression
//     trained on the train split (Adam, seeded mini-batches), top-1 on the test split;
//   - kNN: k = 20 nearest train features by cosine similarity, votes weighted by exp(similarity / 0.07).
// Both run natively (native/core/evaluation.h) as jobs; feature extraction runs the encoder in eval mode.
// The raw-pixel baseline (extractPixels, evaluatePixels) puts the preprocessed images themselves, flattened,
// through the same probe and kNN.
import { augment, type AugmentOptions } from './augment.js';
import { permutation } from './data/batches.js';
import type { Dataset } from './data/dataset.js';
import { native, type NativeTensor } from './native.js';
import type { Module } from './nn.js';
import { noGrad } from './runtime.js';
import { Tensor, cat, describe, tensor, type Device } from './tensor.js';

/** How images become encoder inputs at evaluation: resized (no crop, no flip), normalised as the training views. */
export interface PreprocessOptions {
  /** Side the images are resized to (the training views' size). */
  imageSize: number;
  /** Normalisation, as the views' `mean`/`std` (AugmentOptions); default ImageNet's (0.449/0.226 for 1 channel). */
  mean?: number | readonly number[];
  std?: number | readonly number[];
}

export interface FeatureOptions extends PreprocessOptions {
  /** Images per forward pass. Default 256. */
  batchSize?: number;
  /** Use only this many images: a seeded random subset (all labels kept aligned). Default: all. */
  limit?: number;
  /** Seed of the subset. Default 0. */
  seed?: number;
}

export interface Features {
  /** float32 [N, D]; the caller owns it. */
  features: Tensor;
  /** The images' labels, where the dataset has them. */
  labels?: Int32Array;
  /** Which dataset images the rows are, in row order. */
  indices: Int32Array;
}

/** The augment() options that only resize and normalise (the evaluation transform). */
export function preprocessOptions(options: PreprocessOptions): AugmentOptions {
  return {
    size: options.imageSize,
    crop: false,
    flipProb: 0,
    jitterProb: 0,
    grayscaleProb: 0,
    blurProb: 0,
    solarizeProb: 0,
    ...(options.mean !== undefined ? { mean: options.mean } : {}),
    ...(options.std !== undefined ? { std: options.std } : {}),
  };
}

/** How a batch of preprocessed images becomes its rows of features (the caller disposes `input`). */
type Represent = (input: Tensor) => Promise<Tensor>;

function checkedLimit(dataset: Dataset, options: FeatureOptions): Int32Array {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize: expected a positive integer, received ${describe(batchSize)}`);
  const limit = options.limit ?? dataset.size;
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit: expected a positive integer, received ${describe(options.limit)}`);
  return limit >= dataset.size ? Int32Array.from({ length: dataset.size }, (_, i) => i) : permutation(dataset.size, options.seed ?? 0, 0).slice(0, limit).sort();
}

/** Preprocesses every (or `limit` seeded-random) image of `dataset` on `device` and stacks what `represent` makes of it. */
async function collectRows(dataset: Dataset, options: FeatureOptions, device: string, represent: Represent): Promise<Features> {
  const batchSize = options.batchSize ?? 256;
  const indices = checkedLimit(dataset, options);
  const transform = preprocessOptions(options);
  const parts: Tensor[] = [];
  const labels: number[] = [];
  try {
    const load = (start: number) => dataset.get(indices.subarray(start, Math.min(indices.length, start + batchSize)));
    let next = load(0);
    for (let start = 0; start < indices.length; start += batchSize) {
      const batch = await next;
      if (start + batchSize < indices.length) next = load(start + batchSize); // decode the next batch meanwhile
      try {
        const images = device === 'cpu' ? batch.images : batch.images.to(device as Device);
        const input = await augment(images, transform, { seed: 0 });
        if (images !== batch.images) images.dispose();
        try {
          const rows = await represent(input);
          if (device === 'cpu') parts.push(rows);
          else {
            parts.push(rows.cpu());
            rows.dispose();
          }
        } finally {
          input.dispose();
        }
        if (batch.labels) labels.push(...batch.labels);
      } finally {
        batch.images.dispose();
      }
    }
    const features = cat(parts);
    return { features, indices, ...(labels.length === indices.length ? { labels: Int32Array.from(labels) } : {}) };
  } finally {
    for (const p of parts) p.dispose();
  }
}

/** The encoder's representation of every (or `limit` seeded-random) image of `dataset`, in eval mode. */
export async function extractFeatures(encoder: Module, dataset: Dataset, options: FeatureOptions): Promise<Features> {
  checkedLimit(dataset, options); // argument errors before the encoder changes mode
  const wasTraining = encoder.training;
  // The images go where the encoder is (resized there too); the features come back to host memory.
  encoder.eval();
  try {
    return await collectRows(dataset, options, encoder.device, (input) => noGrad(() => encoder.forward(input)));
  } finally {
    encoder.train(wasTraining);
  }
}

/**
 * The raw-pixel baseline's features: each image exactly as an encoder receives it at evaluation (resized,
 * normalised: preprocessOptions), flattened to one row of C * S * S values. float32 [N, C * S * S] on the CPU.
 */
export function extractPixels(dataset: Dataset, options: FeatureOptions): Promise<Features> {
  return collectRows(dataset, options, 'cpu', async (input) => input.flatten(1));
}

export interface LinearProbeOptions {
  /** Passes over the train features. Default 100. */
  epochs?: number;
  /** Default 256. */
  batchSize?: number;
  /** Adam's learning rate on standardised features. Default 1e-3. */
  lr?: number;
  /** Default 0. */
  weightDecay?: number;
  /** Seed of the mini-batch order. Default 0. */
  seed?: number;
}

export interface LinearProbeResult {
  trainAccuracy: number;
  testAccuracy: number;
  /** Mean cross-entropy of the last epoch. */
  finalLoss: number;
}

export interface KnnOptions {
  /** Neighbours that vote. Default 20. */
  k?: number;
  /** Votes weigh exp(similarity / temperature). Default 0.07. */
  temperature?: number;
}

function checkLabelled(split: Features, name: string): Int32Array {
  if (!(split?.features instanceof Tensor)) throw new TypeError(`${name}: expected Features from extractFeatures, received ${describe(split)}`);
  if (!split.labels) throw new RangeError(`${name}: expected labelled features (the dataset has no labels)`);
  return split.labels;
}

type Evaluation<R> = (trainX: NativeTensor, trainY: NativeTensor, testX: NativeTensor, testY: NativeTensor) => Promise<R>;

/** Runs a native evaluation on both splits, their labels as temporary int32 tensors. */
async function withSplits<R>(train: Features, test: Features, run: Evaluation<R>): Promise<R> {
  const trainLabels = tensor(checkLabelled(train, 'train'));
  const testLabels = tensor(checkLabelled(test, 'test'));
  try {
    return await run(train.features.handle, trainLabels.handle, test.features.handle, testLabels.handle);
  } finally {
    trainLabels.dispose();
    testLabels.dispose();
  }
}

/** Linear evaluation: a softmax regression on the train features, top-1 accuracy on the test features. */
export function linearProbe(train: Features, test: Features, options: LinearProbeOptions = {}): Promise<LinearProbeResult> {
  return withSplits(train, test, (...splits) => native.linearProbe(...splits, options));
}

/** kNN evaluation: top-1 accuracy of a weighted vote of the k most cosine-similar train features. */
export function knnAccuracy(train: Features, test: Features, options: KnnOptions = {}): Promise<number> {
  return withSplits(train, test, (...splits) => native.knnAccuracy(...splits, options));
}

export interface EncoderScores {
  linear: LinearProbeResult;
  knn: number;
}

export interface EvaluateOptions extends PreprocessOptions {
  /** Images of the train split whose features train the probe (seeded subset). Default: all. */
  trainLimit?: number;
  /** Images of the test split. Default: all. */
  testLimit?: number;
  batchSize?: number;
  linear?: LinearProbeOptions;
  knn?: KnnOptions;
}

/** How the images of a split become features: an encoder's (extractFeatures) or the pixels' (extractPixels). */
export type FeatureSource = (dataset: Dataset, options: FeatureOptions) => Promise<Features>;

/** The FeatureSource of an encoder (extractFeatures in eval mode). */
export function encoderFeatures(encoder: Module): FeatureSource {
  return (dataset, options) => extractFeatures(encoder, dataset, options);
}

/**
 * Linear probe and kNN of one representation, one probe per seed of `probeSeeds` (each overriding
 * `options.linear.seed`), in that order. The test features are computed once. The train subset of `trainLimit`
 * follows the probe seed, so with a limit below the split's size the train features and kNN are computed once per
 * seed; without one they are computed once and only the probe is repeated. `onScore` hears each seed's scores.
 */
export async function evaluateSeeds(
  source: FeatureSource,
  train: Dataset,
  test: Dataset,
  options: EvaluateOptions,
  probeSeeds: readonly number[],
  onScore?: (seed: number, scores: EncoderScores) => void,
): Promise<EncoderScores[]> {
  if (!Array.isArray(probeSeeds) || probeSeeds.length === 0 || !probeSeeds.every((s) => Number.isSafeInteger(s) && s >= 0))
    throw new RangeError(`probeSeeds: expected a non-empty array of integers >= 0, received ${describe(probeSeeds)}`);
  const subsetBySeed = options.trainLimit !== undefined && options.trainLimit < train.size;
  const testFeatures = await source(test, { ...options, limit: options.testLimit });
  let trainFeatures: Features | undefined;
  try {
    const scores: EncoderScores[] = [];
    let knn: number | undefined;
    for (const seed of probeSeeds) {
      if (!trainFeatures || subsetBySeed) {
        trainFeatures?.features.dispose();
        trainFeatures = undefined;
        trainFeatures = await source(train, { ...options, limit: options.trainLimit, seed });
        knn = undefined;
      }
      const linear = await linearProbe(trainFeatures, testFeatures, { ...options.linear, seed });
      knn ??= await knnAccuracy(trainFeatures, testFeatures, options.knn);
      const s = { linear, knn };
      scores.push(s);
      onScore?.(seed, s);
    }
    return scores;
  } finally {
    trainFeatures?.features.dispose();
    testFeatures.features.dispose();
  }
}

/** Linear probe and kNN of one encoder, features computed once per split. */
export async function evaluateEncoder(encoder: Module, train: Dataset, test: Dataset, options: EvaluateOptions): Promise<EncoderScores> {
  const [scores] = await evaluateSeeds(encoderFeatures(encoder), train, test, options, [options.linear?.seed ?? 0]);
  return scores!;
}

/**
 * The raw-pixel baseline: the same linear probe and kNN as evaluateEncoder on the preprocessed pixels themselves
 * (extractPixels), the floor an encoder's representation has to beat.
 */
export async function evaluatePixels(train: Dataset, test: Dataset, options: EvaluateOptions): Promise<EncoderScores> {
  const [scores] = await evaluateSeeds(extractPixels, train, test, options, [options.linear?.seed ?? 0]);
  return scores!;
}

/** Mean and sample standard deviation (0 for a single value). */
export function meanAndSpread(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

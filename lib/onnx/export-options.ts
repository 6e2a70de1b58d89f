// exportOnnx's options checked and given their defaults. No native imports: `byol export` checks its arguments
// before it loads LibTorch and the weights.
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from './versions.js';

/** How BatchNorm appears in the eval-mode graph. */
export type BatchNormMode = 'folded' | 'nodes';
export const BATCH_NORM_MODES: readonly BatchNormMode[] = ['folded', 'nodes'];

export interface OnnxExportOptions {
  /** Side of the square input images: the size the encoder was trained and embeds at. Required. */
  imageSize: number;
  /** A symbolic batch dimension ('batch'), so one model runs any batch size. Default false (`batchSize`). */
  dynamicBatch?: boolean;
  /** The input's fixed batch size when not `dynamicBatch`. Default 1. */
  batchSize?: number;
  /** ONNX opset, 13 to 17 (IR version 8). Default 17. */
  opset?: number;
  /**
   * 'folded' (default): each BatchNorm folded into the convolution before it (fewer nodes, faster);
   * 'nodes': Conv then BatchNormalization nodes with the running statistics.
   */
  batchNorm?: BatchNormMode;
  /**
   * The graph normalises its input itself (Sub and Div nodes), so callers feed [0, 1] pixels. Default false:
   * callers feed normalised images, (pixels - mean) / std. Either way mean and std are in the model's metadata.
   */
  includeNormalization?: boolean;
  /** The normalisation the encoder was trained with: one value or one per channel. Default `byol embed`'s (ImageNet's). */
  mean?: number | readonly number[];
  std?: number | readonly number[];
}

export interface ResolvedExportOptions {
  imageSize: number;
  batch: number | 'batch';
  opset: number;
  batchNorm: BatchNormMode;
  includeNormalization: boolean;
  mean?: number | readonly number[];
  std?: number | readonly number[];
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** The options with their defaults; an error names the option, what it expects and what it got. */
export function resolveExportOptions(options: OnnxExportOptions): ResolvedExportOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object with imageSize, received ${describeValue(options)}`);
  const { imageSize } = options;
  if (!Number.isInteger(imageSize) || imageSize < 1) throw new RangeError(`imageSize: expected a positive integer, received ${describeValue(imageSize)}`);
  return { imageSize, ...resolveGraphOptions(options) };
}

/** Every option but imageSize (which `byol export` may only learn from the run's config.json), resolved. */
export function resolveGraphOptions(options: Omit<OnnxExportOptions, 'imageSize'>): Omit<ResolvedExportOptions, 'imageSize'> {
  const { batchSize = 1, opset = DEFAULT_OPSET, batchNorm = 'folded' } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize: expected a positive integer, received ${describeValue(batchSize)}`);
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET)
    throw new RangeError(`opset: expected an integer from ${MIN_OPSET} to ${MAX_OPSET} (ONNX IR version 8), received ${describeValue(opset)}`);
  if (!BATCH_NORM_MODES.includes(batchNorm)) throw new RangeError(`batchNorm: expected 'folded' or 'nodes', received ${describeValue(batchNorm)}`);
  return {
    batch: options.dynamicBatch ? 'batch' : batchSize,
    opset,
    batchNorm,
    includeNormalization: Boolean(options.includeNormalization),
    ...(options.mean !== undefined ? { mean: options.mean } : {}),
    ...(options.std !== undefined ? { std: options.std } : {}),
  };
}

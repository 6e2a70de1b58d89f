// The normalisation the encoder expects of its input: what `byol embed` and `byol eval` apply after resizing
// ([0, 1] pixels, then (x - mean) / std per channel; lib/evaluate.ts preprocessOptions). The defaults are
// native/core/augment.cc's (ImageNet's for RGB, 0.449 / 0.226 for grayscale); test/onnx.test.ts checks them
// against what the embedding path computes, so the two cannot drift apart.

export interface Normalization {
  /** One value per input channel. */
  mean: number[];
  /** One value per input channel, each > 0. */
  std: number[];
}

const IMAGENET_RGB: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const IMAGENET_GRAY: Normalization = { mean: [0.449], std: [0.226] };

/** The embedding path's normalisation for images of `channels` channels. */
export function embeddingNormalization(channels: number): Normalization {
  if (channels === 3) return { mean: [...IMAGENET_RGB.mean], std: [...IMAGENET_RGB.std] };
  // augment() broadcasts its one grayscale value over any other channel count.
  return { mean: Array(channels).fill(IMAGENET_GRAY.mean[0]), std: Array(channels).fill(IMAGENET_GRAY.std[0]) };
}

/**
 * `mean`/`std` as given (one number, or one per channel) resolved to one value per channel, or the embedding
 * path's defaults. Errors name the option.
 */
export function resolveNormalization(channels: number, mean?: number | readonly number[], std?: number | readonly number[]): Normalization {
  const defaults = embeddingNormalization(channels);
  const perChannel = (name: string, value: number | readonly number[] | undefined, fallback: number[], positive: boolean): number[] => {
    if (value === undefined) return fallback;
    const values = typeof value === 'number' ? Array(channels).fill(value) : [...value];
    if (values.length !== channels || values.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)))
      throw new RangeError(
        `${name}: expected one finite number${positive ? ' > 0' : ''} or ${channels} of them (one per input channel), received ${JSON.stringify(value)}`,
      );
    return values;
  };
  return { mean: perChannel('mean', mean, defaults.mean, false), std: perChannel('std', std, defaults.std, true) };
}

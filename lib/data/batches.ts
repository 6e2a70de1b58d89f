// Batches for training: a random-access source, so a resumed run can continue at any (epoch, batch).
import { Tensor, describe, tensor } from '../tensor.js';

/** Where the trainer gets its images: `batchesPerEpoch` batches, each addressable by (epoch, index). */
export interface BatchSource {
  readonly batchesPerEpoch: number;
  /** Batch `index` of `epoch`: the same (epoch, index) always gives the same images. */
  batch(epoch: number, index: number): Promise<Tensor>;
}

export interface TensorBatchesOptions {
  batchSize: number;
  /** Reshuffle every epoch (seeded). Default true. */
  shuffle?: boolean;
  /** Seed of the shuffles. Default 0. */
  seed?: number;
  /** Drop the last incomplete batch (BatchNorm needs full batches). Default true. */
  dropLast?: boolean;
}

/** Batches of an in-memory tensor of images [N, ...], shuffled per epoch by a seeded permutation. */
export function tensorBatches(images: Tensor, options: TensorBatchesOptions): BatchSource {
  if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
  const { batchSize, shuffle = true, seed = 0, dropLast = true } = options;
  const n = images.shape[0] ?? 0;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize: expected a positive integer, received ${describe(batchSize)}`);
  const batchesPerEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  if (batchesPerEpoch < 1)
    throw new RangeError(`batchSize: expected at most the ${n} images available, received ${batchSize}`);
  let cached: { epoch: number; order: Int32Array } | undefined;
  const orderOf = (epoch: number): Int32Array => {
    if (cached?.epoch !== epoch) cached = { epoch, order: shuffle ? permutation(n, seed, epoch) : identity(n) };
    return cached.order;
  };
  return {
    batchesPerEpoch,
    async batch(epoch: number, index: number): Promise<Tensor> {
      if (!Number.isInteger(index) || index < 0 || index >= batchesPerEpoch)
        throw new RangeError(`index: expected an integer in [0, ${batchesPerEpoch - 1}], received ${describe(index)}`);
      const order = orderOf(epoch).subarray(index * batchSize, Math.min(n, (index + 1) * batchSize));
      const index64 = tensor(BigInt64Array.from(order, (v) => BigInt(v)));
      try {
        return images.indexSelect(0, index64);
      } finally {
        index64.dispose();
      }
    },
  };
}

/** 0, 1, ..., n-1. */
export function identity(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** A permutation of 0..n-1 by Fisher-Yates with a seeded splitmix32 generator: the same (seed, epoch) always gives the same order. */
export function permutation(n: number, seed: number, epoch: number): Int32Array {
  const order = identity(n);
  let state = (Math.imul(seed | 0, 0x9e3779b9) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0;
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return ((z ^ (z >>> 15)) >>> 0) / 2 ** 32;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

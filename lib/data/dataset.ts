// What every dataset gives the loader: images by index, as float32 [n, C, H, W] in [0, 1], with labels where the
// dataset has them. Readers (IDX, CIFAR, image folders, tensors) implement it; the loader batches any of them.
import type { Tensor } from '../tensor.js';

export interface Dataset {
  /** Number of images. */
  readonly size: number;
  /** [channels, height, width] of every image `get` returns. */
  readonly imageShape: readonly [number, number, number];
  /** Class names, index = label, where the dataset is labelled. */
  readonly classes?: readonly string[];
  /** Every image's label (length `size`), where the dataset is labelled. */
  readonly labels?: Int32Array;
  /** Images `indices` (each in [0, size)), in that order. */
  get(indices: ArrayLike<number>): Promise<Batch>;
}

export interface Batch {
  /** float32 [n, C, H, W], values in [0, 1]. The caller owns it (dispose when done). */
  images: Tensor;
  /** The images' labels, where the dataset is labelled. */
  labels?: Int32Array;
}

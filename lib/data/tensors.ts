// In-memory datasets: images already decoded, as a Tensor or as uint8 pixels (converted to float per batch).
import { Tensor, describe, tensor } from '../tensor.js';
import type { Batch, Dataset } from './dataset.js';
import { checkIndices } from './indices.js';

export interface InMemoryOptions {
  labels?: Int32Array;
  classes?: readonly string[];
}

function checkLabels(labels: Int32Array | undefined, size: number): void {
  if (labels === undefined) return;
  if (!(labels instanceof Int32Array)) throw new TypeError(`labels: expected an Int32Array, received ${describe(labels)}`);
  if (labels.length !== size) throw new RangeError(`labels: expected ${size} labels (one per image), received ${labels.length}`);
}

/** The fields every in-memory dataset shares, after checking the labels against the image count. */
function header(n: number, c: number, h: number, w: number, options: InMemoryOptions) {
  checkLabels(options.labels, n);
  return {
    size: n,
    imageShape: [c, h, w] as [number, number, number],
    ...(options.classes ? { classes: options.classes } : {}),
    ...(options.labels ? { labels: options.labels } : {}),
  };
}

function pickLabels(labels: Int32Array | undefined, indices: ArrayLike<number>): Int32Array | undefined {
  return labels && Int32Array.from(indices as ArrayLike<number>, (i) => labels[i]!);
}

/** A dataset over uint8 pixels [N, C, H, W] (0..255); each batch becomes float32 in [0, 1]. */
export function uint8Images(pixels: Uint8Array, shape: readonly [number, number, number, number], options: InMemoryOptions = {}): Dataset {
  const [n, c, h, w] = shape;
  if (!(pixels instanceof Uint8Array)) throw new TypeError(`pixels: expected a Uint8Array, received ${describe(pixels)}`);
  if (pixels.length !== n * c * h * w)
    throw new RangeError(`pixels: expected ${n * c * h * w} values for shape [${shape.join(', ')}], received ${pixels.length}`);
  const imageLength = c * h * w;
  return {
    ...header(n, c, h, w, options),
    async get(indices: ArrayLike<number>): Promise<Batch> {
      checkIndices(indices, n);
      const out = new Float32Array(indices.length * imageLength);
      for (let i = 0; i < indices.length; i++) {
        const from = indices[i]! * imageLength;
        for (let j = 0; j < imageLength; j++) out[i * imageLength + j] = pixels[from + j]! / 255;
      }
      const images = tensor(out, { shape: [indices.length, c, h, w] });
      const labels = pickLabels(options.labels, indices);
      return labels ? { images, labels } : { images };
    },
  };
}

/** A dataset over a float tensor of images [N, C, H, W] (values in [0, 1]); the tensor stays the caller's. */
export function tensorDataset(images: Tensor, options: InMemoryOptions = {}): Dataset {
  if (!(images instanceof Tensor)) throw new TypeError(`images: expected a Tensor, received ${describe(images)}`);
  if (images.shape.length !== 4) throw new RangeError(`images: expected a 4-d tensor [N, C, H, W], received shape [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  return {
    ...header(n, c, h, w, options),
    async get(indices: ArrayLike<number>): Promise<Batch> {
      checkIndices(indices, n);
      const index = tensor(BigInt64Array.from(indices as ArrayLike<number>, (v) => BigInt(v)));
      try {
        const batch = images.indexSelect(0, index);
        const labels = pickLabels(options.labels, indices);
        return labels ? { images: batch, labels } : { images: batch };
      } finally {
        index.dispose();
      }
    },
  };
}

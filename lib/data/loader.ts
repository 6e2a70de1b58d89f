// Batches of any Dataset for the trainer: seeded shuffles per epoch, optional sharding across data-parallel
// ranks, and prefetching so the next batches decode while the current training step runs.
import type { Tensor } from '../tensor.js';
import { describe } from '../tensor.js';
import type { BatchSource } from './batches.js';
import { identity, permutation } from './batches.js';
import type { Batch, Dataset } from './dataset.js';

export interface LoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** A new order every epoch, seeded: the same (seed, epoch) always gives the same order. Default true. */
  shuffle?: boolean;
  /** Seed of the shuffles (an integer). Default 0. */
  seed?: number;
  /** Drop the last incomplete batch (BatchNorm needs full batches). Default true. */
  dropLast?: boolean;
  /**
   * This process's share for data-parallel training: every rank shuffles the whole dataset the same way and
   * takes every worldSize-th image of the order, starting at rank. All ranks get the same number of images,
   * floor(size / worldSize); the few left over (different ones each epoch when shuffling) are unused.
   * Default { rank: 0, worldSize: 1 }.
   */
  shard?: { rank: number; worldSize: number };
  /**
   * Batches loaded ahead: asking for batch i starts loading i+1 .. i+prefetch (continuing into the next
   * epoch), one batch after another, so they decode while the training step runs. Prefetched batches that are
   * not asked for are disposed. 0 loads only what is asked for. Default 2.
   */
  prefetch?: number;
}

interface Pending {
  promise: Promise<Batch | undefined>;
  /** Set when the batch is no longer wanted: a load that has not started yet is skipped. */
  cancelled: boolean;
}

/**
 * Batches a Dataset. Implements the trainer's BatchSource (`batch(epoch, index)` → images); `labelled` and
 * `epoch()` also give the labels. Batch contents depend only on (seed, epoch, index, shard), so a resumed run
 * sees the same data.
 */
export class Loader implements BatchSource {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly rank: number;
  readonly worldSize: number;
  readonly prefetch: number;
  /** Images per epoch on this rank. */
  readonly imagesPerEpoch: number;
  readonly batchesPerEpoch: number;

  private readonly pending = new Map<string, Pending>();
  /** Loads run one after another, in the order they were asked for. */
  private queue: Promise<unknown> = Promise.resolve();
  private cachedOrder: { epoch: number; order: Int32Array } | undefined;
  private disposed = false;

  constructor(dataset: Dataset, options: LoaderOptions) {
    if (typeof dataset !== 'object' || dataset === null || typeof dataset.get !== 'function' || !Number.isInteger(dataset.size))
      throw new TypeError(`dataset: expected a Dataset (size and get(indices)), received ${describe(dataset)}`);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`options: expected an object with batchSize, received ${describe(options)}`);
    const { batchSize, shuffle = true, seed = 0, dropLast = true, shard = { rank: 0, worldSize: 1 }, prefetch = 2 } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`batchSize: expected a positive integer, received ${describe(batchSize)}`);
    if (typeof shuffle !== 'boolean') throw new TypeError(`shuffle: expected a boolean, received ${describe(shuffle)}`);
    if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, received ${describe(seed)}`);
    if (typeof dropLast !== 'boolean') throw new TypeError(`dropLast: expected a boolean, received ${describe(dropLast)}`);
    if (typeof shard !== 'object' || shard === null)
      throw new TypeError(`shard: expected { rank, worldSize }, received ${describe(shard)}`);
    if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1)
      throw new RangeError(`shard.worldSize: expected a positive integer, received ${describe(shard.worldSize)}`);
    if (!Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize)
      throw new RangeError(`shard.rank: expected an integer in [0, ${shard.worldSize - 1}], received ${describe(shard.rank)}`);
    if (!Number.isInteger(prefetch) || prefetch < 0)
      throw new RangeError(`prefetch: expected a non-negative integer, received ${describe(prefetch)}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
    this.rank = shard.rank;
    this.worldSize = shard.worldSize;
    this.prefetch = prefetch;
    this.imagesPerEpoch = Math.floor(dataset.size / shard.worldSize);
    this.batchesPerEpoch = dropLast ? Math.floor(this.imagesPerEpoch / batchSize) : Math.ceil(this.imagesPerEpoch / batchSize);
    if (this.batchesPerEpoch < 1)
      throw new RangeError(
        `batchSize: expected at most the ${this.imagesPerEpoch} images available` +
          (shard.worldSize > 1 ? ` to each of ${shard.worldSize} ranks` : '') +
          `, received ${batchSize}`,
      );
  }

  /** This rank's images of `epoch`, in order (dataset indices). */
  order(epoch: number): Int32Array {
    this.checkEpoch(epoch);
    if (this.cachedOrder?.epoch !== epoch) {
      const n = this.dataset.size;
      const all = this.shuffle ? permutation(n, this.seed, epoch) : identity(n);
      const mine = new Int32Array(this.imagesPerEpoch);
      for (let k = 0; k < mine.length; k++) mine[k] = all[this.rank + k * this.worldSize];
      this.cachedOrder = { epoch, order: mine };
    }
    return this.cachedOrder.order;
  }

  /** The dataset indices of batch `index` of `epoch`. */
  indices(epoch: number, index: number): Int32Array {
    this.checkIndex(index);
    return this.order(epoch).slice(index * this.batchSize, Math.min(this.imagesPerEpoch, (index + 1) * this.batchSize));
  }

  /** The images of batch `index` of `epoch`, float32 [n, C, H, W] (the caller disposes them). */
  async batch(epoch: number, index: number): Promise<Tensor> {
    return (await this.labelled(epoch, index)).images;
  }

  /** Batch `index` of `epoch` with its labels (where the dataset has them). */
  labelled(epoch: number, index: number): Promise<Batch> {
    try {
      if (this.disposed) throw new Error('Loader: used after dispose()');
      this.checkEpoch(epoch);
      this.checkIndex(index);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = keyOf(epoch, index);
    let entry = this.pending.get(key);
    this.pending.delete(key);
    entry ??= this.schedule(epoch, index);
    this.prefetchAfter(epoch, index);
    return entry.promise.then((batch) => {
      if (!batch) throw new Error('Loader: batch was cancelled'); // cannot happen: taken entries are never cancelled
      return batch;
    });
  }

  /** The batches of `epoch` in order, with labels. */
  async *epoch(epoch: number): AsyncGenerator<Batch, void, undefined> {
    this.checkEpoch(epoch);
    for (let i = 0; i < this.batchesPerEpoch; i++) yield await this.labelled(epoch, i);
  }

  /** Batches loaded ahead and not yet asked for. */
  get prefetched(): number {
    return this.pending.size;
  }

  /** Drops the prefetched batches (disposing their images); the loader cannot be used afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const entry of this.pending.values()) discard(entry);
    this.pending.clear();
  }

  // --- internals -------------------------------------------------------------------------------------------

  private schedule(epoch: number, index: number): Pending {
    const entry: Pending = { cancelled: false, promise: Promise.resolve(undefined) };
    const run = async (): Promise<Batch | undefined> => {
      if (entry.cancelled) return undefined;
      const indices = this.indices(epoch, index);
      const batch = await this.dataset.get(indices);
      if (entry.cancelled) {
        batch.images.dispose();
        return undefined;
      }
      return batch;
    };
    entry.promise = this.queue.then(run, run);
    // The next load waits for this one, whether it succeeds or fails; a failure reaches whoever asks for it.
    this.queue = entry.promise.catch(() => undefined);
    return entry;
  }

  /** Keeps exactly the next `prefetch` positions after (epoch, index) loading; drops other prefetches. */
  private prefetchAfter(epoch: number, index: number): void {
    const wanted = new Set<string>();
    let e = epoch;
    let i = index;
    for (let k = 0; k < this.prefetch; k++) {
      if (++i >= this.batchesPerEpoch) {
        i = 0;
        e++;
      }
      const key = keyOf(e, i);
      wanted.add(key);
      if (!this.pending.has(key)) this.pending.set(key, this.schedule(e, i));
    }
    for (const [key, entry] of this.pending) {
      if (!wanted.has(key)) {
        discard(entry);
        this.pending.delete(key);
      }
    }
  }

  private checkEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new RangeError(`epoch: expected a non-negative integer, received ${describe(epoch)}`);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.batchesPerEpoch)
      throw new RangeError(`index: expected an integer in [0, ${this.batchesPerEpoch - 1}], received ${describe(index)}`);
  }
}

const keyOf = (epoch: number, index: number): string => `${epoch}:${index}`;

/** A prefetch nobody will take: skip it if it has not started, else dispose its images when they arrive. */
function discard(entry: Pending): void {
  entry.cancelled = true;
  entry.promise.then(
    (batch) => batch?.images.dispose(),
    () => undefined,
  );
}

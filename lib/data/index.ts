// Datasets and batching. One file per reader; the loader works on any Dataset.
export type { Batch, Dataset } from './dataset.js';
export { tensorBatches, type BatchSource, type TensorBatchesOptions } from './batches.js';

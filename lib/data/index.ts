// Datasets and batching. One file per reader; the loader works on any Dataset.
export type { Batch, Dataset } from './dataset.js';
export { tensorBatches, type BatchSource, type TensorBatchesOptions } from './batches.js';
export { uint8Images, tensorDataset, type InMemoryOptions } from './tensors.js';
export {
  FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, IdxFormatError, fashionMnist, mnist, parseIdx, readIdx,
  type IdxArray, type IdxFile, type MnistOptions, type Split,
} from './idx.js';
export { imageFolder, IMAGE_EXTENSIONS, type ImageFolderOptions, type ImageFolderDataset } from './image-folder.js';
export { cifar10, cifar100, type CifarDataset, type CifarSplit, type Cifar10Options, type Cifar100Options } from './cifar.js';
export { Loader, type LoaderOptions } from './loader.js';

// `byol embed`: the representation of every image as a NumPy .npy matrix [N, D] (float32), rows in the order
// of the sorted file paths (image folders) or of the dataset; for image folders the paths go to OUT.paths.txt.
import { writeFileAtomic } from '../atomic.js';
import { extractFeatures } from '../evaluate.js';
import type { Device } from '../native.js';
import { writeNpy } from '../npy.js';
import type { ArchitectureName } from './architecture.js';
import { openDataset, selectionChannels, type DataSelection } from './datasets.js';
import { buildEncoder, resolveArchitecture, runImageSize } from './encoder.js';

export interface EmbedConfig extends Omit<DataSelection, 'imageSize'> {
  weights: string;
  out: string;
  arch?: ArchitectureName;
  imageSize?: number;
  split?: 'train' | 'test';
  batchSize?: number;
  /** Where the encoder runs: 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: Device;
}

export interface EmbedSummary {
  out: string;
  rows: number;
  dimensions: number;
  pathsFile?: string;
}

export async function runEmbed(config: EmbedConfig): Promise<EmbedSummary> {
  if (typeof config.out !== 'string' || !config.out.endsWith('.npy')) throw new RangeError(`out: expected a path ending in .npy, received ${String(config.out)}`);
  const architecture = await resolveArchitecture(config.weights, config.arch);
  const imageSize = config.imageSize ?? (await runImageSize(config.weights));
  if (imageSize === undefined) throw new RangeError(`image-size: expected --image-size N (no config.json beside ${config.weights} says it)`);
  const channels = config.dataset ? selectionChannels(config) : (config.channels ?? (architecture.inChannels as 1 | 3));
  if (channels !== architecture.inChannels)
    throw new Error(`weights: the encoder takes ${architecture.inChannels}-channel images, the data gives ${channels} (--channels)`);
  const dataset = await openDataset({ ...config, imageSize, channels }, config.split ?? 'train');
  const net = await buildEncoder(architecture, { weights: config.weights });
  if (config.device !== undefined && config.device !== 'cpu') net.to(config.device);
  const { features } = await extractFeatures(net, dataset, { imageSize, batchSize: config.batchSize ?? 256 });
  try {
    const [rows, dimensions] = features.shape as [number, number];
    await writeNpy(config.out, features);
    const paths = (dataset as { paths?: readonly string[] }).paths;
    let pathsFile: string | undefined;
    if (paths) {
      pathsFile = `${config.out.slice(0, -'.npy'.length)}.paths.txt`;
      await writeFileAtomic(pathsFile, `${paths.join('\n')}\n`, 'paths');
    }
    return { out: config.out, rows, dimensions, ...(pathsFile ? { pathsFile } : {}) };
  } finally {
    features.dispose();
  }
}

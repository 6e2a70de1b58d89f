// The datasets the command line can name: an image folder (--data DIR) or a built-in reader (--dataset NAME).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cifar10, cifar100 } from '../data/cifar.js';
import type { Dataset } from '../data/dataset.js';
import { fashionMnist, mnist, type Split } from '../data/idx.js';
import { imageFolder } from '../data/image-folder.js';

import { DATASETS, type DatasetName } from './choices.js';
export { DATASETS, type DatasetName } from './choices.js';

export interface DataSelection {
  /** An image folder (one subfolder per class, or images directly). */
  data?: string;
  /** A built-in dataset. */
  dataset?: DatasetName;
  /** Where a built-in dataset's files are (Fashion-MNIST defaults to Debian's package folder). */
  dataRoot?: string;
  /** Side image folders are decoded and resized to. */
  imageSize: number;
  /** Channels image folders are decoded to. Default 3. */
  channels?: 1 | 3;
  /** Fail on the first unreadable image instead of skipping it. */
  strict?: boolean;
}

/** Channels of the images a selection gives: the readers' own for built-in datasets. */
export function selectionChannels(selection: Pick<DataSelection, 'dataset' | 'channels'>): 1 | 3 {
  if (selection.dataset === 'fashion-mnist' || selection.dataset === 'mnist') return 1;
  if (selection.dataset) return 3;
  return selection.channels ?? 3;
}

/**
 * The one check of the --data/--dataset combination (exactly one of them; a known dataset name), made by
 * openDataset before it reads anything, for every command.
 */
function checkSelection(selection: DataSelection): void {
  if ((selection.data === undefined) === (selection.dataset === undefined))
    throw new RangeError('data: expected exactly one of --data DIR and --dataset NAME');
  if (selection.dataset !== undefined && !DATASETS.includes(selection.dataset))
    throw new RangeError(`dataset: expected one of ${DATASETS.join(', ')}, received ${JSON.stringify(selection.dataset)}`);
}

async function isFolder(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/**
 * One split of the selection. A built-in dataset has both; an image folder is the split itself, or, when it
 * holds train/ and test/ subfolders, those.
 */
export async function openDataset(selection: DataSelection, split: Split): Promise<Dataset> {
  checkSelection(selection);
  if (selection.data !== undefined) {
    const splitFolder = join(selection.data, split);
    const hasSplits = (await isFolder(join(selection.data, 'train'))) && (await isFolder(join(selection.data, 'test')));
    return imageFolder(hasSplits ? splitFolder : selection.data, {
      imageSize: selection.imageSize,
      channels: selection.channels ?? 3,
      strict: selection.strict ?? false,
    });
  }
  const root = selection.dataRoot;
  const needRoot = (name: string): string => {
    if (!root) throw new RangeError(`data-root: expected the folder holding ${name}'s files (--data-root DIR)`);
    return root;
  };
  switch (selection.dataset!) {
    case 'fashion-mnist':
      return fashionMnist({ split, ...(root ? { root } : {}) });
    case 'mnist':
      return mnist({ root: needRoot('MNIST'), split });
    case 'cifar10':
      return cifar10(needRoot('CIFAR-10'), { split });
    case 'cifar100':
      return cifar100(needRoot('CIFAR-100'), { split });
  }
}


// What the CUDA tests share: the public API from the compiled dist/ (these tests run with Node's own runner on the
// GPU machine, where there is no vitest: `node --test test/cuda/*.test.mjs`, see scripts/device/README.md), the
// reason to skip where there is no GPU, and where the Fashion-MNIST subset is.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as api from '../../dist/index.js';

export { api };
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The device under test: 'cuda'. BYOL_CUDA_TESTS_ON=cpu runs the same tests on the CPU instead, to check the tests'
 * own logic on a machine without a GPU (a developer's aid: some assertions, e.g. on precision, need the GPU build).
 */
export const device = process.env.BYOL_CUDA_TESTS_ON === 'cpu' ? 'cpu' : 'cuda';
/** What a tensor's `device` reads on it. */
export const onDevice = device === 'cpu' ? /^cpu$/ : /^cuda(:0)?$/;

function reasonToSkip() {
  if (device === 'cpu' || api.cuda.isAvailable()) return false;
  const info = api.libtorchInfo();
  const why = info.cudaBuilt ? 'was built with CUDA but sees no GPU' : 'is a CPU build';
  return `no CUDA device: the addon's LibTorch ${info.libtorch} ${why} (addon ${api.addonPath()}); these tests run on a GPU machine`;
}

/** false where a GPU is present, else the reason every test here gives for skipping. */
export const withoutCuda = reasonToSkip();

/** The Fashion-MNIST subset scripts/device/pack.sh carries (check.sh sets BYOL_DEVICE_DATA_ROOT to it). */
export const dataRoot = process.env.BYOL_DEVICE_DATA_ROOT ?? join(root, '.device', 'fashion-mnist');

/** Values of a tensor as numbers (int64 as exact strings would be needless here: test values stay below 2^53). */
export const values = (t) => Array.from(t.dataSync(), Number);

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`expected arrays of the same length, received ${a.length} and ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

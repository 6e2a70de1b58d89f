// Stage 'bundle': what was carried, and that this run uses it: the Node running the check is the one unpacked
// from .device/node.xz (check.sh puts it first on PATH), the Fashion-MNIST subset is complete, and the size
// measured when it was packed fits the device tool's limit with margin.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StageFailure } from '../run-stages.mjs';

const MiB = (bytes) => (bytes / 2 ** 20).toFixed(1);
const DATA_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];

export default {
  async run(ctx) {
    const manifestPath = join(ctx.root, '.device', 'manifest.json');
    if (!existsSync(manifestPath)) throw new StageFailure('expected .device/manifest.json (bash scripts/device/pack.sh writes it)');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const b = manifest.bundle;
    Object.assign(ctx.figures, {
      commit: `${manifest.commit.slice(0, 10)}${manifest.changedFiles ? ` + ${manifest.changedFiles} changed files` : ''}`,
      'packed at': manifest.packedAt,
      carried: `${MiB(b.totalBytes)} MiB (tree ${MiB(b.treeBytes)}, .device ${MiB(b.deviceBytes)})`,
      node: process.version,
      'unpack ms': process.env.BYOL_DEVICE_UNPACK_MS,
    });
    ctx.goal('carried size', `<= ${MiB(b.limitBytes - b.marginBytes)} MiB`, `${MiB(b.totalBytes)} MiB`, b.withinLimit, { needsGpu: false });
    // The dry run proves the bundle, so it must not fall back on this machine's own Node.
    const nodeDir = process.env.BYOL_DEVICE_NODE_DIR;
    if (!nodeDir || !process.execPath.startsWith(nodeDir)) {
      throw new StageFailure(`expected Node from .device/node.xz (unpacked by check.sh into BYOL_DEVICE_NODE_DIR), running ${process.execPath}`);
    }
    if (manifest.node !== process.version) throw new StageFailure(`expected Node ${manifest.node} (packed), running ${process.version}`);
    const dataRoot = process.env.BYOL_DEVICE_DATA_ROOT ?? join(ctx.root, '.device', 'fashion-mnist');
    const missing = DATA_FILES.filter((f) => !existsSync(join(dataRoot, f)));
    if (missing.length) throw new StageFailure(`expected the Fashion-MNIST subset in ${dataRoot}, missing ${missing.join(', ')}`);
    const subset = JSON.parse(readFileSync(join(dataRoot, 'subset.json'), 'utf8'));
    ctx.figures.data = `Fashion-MNIST ${subset.wanted.counts.train} train / ${subset.wanted.counts.t10k} test`;
    if (!b.withinLimit) throw new StageFailure(`the bundle (${MiB(b.totalBytes)} MiB) exceeds ${MiB(b.limitBytes - b.marginBytes)} MiB`);
  },
};

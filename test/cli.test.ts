// The `byol` command end to end on tiny runs of seconds: train, embed (read back by numpy), eval, and the
// bad inputs a user meets (missing/empty folders, corrupt images, another architecture's weights, a used run
// folder): a clear message, a non-zero exit code, no half-written output.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetrics } from '../lib/metrics.js';
import { readNpy } from '../lib/npy.js';
import { linear, resnet34, resnet50, sequential } from '../lib/nn.js';
import { weightsArchitecture } from '../lib/cli/architecture.js';
import { byol } from './fixtures/run-cli.js';
import { python as PYTHON } from './python.js';

const run = promisify(execFile);

let dir: string;
let images: string;
let runDir: string;

/** Two classes that differ visibly: dark squares vs bright discs, mixed sizes and formats. */
async function writeImages(root: string, perClass: number): Promise<void> {
  for (const [label, bright] of [['dark', false], ['light', true]] as const) {
    await mkdir(join(root, label), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const size = 20 + (i % 3) * 6;
      const value = bright ? 200 + (i % 5) * 10 : 30 + (i % 5) * 10;
      const raw = Buffer.alloc(size * size * 3, value);
      const image = sharp(raw, { raw: { width: size, height: size, channels: 3 } });
      const ext = ['png', 'jpg', 'webp'][i % 3]!;
      await image.toFormat(ext === 'jpg' ? 'jpeg' : (ext as 'png' | 'webp')).toFile(join(root, label, `img${String(i).padStart(2, '0')}.${ext}`));
    }
  }
}

const tinyTrain = ['--arch', 'resnet18', '--small-stem', '--image-size', '16', '--batch-size', '8', '--hidden-size', '32', '--projection-size', '16', '--progress', 'none', '--threads', '2'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-cli-'));
  images = join(dir, 'images');
  await writeImages(join(images, 'train'), 12);
  await writeImages(join(images, 'test'), 6);
  runDir = join(dir, 'run');
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('byol train', () => {
  it('writes config, metrics, checkpoints, the encoder and a loss plot', async () => {
    const r = await byol('train', '--data', join(images, 'train'), '--steps', '4', '--checkpoint-every', '2', '--out', runDir, ...tinyTrain);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('trained 4 steps');
    const files = await readdir(runDir);
    expect(files.sort()).toEqual(['checkpoints', 'config.json', 'encoder.safetensors', 'loss.png', 'metrics.jsonl']);
    const rows = await readMetrics(join(runDir, 'metrics.jsonl'));
    expect(rows.map((row) => row.step)).toEqual([1, 2, 3, 4]);
    for (const row of rows) {
      expect(Number.isFinite(row.loss)).toBe(true);
      expect(row.tau).toBeGreaterThan(0.9);
      expect(row.collapse).toBeGreaterThan(0);
      expect(row.imagesPerSecond).toBeGreaterThan(0);
    }
    const png = await readFile(join(runDir, 'loss.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const config = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ arch: 'resnet18', imageSize: 16, steps: 4 });
  }, 120_000);

  it('continues a run with --resume and refuses to overwrite one without it', async () => {
    const again = await byol('train', '--data', join(images, 'train'), '--steps', '4', '--out', runDir, ...tinyTrain);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`byol train: error: out: ${runDir} already holds files; pass --resume`);
    const resumed = await byol('train', '--out', runDir, '--resume', '--progress', 'none');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('trained 4 steps');
  }, 120_000);

  it('rejects bad arguments and bad data with a message naming them', async () => {
    const cases: [string[], string][] = [
      [['--data', join(dir, 'nowhere'), '--steps', '1', '--out', join(dir, 'r1')], join(dir, 'nowhere')],
      [['--dataset', 'imagenet', '--steps', '1', '--out', join(dir, 'r2')], "option '--dataset <name>' argument 'imagenet' is invalid"],
      [['--data', images, '--batch-size', 'x', '--steps', '1', '--out', join(dir, 'r3')], "option '--batch-size <n>' argument 'x' is invalid"],
      [['--data', join(images, 'train'), '--out', join(dir, 'r4')], 'epochs: expected exactly one of --epochs N and --steps N'],
      [['--data', join(images, 'train'), '--dataset', 'fashion-mnist', '--steps', '1', '--out', join(dir, 'r5')], 'data: expected exactly one of --data DIR and --dataset NAME'],
      [['--data', join(images, 'train'), '--steps', '3', '--warmup-steps', '3', '--out', join(dir, 'r8'), ...tinyTrain], "warmup-steps: expected fewer than the run's 3 steps, received 3"],
    ];
    for (const [args, message] of cases) {
      const r = await byol('train', ...args, '--progress', 'none');
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toContain(message);
    }
    const badIdx = join(dir, 'bad-idx');
    await mkdir(badIdx);
    await writeFile(join(badIdx, 'train-images-idx3-ubyte'), Buffer.from([8, 3, 0, 0, 1, 2, 3]));
    await writeFile(join(badIdx, 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 0]));
    const idx = await byol('train', '--dataset', 'fashion-mnist', '--data-root', badIdx, '--steps', '1', '--out', join(dir, 'r7'));
    expect(idx.code).not.toBe(0);
    expect(idx.stderr).toContain(`${join(badIdx, 'train-images-idx3-ubyte')}: not a valid IDX file: expected the magic number to start with 0x00 0x00, found 0x08 0x03`);
    await mkdir(join(dir, 'empty'));
    const empty = await byol('train', '--data', join(dir, 'empty'), '--steps', '1', '--out', join(dir, 'r6'));
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain(join(dir, 'empty'));
    for (const r of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']) expect(existsSync(join(dir, r)), r).toBe(false);
  }, 120_000);

  it('skips a corrupt image with a warning, and fails on it under --strict', async () => {
    const folder = join(dir, 'with-corrupt');
    await writeImages(folder, 8);
    await writeFile(join(folder, 'dark', 'broken.png'), Buffer.from('not a png at all'));
    const lenient = await byol('train', '--data', folder, '--steps', '1', '--out', join(dir, 'lenient'), ...tinyTrain);
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toContain('broken.png');
    const strict = await byol('train', '--data', folder, '--strict', '--steps', '1', '--out', join(dir, 'strict'), ...tinyTrain);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('broken.png');
    expect(existsSync(join(dir, 'strict', 'encoder.safetensors'))).toBe(false);
  }, 120_000);
});

describe('byol embed', () => {
  it('writes one row per image in sorted path order, readable by numpy', async () => {
    const out = join(dir, 'emb.npy');
    const r = await byol('embed', '--weights', join(runDir, 'encoder.safetensors'), '--data', join(images, 'test'), '--out', out);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const { shape } = await readNpy(out);
    expect(shape).toEqual([12, 512]);
    const paths = (await readFile(join(dir, 'emb.paths.txt'), 'utf8')).trim().split('\n');
    expect(paths).toEqual([...paths].sort());
    expect(paths[0]).toContain(join('dark', 'img00.'));
    const { stdout } = await run(PYTHON, ['-c', `import numpy; a = numpy.load(${JSON.stringify(out)}); print(a.shape, a.dtype, bool(numpy.isfinite(a).all()))`]);
    expect(stdout.trim()).toBe('(12, 512) float32 True');
  }, 120_000);

  it("names both architectures when the weights are another network's", async () => {
    const other = join(dir, 'resnet34.safetensors');
    await resnet34({ classifier: false }).save(other);
    const out = join(dir, 'never.npy');
    const r = await byol('embed', '--weights', other, '--arch', 'resnet18', '--image-size', '16', '--data', join(images, 'test'), '--out', out);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`weights: ${other} holds a resnet34 (3 input channels) encoder, but --arch asks for resnet18`);
    expect(existsSync(out)).toBe(false);
    const notWeights = join(dir, 'garbage.safetensors');
    await writeFile(notWeights, Buffer.from('garbage!garbage!'));
    const g = await byol('embed', '--weights', notWeights, '--data', join(images, 'test'), '--out', out);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toContain(`weights: ${notWeights} is not a safetensors file`);
  }, 120_000);
});

describe('weights architecture (read from the safetensors header)', () => {
  it('names the network, its channels, stem and classifier, or says why there is none', async () => {
    const gray = join(dir, 'gray50.safetensors');
    await resnet50({ inChannels: 1, smallStem: true, classifier: false }).save(gray, { dtype: 'float16' });
    expect(await weightsArchitecture(gray)).toEqual({ depth: 50, inChannels: 1, smallStem: true, classifier: false });
    const classifier = join(dir, 'classifier34.safetensors');
    await resnet34({ numClasses: 10 }).save(classifier);
    expect(await weightsArchitecture(classifier)).toEqual({ depth: 34, inChannels: 3, smallStem: false, classifier: true, numClasses: 10 });
    const notResNet = join(dir, 'linear.safetensors');
    await sequential(linear(4, 2)).save(notResNet);
    await expect(weightsArchitecture(notResNet)).rejects.toThrow(`weights: ${notResNet} holds no torchvision ResNet state dict`);
    const missing = join(dir, 'missing.safetensors');
    await expect(weightsArchitecture(missing)).rejects.toThrow(`weights: cannot open '${missing}': No such file or directory`);
    const cut = join(dir, 'cut.safetensors');
    await writeFile(cut, (await readFile(classifier)).subarray(0, 1000));
    await expect(weightsArchitecture(cut)).rejects.toThrow(`weights: ${cut} is not a safetensors file (header length`);
  }, 60_000);
});

describe('byol eval', () => {
  it('prints linear probe and kNN for the trained encoder and random init over two seeds', async () => {
    const json = join(dir, 'eval.json');
    const r = await byol('eval', '--weights', join(runDir, 'encoder.safetensors'), '--data', images, '--probe-epochs', '20', '--json', json);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| BYOL \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| 2 \|/);
    expect(r.stdout).toMatch(/\| random init \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| 2 \|/);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.trainImages).toBe(24);
    expect(report.testImages).toBe(12);
    // Dark vs bright images: any encoder separates them; a broken pipeline would not.
    for (const row of report.rows) expect(row.linear.mean).toBeGreaterThanOrEqual(0.9);
  }, 180_000);
});

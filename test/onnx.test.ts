// ONNX export (lib/onnx, `byol export`): ResNet-18 and ResNet-50 encoders, with random weights (and random
// BatchNorm statistics, so folding is really tested) and with the weights of short `byol train` runs, run in
// onnxruntime-node and give the vectors of the embedding path (`byol embed`, extractFeatures) to 1e-4; a
// --dynamic-batch model runs at two batch sizes; Debian's onnx 1.12 checker accepts every file; bad input gets
// an error naming it and leaves no file.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { augment } from '../lib/augment.js';
import { imageFolder, tensorDataset } from '../lib/data/index.js';
import { extractFeatures, preprocessOptions } from '../lib/evaluate.js';
import { mlp, resnet18, resnet50, type ResNet } from '../lib/nn.js';
import { readNpy } from '../lib/npy.js';
import { exportOnnx } from '../lib/onnx/export.js';
import { BATCH_NORM_EPS } from '../lib/onnx/resnet-graph.js';
import { foldBatchNorm } from '../lib/onnx/fold-batch-norm.js';
import { OnnxExportError, PROTOBUF_LIMIT_BYTES, checkProtobufSize } from '../lib/onnx/size-limit.js';
import { embeddingNormalization } from '../lib/onnx/normalization.js';
import { onnx } from '../lib/onnx/proto.js';
import { noGrad } from '../lib/runtime.js';
import { manualSeed, rand, randn, type Tensor } from '../lib/tensor.js';
import { byol, byolOk } from './fixtures/run-cli.js';

const SYSTEM_PYTHON = '/usr/bin/python3';
/** Why the onnx checker test cannot run here, or undefined when Debian's python3-onnx is importable. */
const noChecker = (() => {
  try {
    execFileSync(SYSTEM_PYTHON, ['-c', 'import onnx.checker'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return `${SYSTEM_PYTHON} cannot import onnx (apt-get install python3-onnx; scripts/setup.sh installs it)`;
  }
})();

const TOLERANCE = 1e-4;
const IMAGES = 6;

let dir: string;
let imagesDir: string;
/** Every model written, for the checker at the end. */
const exported: string[] = [];

/** The largest ||actual - expected|| / ||expected|| over the rows of two [N, width] matrices. */
function maxRowRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, width: number): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let start = 0; start < expected.length; start += width) {
    let diff = 0;
    let norm = 0;
    for (let i = start; i < start + width; i++) {
      diff += (actual[i] - expected[i]) ** 2;
      norm += expected[i] ** 2;
    }
    expect(norm).toBeGreaterThan(0);
    worst = Math.max(worst, Math.sqrt(diff / norm));
  }
  return worst;
}

async function runModel(session: ort.InferenceSession, values: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const { representation } = await session.run({ images: new ort.Tensor('float32', values, shape) });
  return { data: representation!.data as Float32Array, dims: representation!.dims };
}

async function tensorData(t: Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

function decodeModel(bytes: Uint8Array) {
  return onnx.ModelProto.decode(bytes);
}

/** Noise images of a few sizes (resized by the readers), deterministic. */
async function writeImages(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  let state = 12345;
  for (let i = 0; i < IMAGES; i++) {
    const size = 32 + (i % 3) * 8;
    const raw = Buffer.alloc(size * size * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = (state = (state * 1103515245 + 12345) % 2 ** 31) >> 23;
    await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(root, `img${i}.png`));
  }
}

const tinyHeads = ['--hidden-size', '32', '--projection-size', '16', '--batch-size', '6', '--steps', '2', '--progress', 'none', '--threads', '2'];
let run18: string;
let run50: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-onnx-'));
  imagesDir = join(dir, 'images');
  await writeImages(imagesDir);
  run18 = join(dir, 'run18');
  run50 = join(dir, 'run50');
  // ResNet-18 on 1-channel images with the small (CIFAR) stem at 16 px; ResNet-50 on RGB with the ImageNet stem.
  await byolOk('train', '--data', imagesDir, '--channels', '1', '--arch', 'resnet18', '--small-stem', '--image-size', '16', '--out', run18, ...tinyHeads);
  await byolOk('train', '--data', imagesDir, '--arch', 'resnet50', '--image-size', '32', '--out', run50, ...tinyHeads);
  await byolOk('embed', '--weights', join(run18, 'encoder.safetensors'), '--data', imagesDir, '--channels', '1', '--out', join(dir, 'embed18.npy'));
  await byolOk('embed', '--weights', join(run50, 'encoder.safetensors'), '--data', imagesDir, '--out', join(dir, 'embed50.npy'));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the input contract', () => {
  it("the normalisation in the model's metadata is the one the embedding path applies", async () => {
    for (const channels of [1, 3]) {
      manualSeed(channels);
      const pixels = rand([2, channels, 8, 8]);
      const normalised = await augment(pixels, preprocessOptions({ imageSize: 8 }), { seed: 0 });
      const { mean, std } = embeddingNormalization(channels);
      const x = await tensorData(pixels);
      const expected = x.map((v, i) => (v - mean[Math.floor(i / 64) % channels]) / std[Math.floor(i / 64) % channels]);
      expect(maxRowRelativeError(await tensorData(normalised), expected, 64 * channels)).toBeLessThan(1e-6);
      pixels.dispose();
      normalised.dispose();
    }
  });
});

describe('byol export of trained encoders', () => {
  it('ResNet-18 (1 channel, small stem) with the normalisation in the graph: [0, 1] pixels give byol embed\'s vectors', async () => {
    const out = join(dir, 'run18.onnx');
    const stdout = await byolOk('export', '--weights', join(run18, 'encoder.safetensors'), '--out', out, '--include-normalization');
    expect(stdout).toContain(`wrote resnet18 to ${out}`);
    expect(stdout).toContain('images [1, 1, 16, 16] -> representation [1, 512]');
    exported.push(out);
    const session = await ort.InferenceSession.create(out);
    const meta = session.inputMetadata[0]!;
    expect(meta.isTensor && meta.shape).toEqual([1, 1, 16, 16]);
    // The pixels byol embed decodes (imageFolder, 16 px, grayscale), one image per run: the batch is fixed at 1.
    const dataset = await imageFolder(imagesDir, { imageSize: 16, channels: 1 });
    const batch = await dataset.get(Array.from({ length: IMAGES }, (_, i) => i));
    const pixels = await tensorData(batch.images);
    batch.images.dispose();
    const rows: number[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const { data, dims } = await runModel(session, pixels.slice(i * 256, (i + 1) * 256), [1, 1, 16, 16]);
      expect(dims).toEqual([1, 512]);
      rows.push(...data);
    }
    const embedded = await readNpy(join(dir, 'embed18.npy'));
    expect(embedded.shape).toEqual([IMAGES, 512]);
    expect(maxRowRelativeError(rows, embedded.data, 512)).toBeLessThan(TOLERANCE);
    await session.release();
  }, 60_000);

  it('ResNet-50 with --dynamic-batch runs at batch 2 and 4 and gives byol embed\'s vectors from normalised images', async () => {
    const out = join(dir, 'run50-dynamic.onnx');
    await byolOk('export', '--weights', join(run50, 'encoder.safetensors'), '--out', out, '--dynamic-batch', '--arch', 'resnet50');
    exported.push(out);
    const session = await ort.InferenceSession.create(out);
    const meta = session.inputMetadata[0]!;
    expect(meta.isTensor && meta.shape).toEqual(['batch', 3, 32, 32]);
    // What extractFeatures feeds the encoder: the decoded pixels, resized and normalised by augment().
    const dataset = await imageFolder(imagesDir, { imageSize: 32 });
    const batch = await dataset.get(Array.from({ length: IMAGES }, (_, i) => i));
    const normalised = await augment(batch.images, preprocessOptions({ imageSize: 32 }), { seed: 0 });
    const input = await tensorData(normalised);
    batch.images.dispose();
    normalised.dispose();
    const perImage = 3 * 32 * 32;
    const first = await runModel(session, input.slice(0, 2 * perImage), [2, 3, 32, 32]);
    const rest = await runModel(session, input.slice(2 * perImage), [4, 3, 32, 32]);
    expect(first.dims).toEqual([2, 2048]);
    expect(rest.dims).toEqual([4, 2048]);
    const embedded = await readNpy(join(dir, 'embed50.npy'));
    expect(maxRowRelativeError([...first.data, ...rest.data], embedded.data, 2048)).toBeLessThan(TOLERANCE);

    // BatchNormalization nodes instead of folding: the same vectors, from a graph with the BN nodes in it.
    const nodesOut = join(dir, 'run50-bn-nodes.onnx');
    await byolOk('export', '--weights', join(run50, 'encoder.safetensors'), '--out', nodesOut, '--batch-size', '6', '--batch-norm', 'nodes');
    exported.push(nodesOut);
    const opTypes = (path: string) => readFile(path).then((b) => decodeModel(b).graph!.node!.map((n) => n.opType));
    const folded = await opTypes(out);
    const withNodes = await opTypes(nodesOut);
    expect(folded).not.toContain('BatchNormalization');
    expect(withNodes.filter((t) => t === 'BatchNormalization').length).toBe(withNodes.filter((t) => t === 'Conv').length);
    expect(withNodes.filter((t) => t === 'Conv').length).toBe(53); // ResNet-50: conv1, 16 blocks x 3, 4 downsamples
    const nodesSession = await ort.InferenceSession.create(nodesOut);
    const all = await runModel(nodesSession, input, [6, 3, 32, 32]);
    expect(maxRowRelativeError(all.data, embedded.data, 2048)).toBeLessThan(TOLERANCE);
    await session.release();
    await nodesSession.release();
  }, 60_000);
});

/** Random BatchNorm affine parameters and running statistics (in place), so a wrong fold shows. */
function randomiseBatchNorm(net: ResNet): void {
  noGrad(() => {
    for (const [name, t] of net.stateDict()) {
      const batchNorm = /(?:^|\.)(?:bn\d|downsample\.1)\.(weight|bias|running_mean|running_var)$/.exec(name);
      if (batchNorm) {
        const positive = batchNorm[1] === 'weight' || batchNorm[1] === 'running_var';
        const source = positive ? rand(t.shape).mul(1.5).add(0.25) : randn(t.shape).mul(0.2);
        t.copy_(source);
        source.dispose();
      }
      t.dispose();
    }
  });
}

describe('exportOnnx of random-weight encoders', () => {
  const cases = [
    { name: 'ResNet-18 (with classifier, left out)', make: () => resnet18({ classifier: true }), imageSize: 32, inGraph: false, opset: 13 },
    { name: 'ResNet-50 (small stem)', make: () => resnet50({ classifier: false, smallStem: true }), imageSize: 16, inGraph: true, opset: 17 },
  ];
  for (const c of cases) {
    it(`${c.name}: onnxruntime gives extractFeatures' vectors (normalisation ${c.inGraph ? 'in the graph' : 'by the caller'}, opset ${c.opset})`, async () => {
      manualSeed(7);
      const net = c.make();
      randomiseBatchNorm(net);
      const pixels = rand([3, 3, c.imageSize, c.imageSize]);
      const { features } = await extractFeatures(net, tensorDataset(pixels), { imageSize: c.imageSize });
      const expected = await tensorData(features);
      const out = join(dir, `random-${net.featureSize}.onnx`);
      const result = await exportOnnx(net, out, { imageSize: c.imageSize, dynamicBatch: true, includeNormalization: c.inGraph, opset: c.opset });
      exported.push(out);
      expect(result).toMatchObject({ opset: c.opset, irVersion: 8, input: { name: 'images' }, output: { name: 'representation', shape: ['batch', net.featureSize] } });
      const model = decodeModel(await readFile(out));
      expect(model.graph!.initializer!.some((t) => t.name!.startsWith('fc.'))).toBe(false);
      const input = c.inGraph ? pixels : await augment(pixels, preprocessOptions({ imageSize: c.imageSize }), { seed: 0 });
      const session = await ort.InferenceSession.create(out);
      const { data } = await runModel(session, await tensorData(input), [3, 3, c.imageSize, c.imageSize]);
      expect(maxRowRelativeError(data, expected, net.featureSize)).toBeLessThan(TOLERANCE);
      await session.release();
      for (const t of new Set([pixels, input, features])) t.dispose();
    }, 60_000);
  }
});

describe('onnx.checker', () => {
  it.skipIf(noChecker !== undefined)(`Debian's onnx 1.12 accepts every exported model with full_check${noChecker ? ` (skipped: ${noChecker})` : ''}`, () => {
    expect(exported.length).toBe(5);
    const script = [
      'import json, sys, onnx',
      'out = {}',
      'for path in sys.argv[1:]:',
      '    m = onnx.load(path)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    out[path] = {"ir": m.ir_version, "opset": [o.version for o in m.opset_import], "meta": {p.key: p.value for p in m.metadata_props}}',
      'print(json.dumps(out))',
    ].join('\n');
    const report = JSON.parse(execFileSync(SYSTEM_PYTHON, ['-c', script, ...exported], { encoding: 'utf8' })) as Record<
      string,
      { ir: number; opset: number[]; meta: Record<string, string> }
    >;
    expect(Object.keys(report).sort()).toEqual([...exported].sort());
    for (const model of Object.values(report)) expect(model.ir).toBe(8);
    const trained18 = report[join(dir, 'run18.onnx')]!;
    expect(trained18.opset).toEqual([17]);
    expect(trained18.meta).toMatchObject({
      architecture: 'resnet18',
      in_channels: '1',
      small_stem: 'true',
      image_size: '16',
      normalization: 'in_graph',
      normalization_mean: '[0.449]',
      normalization_std: '[0.226]',
      batch_norm: 'folded',
    });
    expect(report[join(dir, 'run50-bn-nodes.onnx')]!.meta).toMatchObject({ architecture: 'resnet50', normalization: 'by_caller', batch_norm: 'nodes' });
  });
});

describe('bad input', () => {
  it('gets an error naming the argument and leaves no file', async () => {
    const out = join(dir, 'bad');
    await mkdir(out);
    const weights18 = join(run18, 'encoder.safetensors');
    const notResNet = join(dir, 'mlp.safetensors');
    await mlp({ inFeatures: 4, hiddenSize: 8, projectionSize: 2 }).save(notResNet);
    const folderOut = join(dir, 'a-folder.onnx');
    await mkdir(folderOut);
    // Commander answers an invalid choice itself; every other error is the command's own, with its prefix.
    const ours = (message: string) => `byol export: error: ${message}`;
    const cases: [string[], string][] = [
      [['--weights', weights18, '--arch', 'resnet19', '--out', join(out, 'a.onnx')], "error: option '--arch <name>' argument 'resnet19' is invalid. Allowed choices are resnet18, resnet34, resnet50, resnet101, resnet152."],
      [['--weights', weights18, '--arch', 'resnet50', '--out', join(out, 'b.onnx')], ours(`weights: ${weights18} holds a resnet18 (1 input channel, small stem) encoder, but --arch asks for resnet50`)],
      [['--weights', notResNet, '--out', join(out, 'c.onnx'), '--image-size', '32'], ours(`weights: ${notResNet} holds no torchvision ResNet state dict`)],
      [['--weights', weights18, '--out', join(out, 'missing', 'd.onnx')], ours(`out: cannot write '${join(out, 'missing', 'd.onnx')}': the folder ${join(out, 'missing')} does not exist`)],
      [['--weights', weights18, '--out', folderOut], ours(`out: cannot write '${folderOut}': it is a folder`)],
      [['--weights', weights18, '--out', join(out, 'e.npy')], ours('out: expected a path ending in .onnx')],
      [['--weights', weights18, '--out', join(out, 'f.onnx'), '--opset', '18'], ours('opset: expected an integer from 13 to 17 (ONNX IR version 8), received 18')],
      [['--weights', weights18, '--out', join(out, 'g.onnx'), '--opset', '12'], ours('opset: expected an integer from 13 to 17 (ONNX IR version 8), received 12')],
      [['--weights', join(dir, 'nowhere.safetensors'), '--out', join(out, 'h.onnx')], ours(`weights: cannot open '${join(dir, 'nowhere.safetensors')}'`)],
    ];
    for (const [args, message] of cases) {
      const r = await byol('export', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
      expect(await readdir(out)).toEqual([]);
    }
    expect(await readdir(folderOut)).toEqual([]);
  }, 60_000);

  it('exportOnnx refuses what it cannot export before writing, and a failed write leaves no file', async () => {
    const net = resnet18({ classifier: false });
    const out = join(dir, 'api');
    await mkdir(out);
    const path = join(out, 'x.onnx');
    await expect(exportOnnx(mlp() as unknown as ResNet, path, { imageSize: 32 })).rejects.toThrow(/^module: expected a ResNet/);
    await expect(exportOnnx(net, path, { imageSize: 16 })).rejects.toThrow("imageSize: expected at least 32 for this ResNet's stem, received 16");
    await expect(exportOnnx(net, path, { imageSize: 32, opset: 11 })).rejects.toThrow('opset: expected an integer from 13 to 17');
    await expect(exportOnnx(net, path, { imageSize: 32, mean: [0.5, 0.5] })).rejects.toThrow('mean: expected one finite number or 3 of them');
    await expect(exportOnnx(net, path, { imageSize: 32, std: 0 })).rejects.toThrow('std: expected one finite number > 0');
    net.hiddenLayer = 'layer4';
    await expect(exportOnnx(net, path, { imageSize: 32 })).rejects.toThrow("module: expected hiddenLayer 'avgpool'");
    net.hiddenLayer = 'avgpool';
    // The rename onto a folder fails after the bytes were written: the temporary file is removed too.
    await mkdir(path);
    await expect(exportOnnx(net, path, { imageSize: 32 })).rejects.toThrow(`path: cannot write '${path}'`);
    expect(await readdir(out)).toEqual(['x.onnx']);
    expect(await readdir(path)).toEqual([]);
  }, 60_000);

  it("a model over protobuf's 2 GiB limit is refused: external data is out of scope", () => {
    expect(() => checkProtobufSize(2.5 * 2 ** 30)).toThrow(OnnxExportError);
    expect(() => checkProtobufSize(2.5 * 2 ** 30)).toThrow(/2\.50 GiB, over protobuf's 2 GiB limit .*external data files are out of scope/);
    expect(() => checkProtobufSize(PROTOBUF_LIMIT_BYTES)).not.toThrow();
    expect(() => checkProtobufSize(PROTOBUF_LIMIT_BYTES + 1)).toThrow(OnnxExportError);
  });
});

describe('foldBatchNorm', () => {
  it('a 1x1 convolution with BatchNorm folded in equals conv then BatchNorm, computed in float64', () => {
    let seed = 3;
    const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const [outC, inC] = [5, 4];
    const weight = Float32Array.from({ length: outC * inC }, next);
    const bn = {
      weight: Float32Array.from({ length: outC }, () => 1 + next()),
      bias: Float32Array.from({ length: outC }, next),
      runningMean: Float32Array.from({ length: outC }, next),
      runningVar: Float32Array.from({ length: outC }, () => 0.1 + Math.abs(next())),
      eps: BATCH_NORM_EPS,
    };
    const folded = foldBatchNorm(weight, bn);
    for (let trial = 0; trial < 20; trial++) {
      const x = Array.from({ length: inC }, next);
      for (let o = 0; o < outC; o++) {
        let conv = 0;
        let foldedConv = folded.bias[o];
        for (let i = 0; i < inC; i++) {
          conv += weight[o * inC + i] * x[i];
          foldedConv += folded.weight[o * inC + i] * x[i];
        }
        const reference = ((conv - bn.runningMean[o]) / Math.sqrt(bn.runningVar[o] + bn.eps)) * bn.weight[o] + bn.bias[o];
        expect(Math.abs(foldedConv - reference)).toBeLessThan(1e-5 * (1 + Math.abs(reference)));
      }
    }
    expect(() => foldBatchNorm(weight, { ...bn, runningVar: new Float32Array(3) })).toThrow('batch norm runningVar: expected 5 values (one per channel), received 3');
  });
});

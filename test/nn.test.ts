import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { python } from './python.js';
import {
  adaptiveAvgPool2d,
  batchNorm1d,
  batchNorm2d,
  cat,
  conv2d,
  flatten,
  linear,
  manualSeed,
  maxPool2d,
  memory,
  mlp,
  noGrad,
  randn,
  relu,
  resnet,
  resnet18,
  resnet50,
  sequential,
  tensor,
  Module,
  ResNet,
  Tensor,
  type ResNetDepth,
} from '../lib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'byol-nn-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = (t: Tensor) => Float64Array.from(t.dataSync(), Number);
function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = values(a), y = values(b);
  expect(x.length).toBe(y.length);
  let diff = 0, scale = 1e-30;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

/** Every parameter and buffer gets values a fresh model would not have (fresh BN statistics are 0 and 1). */
function randomise(model: Module): void {
  for (const [name, t] of model.stateDict()) {
    const shape = t.shape;
    if (name.endsWith('num_batches_tracked')) t.fill_(1 + Math.floor(Math.random() * 9999));
    else if (name.endsWith('running_var')) t.copy_(randn(shape).abs().add(0.5));
    else if (name.endsWith('running_mean')) t.copy_(randn(shape).mul(0.1));
    else if (shape.length === 4) t.copy_(randn(shape).mul(Math.sqrt(2 / (shape[0]! * shape[2]! * shape[3]!))));
    else if (name.startsWith('fc.')) t.copy_(randn(shape).mul(0.02));
    else if (name.endsWith('weight')) t.copy_(randn(shape).abs().mul(0.3).add(0.5));
    else t.copy_(randn(shape).mul(0.1));
  }
}

describe('ResNets', () => {
  it('have torchvision parameter and state-dict key counts', () => {
    const expected: [ResNetDepth, number, number][] = [
      [18, 11_689_512, 122],
      [34, 21_797_672, 218],
      [50, 25_557_032, 320],
      [101, 44_549_160, 626],
      [152, 60_192_808, 932],
    ];
    for (const [depth, params, keys] of expected) {
      const net = resnet(depth);
      expect(net.numParameters()).toBe(params);
      expect(net.stateDict().length).toBe(keys);
    }
  });

  it('use torchvision key names and shapes', () => {
    const net = resnet50();
    const sd = new Map(net.stateDict().map(([k, t]) => [k, t.shape]));
    expect(sd.get('conv1.weight')).toEqual([64, 3, 7, 7]);
    expect(sd.get('layer1.0.bn1.running_mean')).toEqual([64]);
    expect(sd.get('layer1.0.downsample.0.weight')).toEqual([256, 64, 1, 1]);
    expect(sd.get('layer4.2.bn3.num_batches_tracked')).toEqual([]);
    expect(sd.get('fc.weight')).toEqual([1000, 2048]);
    expect(net.namedParameters().length).toBe(161);
    expect(net.namedBuffers().length).toBe(159);
    expect(net.buffers().find((b) => b.dtype === 'int64')?.shape).toEqual([]);
  });

  it('return the representation at hiddenLayer', async () => {
    const net = resnet18().eval();
    expect(net.hiddenLayer).toBe('avgpool');
    expect(net.featureSize).toBe(512);
    expect((await net.forward(randn([2, 3, 32, 32]))).shape).toEqual([2, 512]);
    net.hiddenLayer = 'layer3';
    expect((await net.forward(randn([2, 3, 64, 64]))).shape).toEqual([2, 256, 4, 4]);
    const gray = resnet18({ inChannels: 1, smallStem: true, classifier: false, hiddenLayer: 'layer4' }).eval();
    expect(gray.layerNames).toEqual(['conv1', 'bn1', 'relu', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool']);
    expect((await gray.forward(randn([3, 1, 28, 28]))).shape).toEqual([3, 512, 4, 4]);
    expect(gray.numParameters()).toBe(11_689_512 - 513_000 - 64 * 3 * 49 + 64 * 9);
  });

  it('reject bad input with clear errors and stay usable', async () => {
    const net = resnet18();
    await expect(net.forward(randn([3, 32, 32]))).rejects.toThrow(
      'resnet: input: expected a 4-d tensor [N, C, H, W], received shape [3, 32, 32]',
    );
    await expect(net.forward(randn([2, 1, 32, 32]))).rejects.toThrow('resnet: input: expected 3 channels (dim 1)');
    await expect(net.forward(randn([2, 3, 16, 16]))).rejects.toThrow(
      'expected images of at least 32x32 pixels for this stem (smallStem: true accepts 8 px and up)',
    );
    await expect(net.forward(randn([3, 3, 32, 32]), { groups: 2 })).rejects.toThrow(
      'forward: input: expected a batch of 2 equal groups',
    );
    expect(() => resnet18({ hiddenLayer: 'layer9' as never })).toThrow(
      "resnet: hiddenLayer: expected one of 'conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', " +
        "'layer4', 'avgpool', 'fc', received 'layer9'",
    );
    expect(() => {
      net.hiddenLayer = 'nope' as never;
    }).toThrow(RangeError);
    expect(() => resnet(20 as ResNetDepth)).toThrow('resnet: depth: expected 18, 34, 50, 101 or 152, received 20');
    expect(() => resnet18({ inChannels: 0 })).toThrow('inChannels: expected an integer in [1, 64]');
    expect(() => resnet18({ smallStem: 'yes' as never })).toThrow('smallStem: expected a boolean');
    await expect(net.forward('x' as never)).rejects.toThrow('input: expected a Tensor');
    expect((await net.forward(randn([2, 3, 32, 32]))).shape).toEqual([2, 512]);
  });

  it('normalise concatenated views per view with groups, as separate passes', async () => {
    manualSeed(3);
    const grouped = resnet18({ smallStem: true, classifier: false });
    const separate = grouped.clone();
    const v1 = randn([3, 3, 16, 16]);
    const v2 = randn([3, 3, 16, 16]).mul(2).add(0.5);
    const both = await grouped.forward(cat([v1, v2]), { groups: 2 });
    const ref = cat([await separate.forward(v1), await separate.forward(v2)]);
    expect(maxRelDiff(both, ref)).toBeLessThan(1e-5);
    const a = grouped.namedBuffers(), b = separate.namedBuffers();
    for (let i = 0; i < a.length; i++) {
      expect(a[i]![0]).toBe(b[i]![0]);
      if (a[i]![0].endsWith('num_batches_tracked')) expect(a[i]![1].item()).toBe(2);
      else expect(maxRelDiff(a[i]![1], b[i]![1])).toBeLessThan(1e-5);
    }
    // Whole-batch statistics would differ: the comparison above can fail.
    const whole = await separate.clone().forward(cat([v1, v2]));
    expect(maxRelDiff(whole, ref)).toBeGreaterThan(1e-3);
  });

  it('clone deep-copies, freeze stops gradients, train/eval switch BatchNorm', async () => {
    const net = resnet18({ smallStem: true });
    const target = net.clone();
    expect(target).toBeInstanceOf(ResNet);
    const p = net.parameters()[0]!, q = target.parameters()[0]!;
    expect(maxRelDiff(p, q)).toBe(0);
    q.fill_(1);  // in place on the clone's parameter, through a handle sharing its memory
    expect(values(target.parameters()[0]!).every((v) => v === 1)).toBe(true);
    expect(values(net.parameters()[0]!).some((v) => v === 1)).toBe(false);
    target.freeze();
    expect(target.numParameters(true)).toBe(0);
    expect(net.numParameters(true)).toBe(net.numParameters());
    target.freeze(false);
    expect(target.numParameters(true)).toBe(net.numParameters());
    expect(net.training).toBe(true);
    net.eval();
    expect(net.training).toBe(false);
    const x = randn([2, 3, 32, 32]);
    const y1 = await net.forward(x), y2 = await net.forward(x);
    expect(maxRelDiff(y1, y2)).toBe(0);
  });

  it('queue forward passes without blocking the JS thread, in order', async () => {
    const net = resnet18().eval();
    const x = randn([2, 3, 64, 64]);
    const first = net.forward(x);
    const second = net.forward(x);  // submitted while the first still runs: no waiting for it
    expect(memory().pendingJobs).toBeGreaterThanOrEqual(2);
    const [a, b] = await Promise.all([first, second]);
    expect(maxRelDiff(a, b)).toBe(0);
  });

  it('train: gradients reach the parameters through forward', async () => {
    const net = resnet18({ smallStem: true, classifier: false });
    const out = await net.forward(randn([4, 3, 16, 16]), { groups: 2 });
    await out.pow(2).mean().backward();
    const grad = net.parameters()[0]!.grad;
    expect(grad).not.toBeNull();
    expect(values(grad!).some((v) => v !== 0)).toBe(true);
  });

  it('channelsLast gives the same outputs', async () => {
    const net = resnet50().eval();
    const x = randn([2, 3, 32, 32]);
    const ref = await net.forward(x);
    net.channelsLast();
    expect(net.parameters()[0]!.isChannelsLast()).toBe(true);
    expect(net.describe().channelsLast).toBe(true);
    expect(maxRelDiff(await net.forward(x), ref)).toBeLessThan(1e-4);
    expect(net.clone().parameters()[0]!.isChannelsLast()).toBe(true);
    net.to('cpu');
  });
});

describe('MLP head and basic layers', () => {
  it('mlp is Linear → BatchNorm1d → ReLU → Linear with byol-pytorch keys', async () => {
    const head = mlp({ inFeatures: 512, hiddenSize: 1024, projectionSize: 128 });
    expect(head.stateDict().map(([k]) => k)).toEqual([
      'net.0.weight', 'net.0.bias', 'net.1.weight', 'net.1.bias', 'net.1.running_mean', 'net.1.running_var',
      'net.1.num_batches_tracked', 'net.3.weight', 'net.3.bias',
    ]);
    expect(head.numParameters()).toBe(512 * 1024 + 1024 + 2 * 1024 + 1024 * 128 + 128);
    expect((await head.forward(randn([6, 512]), { groups: 2 })).shape).toEqual([6, 128]);
    expect(mlp().numParameters()).toBe(2048 * 4096 + 4096 + 2 * 4096 + 4096 * 256 + 256);
    await expect(head.forward(randn([6, 100]))).rejects.toThrow('mlp: input: expected a tensor [N, 512], received shape [6, 100]');
  });

  it('builds a small encoder of one\'s own', async () => {
    const encoder = sequential(
      conv2d({ inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1 }),
      batchNorm2d(8),
      relu(),
      maxPool2d(2),
      conv2d({ inChannels: 8, outChannels: 16, stride: 2, bias: false }),
      adaptiveAvgPool2d(1),
      flatten(),
      linear(16, 10),
      batchNorm1d(10),
    );
    const y = await encoder.forward(randn([4, 1, 16, 16]), { groups: 2 });
    expect(y.shape).toEqual([4, 10]);
    expect(encoder.stateDict().map(([k]) => k)[0]).toBe('0.weight');
    expect(encoder.stateDict().length).toBe(2 + 5 + 1 + 2 + 5);
    const copy = encoder.clone();
    copy.parameters()[0]!.fill_(0);
    expect(values(encoder.parameters()[0]!).some((v) => v !== 0)).toBe(true);
    expect(() => conv2d({ inChannels: 0, outChannels: 3 })).toThrow('conv2d: inChannels: expected a positive integer, received 0');
    expect(() => sequential(3 as never)).toThrow('sequential: layers[0]: expected a Module');
    await expect(batchNorm2d(8).forward(randn([4, 8]))).rejects.toThrow('batchNorm2d: input: expected a 4-d tensor');
  });
});

describe('safetensors', () => {
  it('save and load round-trip in float32, float16 and bfloat16, atomically', async () => {
    const make = () => sequential(conv2d({ inChannels: 3, outChannels: 16 }), batchNorm2d(16), relu(),
      flatten(), mlp({ inFeatures: 64, hiddenSize: 128, projectionSize: 32 }));
    const a = make();
    randomise(a);
    const sub = mkdtempSync(join(dir, 'rt-'));
    for (const [dtype, tol] of [['float32', 0], ['float16', 1e-3], ['bfloat16', 8e-3]] as const) {
      const path = join(sub, 'w.safetensors');
      await a.save(path, { dtype });
      const b = make();
      expect(await b.load(path)).toEqual({ missing: [], unexpected: [] });
      const x = a.stateDict(), y = b.stateDict();
      for (let i = 0; i < x.length; i++) expect(maxRelDiff(y[i]![1], x[i]![1])).toBeLessThanOrEqual(tol);
    }
    expect(readdirSync(sub)).toEqual(['w.safetensors']);
    await resnet18().save(join(sub, 'w.safetensors'), { dtype: 'bfloat16' });
    expect(readdirSync(sub)).toEqual(['w.safetensors']);
    const header = readFileSync(join(sub, 'w.safetensors'));
    const n = Number(header.readBigUInt64LE(0));
    const json = JSON.parse(header.subarray(8, 8 + n).toString('utf8'));
    expect(json['layer1.0.bn1.running_mean'].dtype).toBe('BF16');
    expect(json['bn1.num_batches_tracked']).toMatchObject({ dtype: 'I64', shape: [] });
  });

  it('reports every mismatch, leaves the model unchanged, or returns keys with strict: false', async () => {
    const path = join(dir, 'r18.safetensors');
    const a = resnet18();
    randomise(a);
    await a.save(path);
    const gray = resnet18({ inChannels: 1, classifier: false });
    const before = values(gray.parameters()[1]!);
    await expect(gray.load(path)).rejects.toThrow(
      /does not match the model \(3 problems; the model was left unchanged; pass strict: false.*\n  'conv1.weight': shape \[64, 3, 7, 7\], the model has \[64, 1, 7, 7\]\n  unexpected key 'fc.weight'\n  unexpected key 'fc.bias'/s,
    );
    expect(values(gray.parameters()[1]!)).toEqual(before);
    const noFc = resnet18({ classifier: false });
    expect(await noFc.load(path, { strict: false })).toEqual({ missing: [], unexpected: ['fc.weight', 'fc.bias'] });
    expect(maxRelDiff(noFc.buffers()[0]!, a.buffers()[0]!)).toBe(0);
    await expect(noFc.load(join(dir, 'missing.safetensors'))).rejects.toThrow('safetensors: cannot open');
  });

  it('rejects corrupt, truncated and oversized-header files without crashing or half-loading', async () => {
    const path = join(dir, 'small.safetensors');
    const model = sequential(conv2d({ inChannels: 3, outChannels: 4 }), batchNorm2d(4));
    randomise(model);
    await model.save(path);
    const good = readFileSync(path);
    const snapshot = () => model.stateDict().map(([, t]) => values(t));
    const before = snapshot();
    const bad = join(dir, 'bad.safetensors');
    const cases: [Buffer, string | RegExp][] = [
      [good.subarray(0, good.length - 10), 'truncated file?'],
      [good.subarray(0, 5), 'too short for the 8-byte header length'],
      [Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x10]), good.subarray(8)]), 'exceeds the 100000000-byte limit'],
      [Buffer.concat([good.subarray(0, 8), Buffer.from('{"x":'), good.subarray(13)]), 'malformed header JSON'],
    ];
    for (const [bytes, message] of cases) {
      writeFileSync(bad, bytes);
      await expect(model.load(bad)).rejects.toThrow(message);
    }
    // A few hundred random corruptions: each load either succeeds or throws an Error; never a crash.
    let rejected = 0;
    for (let trial = 0; trial < 300; trial++) {
      const bytes = Buffer.from(good);
      const n = Number(bytes.readBigUInt64LE(0));
      if (trial % 3 === 0) bytes[8 + Math.floor(Math.random() * n)] ^= 1 + Math.floor(Math.random() * 255);
      else if (trial % 3 === 1) bytes.writeBigUInt64LE(BigInt(Math.floor(Math.random() * 2 ** 40)), 0);
      writeFileSync(bad, trial % 3 === 2 ? bytes.subarray(0, Math.floor(Math.random() * bytes.length)) : bytes);
      try {
        await model.load(bad);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(200);
    // Whatever loaded was the same values (flips in the header that still parse to the same tensors) or refused.
    expect(snapshot().length).toBe(before.length);
  });
});

describe('interoperability with torchvision (Python)', () => {
  const script = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'scripts', 'python', 'safetensors_interop.py');
  const probe = spawnSync(python, [script, 'probe'], { encoding: 'utf8' });
  const available = probe.status === 0;
  if (!available) {
    console.warn(`skipping torchvision interop: ${python} cannot import torch/torchvision (set BYOL_PYTHON): ${probe.stderr}`);
  }

  it.skipIf(!available)('a ResNet-50 saved here loads into torchvision.models.resnet50() strictly and matches', async () => {
    manualSeed(21);
    const net = resnet50({ hiddenLayer: 'fc' });
    randomise(net);
    net.eval();
    const x = randn([2, 3, 64, 64]);
    const y = await noGrad(() => net.forward(x));
    const weights = join(dir, 'ours.safetensors');
    await net.save(weights);
    const io = join(dir, 'ours-io.json');
    writeFileSync(io, JSON.stringify({
      input: { shape: x.shape, data: Array.from(values(x)) },
      output: { shape: y.shape, data: Array.from(values(y)) },
    }));
    const run = spawnSync(python, [script, 'check', weights, io], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ ok: true, keys: 320 });
    expect(result.relDiff).toBeLessThan(1e-4);
  });

  it.skipIf(!available)('a ResNet-50 written by Python loads here and matches', async () => {
    const weights = join(dir, 'theirs.safetensors');
    const io = join(dir, 'theirs-io.json');
    const run = spawnSync(python, [script, 'write', weights, io, '--size', '64', '--batch', '2'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const net = resnet50({ hiddenLayer: 'fc' });
    expect(await net.load(weights)).toEqual({ missing: [], unexpected: [] });
    const bn1 = new Map(net.namedBuffers());
    expect(bn1.get('bn1.num_batches_tracked')!.item()).toBeGreaterThan(0);
    expect(Math.max(...values(bn1.get('bn1.running_mean')!).map(Math.abs))).toBeGreaterThan(0.01);
    const data = JSON.parse(readFileSync(io, 'utf8'));
    const x = tensor(Float32Array.from(data.input.data), { shape: data.input.shape });
    const expected = tensor(Float32Array.from(data.output.data), { shape: data.output.shape });
    net.eval();
    const y = await noGrad(() => net.forward(x));
    expect(maxRelDiff(y, expected)).toBeLessThan(1e-4);
    expect(statSync(weights).size).toBeGreaterThan(100_000_000);
  });
});

// `byol train`'s learning rate and weight decay are what its help says: --lr is the peak of the schedule (the
// rate at the end of the warm-up, not scaled by the batch size), recorded as such in config.json and metrics.jsonl;
// --weight-decay leaves biases and BatchNorm parameters alone for every optimizer the command builds.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../lib/cli/main.js';
import { OPTIMIZERS } from '../lib/cli/choices.js';
import { learningRateSchedule, makeOptimizer } from '../lib/cli/train-run.js';
import { readMetrics } from '../lib/metrics.js';
import { full, tensor, type Tensor } from '../lib/tensor.js';
import { byol } from './fixtures/run-cli.js';

describe('learningRateSchedule', () => {
  it('rises linearly from 0 to --lr at the end of the warm-up, then decays along a cosine to 0', () => {
    const { schedule, peakLr, warmupSteps } = learningRateSchedule({ lr: 0.3, warmupSteps: 10 }, 110);
    expect(peakLr).toBe(0.3);
    expect(warmupSteps).toBe(10);
    expect(schedule(0)).toBe(0);
    expect(schedule(5)).toBeCloseTo(0.15, 12);
    expect(schedule(10)).toBeCloseTo(0.3, 12);
    expect(schedule(60)).toBeCloseTo(0.15, 12); // half-way through the decay
    expect(schedule(110)).toBeCloseTo(0, 12);
    expect(Math.max(...Array.from({ length: 111 }, (_, s) => schedule(s)))).toBeCloseTo(0.3, 12);
  });

  it('warms up over 5% of the run by default and refuses a warm-up as long as the run', () => {
    const r = learningRateSchedule({ lr: 1e-3 }, 200);
    expect(r.warmupSteps).toBe(10);
    expect(r.schedule(10)).toBeCloseTo(1e-3, 15);
    expect(learningRateSchedule({ lr: 0.2 }, 1).schedule(0)).toBe(0.2); // a one-step run has no warm-up
    expect(() => learningRateSchedule({ lr: 0.2, warmupSteps: 5 }, 5)).toThrow("warmup-steps: expected fewer than the run's 5 steps, received 5");
  });

  it("is what `byol train --help` says of --lr and --weight-decay", () => {
    const train = buildProgram().commands.find((c) => c.name() === 'train')!;
    const help = (flag: string) => train.options.find((o) => o.long === flag)!.description;
    expect(help('--lr')).toContain('peak learning rate, reached at the end of the warm-up');
    expect(help('--lr')).toContain('not scaled by the batch size');
    expect(help('--weight-decay')).toContain('every optimizer');
    expect(help('--weight-decay')).toContain('not on biases and BatchNorm');
  });
});

describe('makeOptimizer', () => {
  // A conv layer and a BatchNorm layer's parameters, with a zero gradient: only weight decay can move them.
  async function zeroGradStep(optimizer: (typeof OPTIMIZERS)[number]): Promise<Record<string, number[]>> {
    const params: [string, Tensor][] = [
      ['conv.weight', full([2, 1, 3, 3], 2).requiresGrad_()],
      ['conv.bias', full([2], 2).requiresGrad_()],
      ['bn.weight', full([2], 1).requiresGrad_()],
      ['bn.bias', tensor([0.5, -0.5]).requiresGrad_()],
    ];
    const opt = makeOptimizer({ optimizer, lr: 0.01, weightDecay: 0.1 }, params);
    expect([...(opt as unknown as { excluded: boolean[] }).excluded]).toEqual([false, true, true, true]);
    let loss = params[0]![1].mul(0).sum();
    for (const [, p] of params.slice(1)) loss = loss.add(p.mul(0).sum());
    await loss.backward();
    await opt.step();
    return Object.fromEntries(params.map(([name, p]) => [name, Array.from(p.dataSync() as Float32Array)]));
  }

  // One step from w = 2 with g = wd * w = 0.2: SGD 2 - lr * 0.2; Adam 2 - lr (its first step is lr * sign);
  // LARS 2 - lr * eta * |w| / |wd * w| * 0.2 = 2 - lr * 2e-3.
  const shrunk = { sgd: 2 - 0.01 * 0.2, adam: 2 - 0.01, lars: 2 - 0.01 * 2e-3 };
  for (const optimizer of OPTIMIZERS) {
    it(`${optimizer}: decays a conv weight, leaves the conv bias and BatchNorm weight and bias untouched`, async () => {
      const after = await zeroGradStep(optimizer);
      for (const v of after['conv.weight']!) expect(v).toBeCloseTo(shrunk[optimizer], 6);
      expect(after['conv.weight']![0]).toBeLessThan(2);
      expect(after['conv.bias']).toEqual([2, 2]);
      expect(after['bn.weight']).toEqual([1, 1]);
      expect(after['bn.bias']).toEqual([0.5, -0.5]);
    });
  }
});

describe('byol train --lr', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'byol-train-lr-'));
    await mkdir(join(dir, 'images'), { recursive: true });
    for (let i = 0; i < 16; i++) {
      const raw = Buffer.alloc(20 * 20 * 3, 20 + 14 * i);
      await sharp(raw, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(dir, 'images', `img${i}.png`));
    }
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the peak of the schedule at any batch size: the header, config.json and metrics.jsonl agree', async () => {
    const out = join(dir, 'run');
    const r = await byol(
      'train', '--data', join(dir, 'images'), '--out', out, '--steps', '4', '--warmup-steps', '2', '--optimizer', 'sgd', '--lr', '0.05',
      '--weight-decay', '0.001', '--batch-size', '8', '--arch', 'resnet18', '--small-stem', '--image-size', '16', '--hidden-size', '32',
      '--projection-size', '16', '--progress', 'none', '--threads', '2',
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('sgd peak lr 0.05 (warm-up 2 steps, cosine to 0)');
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ lr: 0.05, batchSize: 8, warmupSteps: 2, optimizer: 'sgd' });
    // Row k is step k's rate: 0 at step 0, --lr at the warm-up's end, half of it half-way down the cosine. A
    // batch-scaled rate would peak at 0.05 * 8 / 256.
    const rows = await readMetrics(join(out, 'metrics.jsonl'));
    const lrs = rows.map((row) => row.lr);
    expect(lrs).toHaveLength(4);
    [0, 0.025, 0.05, 0.025].forEach((expected, i) => expect(lrs[i]).toBeCloseTo(expected, 12));
  }, 120_000);
});

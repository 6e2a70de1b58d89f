// The learner's one-job step through the public API: one job and no executor drain per step, gradient
// accumulation, clipping against torch's clip_grad_norm_, the buffer copy, lazy loss reads and the NaN guard.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BYOL, BYOLError } from '../lib/byol.js';
import { executorStats } from '../lib/runtime.js';
import { SGD } from '../lib/optim.js';
import { manualSeed, rand, Tensor } from '../lib/tensor.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';
import { python } from './python.js';

const plainViews = { crop: false, flipProb: 0, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0 };
const values = (t: Tensor) => Array.from(t.dataSync(), Number);

/** A learner whose weights depend on `seed` only, with deterministic (plain) views. */
function makeLearner(seed: number, extra: { copyBuffers?: boolean } = {}): BYOL {
  manualSeed(seed);
  return new BYOL(tinyEncoder(), {
    imageSize: 16,
    projectionHiddenSize: 32,
    projectionSize: 16,
    decaySchedule: 'constant',
    movingAverageDecay: 0.9,
    augment1: plainViews,
    augment2: plainViews,
    seed: 1,
    ...extra,
  });
}

const onlineValues = (learner: BYOL) => learner.parameters().map(values);
/** Per parameter, after - before. */
const deltas = (after: number[][], before: number[][]) => after.map((p, i) => p.map((x, j) => x - before[i]![j]!));
const worstGap = (a: number[][], b: number[][]) =>
  Math.max(...a.map((p, i) => Math.max(...p.map((x, j) => Math.abs(x - b[i]![j]!)))));

describe('BYOL.step: one native job', () => {
  it('runs one job per optimizer step and never drains the executor', async () => {
    const learner = makeLearner(1);
    const opt = new SGD(learner.parameters(), { lr: 0.01 });
    const batch = rand([4, 3, 16, 16]);
    await learner.step(batch, opt); // warm-up
    const before = executorStats();
    const result = await learner.step(batch, opt);
    const after = executorStats();
    expect(after.jobs - before.jobs).toBe(1);
    expect(after.drains - before.drains).toBe(0);
    // Reading the loss is the caller's choice, later; it costs no job.
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(result.optimizerStepped).toBe(true);
    expect(executorStats().jobs).toBe(after.jobs);
  });

  it('updateMovingAverage is one job too', async () => {
    const learner = makeLearner(1);
    const before = executorStats();
    await learner.updateMovingAverage();
    expect(executorStats().jobs - before.jobs).toBe(1);
    expect(learner.state.step).toBe(1);
  });

  it('accumulating k = 2 micro-batches steps once, on the mean of their gradients', async () => {
    const x = rand([4, 3, 16, 16]);
    const y = rand([4, 3, 16, 16]);
    // SGD without momentum: the update is -lr * gradient, so updates add up like gradients.
    const accumulating = makeLearner(3);
    const start = onlineValues(accumulating);
    const opt = new SGD(accumulating.parameters(), { lr: 1 });
    const first = await accumulating.step(x, opt, { accumulate: 2 });
    expect(first.optimizerStepped).toBe(false);
    expect(onlineValues(accumulating)).toEqual(start); // nothing moves before the k-th micro-batch
    expect(accumulating.state.step).toBe(0);
    const second = await accumulating.step(y, opt, { accumulate: 2 });
    expect(second.optimizerStepped).toBe(true);
    expect(accumulating.state.step).toBe(1);
    const accumulated = deltas(onlineValues(accumulating), start);

    // Each micro-batch alone (same weights, same views), at half the learning rate.
    const alone = [];
    for (const batch of [x, y]) {
      const learner = makeLearner(3);
      await learner.step(batch, new SGD(learner.parameters(), { lr: 0.5 }));
      alone.push(deltas(onlineValues(learner), start));
    }
    const sum = alone[0]!.map((p, i) => p.map((v, j) => v + alone[1]![i]![j]!));
    expect(worstGap(accumulated, sum)).toBeLessThan(1e-5);
  });

  it('maxGradNorm clips as torch.nn.utils.clip_grad_norm_ does', async () => {
    const batch = rand([4, 3, 16, 16]);
    // The raw gradients: one plain step at lr 1 moves every parameter by -g.
    const raw = makeLearner(4);
    const start = onlineValues(raw);
    await raw.step(batch, new SGD(raw.parameters(), { lr: 1 }));
    const grads = deltas(onlineValues(raw), start).map((p) => p.map((v) => -v));
    const maxNorm = 0.05;
    const clipped = makeLearner(4);
    await clipped.step(batch, new SGD(clipped.parameters(), { lr: 1 }), { maxGradNorm: maxNorm });
    const ours = deltas(onlineValues(clipped), start).map((p) => p.map((v) => -v));

    const script = [
      'import json, sys, torch',
      'data = json.load(sys.stdin)',
      'ps = [torch.zeros(len(g), dtype=torch.float64, requires_grad=True) for g in data["grads"]]',
      'for p, g in zip(ps, data["grads"]): p.grad = torch.tensor(g, dtype=torch.float64)',
      'norm = torch.nn.utils.clip_grad_norm_(ps, data["maxNorm"])',
      'print(json.dumps({"norm": float(norm), "grads": [p.grad.tolist() for p in ps]}))',
    ].join('\n');
    const run = spawnSync(python, ['-c', script], { input: JSON.stringify({ grads, maxNorm }), encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const torchResult = JSON.parse(run.stdout) as { norm: number; grads: number[][] };
    expect(torchResult.norm).toBeGreaterThan(maxNorm); // the case actually clips
    expect(worstGap(ours, torchResult.grads)).toBeLessThan(1e-6);
  });

  it('copyBuffers copies the BatchNorm running statistics into the target at every update', async () => {
    const runningMeans = async (copyBuffers: boolean) => {
      const learner = makeLearner(5, { copyBuffers });
      const opt = new SGD(learner.parameters(), { lr: 0.5 });
      for (let s = 0; s < 2; s++) await learner.step(rand([4, 3, 16, 16]), opt);
      const { projector, targetProjector } = learner.modules();
      const mean = (m: typeof projector) => values(m.namedBuffers().find(([n]) => n === 'net.1.running_mean')![1]);
      return [mean(projector), mean(targetProjector!)] as const;
    };
    const [online, target] = await runningMeans(true);
    expect(target).toEqual(online);
    const [online2, target2] = await runningMeans(false);
    expect(worstGap([online2], [target2])).toBeGreaterThan(1e-6);
  });

  it('a non-finite loss is caught before the update (CPU) and the learner stays usable', async () => {
    const learner = makeLearner(6);
    const opt = new SGD(learner.parameters(), { lr: 0.5 });
    const start = onlineValues(learner);
    const bad = rand([4, 3, 16, 16]).mul(Number.NaN);
    await expect(learner.step(bad, opt)).rejects.toThrow(BYOLError);
    await expect(learner.step(bad, opt)).rejects.toThrow(/the loss became NaN at step 0; lower the learning rate/);
    expect(onlineValues(learner)).toEqual(start);
    expect(opt.steps).toBe(0);
    const ok = await learner.step(rand([4, 3, 16, 16]), opt);
    expect(Number.isFinite(ok.loss)).toBe(true);
    expect(opt.steps).toBe(1);
  });

  it('views from functions go through the same one-job step', async () => {
    manualSeed(7);
    const identity = async (images: Tensor) => images.mul(1);
    const learner = new BYOL(tinyEncoder(), {
      imageSize: 16,
      projectionHiddenSize: 32,
      decaySchedule: 'constant',
      augment1: identity,
      augment2: identity,
    });
    const result = await learner.step(rand([4, 3, 16, 16]), new SGD(learner.parameters(), { lr: 0.01 }));
    expect(result.optimizerStepped).toBe(true);
    expect(result.loss).toBeGreaterThanOrEqual(0);
    expect(result.timings.augment).toBeGreaterThanOrEqual(0);
  });
});
